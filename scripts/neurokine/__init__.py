"""neurokine: donor-level cytokine-signalling analysis of single-cell RNA-seq data.

The package is the library behind the Snakemake workflow: pure, typed functions with no
Snakemake import, so every stage can be unit-tested and reused from a notebook.
"""

__version__ = "0.1.0"

#: Canonical obs columns every harmonized AnnData carries (CELLxGENE names where they exist).
OBS_COLUMNS: tuple[str, ...] = (
    "donor_id",
    "sample_id",
    "disease",
    "tissue",
    "cell_type",
    "dataset_id",
)

#: Label shown wherever the simulated demo cohort appears, so nobody mistakes it for patients.
SYNTHETIC_LABEL = "SYNTHETIC DEMO DATA: simulated cells, not real patients"
