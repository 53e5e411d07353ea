"""Support for the Snakemake workflow: config validation, settings, output paths (no Snakemake import)."""
