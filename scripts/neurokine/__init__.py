"""neurokine: donor-level cytokine-signalling analysis of single-cell RNA-seq data.

The library behind the Snakemake workflow, in layers: `io` (registry, downloads, loaders,
harmonization, QC), `scoring` (per-cell scores and aggregation), `stats` (donor-level tests),
`plot` (figures and report), `curated` (axes, cell types, references), `validation` (simulator
and evaluation) and `workflow` (config and paths for the rules). The public API is below; it is
loaded lazily, so `import neurokine` stays cheap (the Snakefile imports parts at parse time).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

#: The public API: score cells, aggregate to donors, compare arms, load the curated resources.
__all__ = ["aggregate", "compare", "lineage_of", "load_axes", "load_cell_types", "score"]

if TYPE_CHECKING:
    from neurokine.api import aggregate, compare, lineage_of, load_axes, load_cell_types, score


def __getattr__(name: str) -> Any:
    """Load the public API on first use (PEP 562)."""
    if name in __all__:
        return getattr(import_module("neurokine.api"), name)
    raise AttributeError(f"module 'neurokine' has no attribute {name!r}")
