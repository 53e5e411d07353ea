"""Donor-level statistics: comparisons, composition, enrichment, meta-analysis, networks."""
