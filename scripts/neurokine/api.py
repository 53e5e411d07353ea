"""The library's small public API, scanpy style: score cells, aggregate to donors, compare arms.

    import scanpy as sc, neurokine
    adata = sc.datasets.pbmc68k_reduced()          # log-normalized X
    neurokine.score(adata)                         # adata.obsm["neurokine_scores"]
    donors = neurokine.aggregate(adata, sample_key="donor", condition_key="disease")
    results = neurokine.compare(donors, [("MS", "control")])

Defaults equal the workflow's (config schema); tests/unit/test_settings.py checks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import anndata as ad
import pandas as pd

from neurokine.curated.axes import Axis, gene_sets
from neurokine.curated.axes import load_axes as _load_axes
from neurokine.curated.cell_types import CellType, lineage_of
from neurokine.curated.cell_types import load_cell_types as _load_cell_types
from neurokine.errors import InputError
from neurokine.scoring.aggregate import mean_scores
from neurokine.scoring.engine import score_cells
from neurokine.settings import Contrast
from neurokine.stats.compare import compare_groups

#: Where `score` puts its results: per-cell scores in obsm, gene coverage in uns.
SCORES_KEY = "neurokine_scores"


def load_axes(directory: str | Path | None = None) -> list[Axis]:
    """The curated cytokine axes shipped with neurokine (or those in `directory`), validated."""
    return _load_axes(directory, cell_types=load_cell_types())


def load_cell_types(path: str | Path | None = None) -> dict[str, CellType]:
    """The cell-type vocabulary shipped with neurokine (or the one at `path`), validated."""
    return _load_cell_types(path)


__all__ = ["aggregate", "compare", "lineage_of", "load_axes", "load_cell_types", "score"]


def score(adata: ad.AnnData, axes: Sequence[Axis] | None = None, *, method: str = "mean",
          layer: str | None = None, ctrl_size: int = 50, n_bins: int = 25,
          control_pool: str = "background", min_gene_coverage: float = 0.5,
          ucell_max_rank: int = 1500, random_state: int = 0,
          key_added: str = SCORES_KEY, copy: bool = False) -> ad.AnnData | None:
    """Score every ligand, receptor and response module of every axis per cell.

    Reads log-normalized expression from `layer` (default X, as scanpy's `score_genes`), writes a
    cells x signatures DataFrame to ``obsm[key_added]`` and the gene coverage of each signature
    (skipped ones with the reason) to ``uns[key_added]["coverage"]``. Returns the AnnData when
    `copy`, else None.
    """
    adata = adata.copy() if copy else adata
    matrix = adata.layers[layer] if layer is not None else adata.X
    scores, coverage = score_cells(
        matrix, adata.var_names, gene_sets(axes if axes is not None else load_axes()),
        method=method, ctrl_size=ctrl_size, n_bins=n_bins, control_pool=control_pool,
        random_state=random_state, min_coverage=min_gene_coverage, max_rank=ucell_max_rank)
    adata.obsm[key_added] = scores.set_axis(adata.obs_names, axis=0)
    adata.uns[key_added] = {"coverage": coverage, "method": method}
    return adata if copy else None


def _obs_column(adata: ad.AnnData, key: str | None, name: str, fallback: str) -> pd.Series:
    """One obs column under its neurokine name, or a constant when the data has none."""
    if key is None:
        return pd.Series(fallback, index=adata.obs_names)
    if key not in adata.obs.columns:
        raise InputError("AnnData", f"obs.{key}", f"column for {name} is missing",
                         f"pass {name.replace(' ', '_')}_key= naming an obs column")
    return adata.obs[key].astype(str)


def aggregate(adata: ad.AnnData, *, sample_key: str = "sample_id", cell_type_key: str = "cell_type",
              donor_key: str | None = None, condition_key: str = "disease",
              tissue_key: str | None = None, key: str = SCORES_KEY) -> pd.DataFrame:
    """Mean per-cell score per sample x cell type x signature: the donor-level table `compare`
    tests (a sample is one donor in one tissue; `donor_key` defaults to the sample)."""
    if key not in adata.obsm:
        raise InputError("AnnData", f"obsm.{key}", "no scores", "run neurokine.score(adata) first")
    samples = _obs_column(adata, sample_key, "sample", "")
    obs = pd.DataFrame({
        "sample_id": samples, "cell_type": _obs_column(adata, cell_type_key, "cell type", ""),
        "donor_id": _obs_column(adata, donor_key, "donor", "") if donor_key else samples,
        "disease": _obs_column(adata, condition_key, "condition", ""),
        "tissue": _obs_column(adata, tissue_key, "tissue", "unknown"),
        "dataset_id": "adata"}, index=adata.obs_names)
    return mean_scores(obs, adata.obsm[key])


def compare(donor_table: pd.DataFrame, contrasts: Iterable[tuple[str, str] | Contrast], *,
            coverage: pd.DataFrame | None = None, covariates: Sequence[str] = (),
            min_cells_per_donor: int = 10, min_donors_per_arm: int = 3, n_bootstrap: int = 1000,
            permutation_max_arm: int = 8, max_permutations: int = 20000,
            seed: int = 0) -> pd.DataFrame:
    """Each (case, reference) contrast on donor-level values: moderated linear model, exact
    permutation p-values for small arms, bootstrap-t interval, Hedges' g and BH-FDR, with every
    stratum that cannot be tested kept as a row saying why."""
    contrasts = [c if isinstance(c, Contrast) else Contrast(*c) for c in contrasts]
    if coverage is None:
        coverage = pd.DataFrame({"signature": sorted(donor_table["signature"].unique()),
                                 "status": "scored", "reason": "", "coverage": float("nan")})
    return compare_groups(donor_table, coverage, contrasts, covariates=list(covariates),
                          min_cells=min_cells_per_donor, min_donors=min_donors_per_arm,
                          n_boot=n_bootstrap, seed=seed, max_permutations=max_permutations,
                          permutation_max_arm=permutation_max_arm)
