"""Collapse cells to one row per sample x cell type: mean scores, counts, detection, pseudobulk.

A sample is one donor in one tissue, so paired CSF and blood from the same donor stay apart
here and are linked by `donor_id` in the compare stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

#: Per-cell obs columns carried to the sample level when a dataset has them.
SAMPLE_COLUMNS = ("dataset_id", "sample_id", "donor_id", "tissue", "disease")
COVARIATE_COLUMNS = ("sex", "age", "batch")


def group_index(obs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the sorted sample x cell-type groups and each cell's group number."""
    keys = obs[["sample_id", "cell_type"]].astype(str)
    groups = keys.drop_duplicates().sort_values(["sample_id", "cell_type"]).reset_index(drop=True)
    lookup = {tuple(row): i for i, row in enumerate(groups.itertuples(index=False))}
    codes = np.fromiter((lookup[tuple(r)] for r in keys.itertuples(index=False)),
                        dtype=np.int64, count=len(keys))
    return groups, codes


def indicator(codes: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """Sparse groups x cells membership matrix, so group sums are one product."""
    n_cells = len(codes)
    return sp.csr_matrix((np.ones(n_cells), (codes, np.arange(n_cells))), shape=(n_groups, n_cells))


def sample_table(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per sample with its donor, tissue, disease and any donor covariates."""
    columns = [c for c in (*SAMPLE_COLUMNS, *COVARIATE_COLUMNS) if c in obs.columns]
    table = obs[columns].astype({c: str for c in columns if c != "age"}).drop_duplicates()
    duplicated = table["sample_id"].duplicated()
    if duplicated.any():
        bad = table.loc[duplicated, "sample_id"].iloc[0]
        raise ValueError(f"sample {bad!r} has more than one donor/tissue/disease/covariate value")
    return table.sort_values("sample_id").reset_index(drop=True)


def mean_scores(obs: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Long table of the mean per-cell score per sample x cell type x signature."""
    groups, codes = group_index(obs)
    member = indicator(codes, len(groups))
    n_cells = np.asarray(member.sum(axis=1)).ravel()
    means = (member @ scores.to_numpy(dtype=np.float64)) / n_cells[:, None]
    wide = pd.DataFrame(means, columns=scores.columns)
    wide[["sample_id", "cell_type"]] = groups
    wide["n_cells"] = n_cells.astype(np.int64)
    long = wide.melt(id_vars=["sample_id", "cell_type", "n_cells"], var_name="signature",
                     value_name="mean_score")
    long[["axis", "module"]] = long["signature"].str.rsplit(".", n=1, expand=True)
    return long.merge(sample_table(obs), on="sample_id", how="left")


def cell_counts(obs: pd.DataFrame, cell_types: Sequence[str] | None = None) -> pd.DataFrame:
    """Cells per sample x cell type, including zeros, with each sample's total (for composition)."""
    types = sorted(set(obs["cell_type"].astype(str)) | set(cell_types or []))
    counts = pd.crosstab(obs["sample_id"].astype(str), obs["cell_type"].astype(str))
    counts = counts.reindex(columns=types, fill_value=0)
    long = counts.stack().rename("n_cells").reset_index()
    long.columns = ["sample_id", "cell_type", "n_cells"]
    long["n_cells_sample"] = long.groupby("sample_id")["n_cells"].transform("sum")
    return long.merge(sample_table(obs), on="sample_id", how="left")


def gene_detection(adata: ad.AnnData, genes: Sequence[str]) -> pd.DataFrame:
    """Mean log-normalized expression and fraction of cells with counts > 0, per group x gene."""
    present = [g for g in dict.fromkeys(genes) if g in adata.var_names]
    groups, codes = group_index(adata.obs)
    member = indicator(codes, len(groups))
    n_cells = np.asarray(member.sum(axis=1)).ravel()[:, None]
    columns = adata.var_names.get_indexer(present)
    expression = sp.csr_matrix(adata.X)[:, columns]
    counts = sp.csr_matrix(adata.layers["counts"])[:, columns]
    mean = np.asarray((member @ expression).todense()) / n_cells
    fraction = np.asarray((member @ (counts > 0).astype(np.float64)).todense()) / n_cells
    frame = pd.concat(
        [groups.assign(gene=g, mean_expression=mean[:, j], fraction_expressing=fraction[:, j])
         for j, g in enumerate(present)], ignore_index=True)
    return frame


def pseudobulk(adata: ad.AnnData) -> ad.AnnData:
    """Summed raw counts per sample x cell type, with group metadata in obs."""
    groups, codes = group_index(adata.obs)
    member = indicator(codes, len(groups))
    summed = sp.csr_matrix(member @ sp.csr_matrix(adata.layers["counts"], dtype=np.float64))
    obs = groups.copy()
    obs["n_cells"] = np.asarray(member.sum(axis=1)).ravel().astype(np.int64)
    obs = obs.merge(sample_table(adata.obs), on="sample_id", how="left")
    obs.index = (obs["sample_id"] + "|" + obs["cell_type"]).to_numpy()
    return ad.AnnData(X=summed.astype(np.int64), obs=obs, var=pd.DataFrame(index=adata.var_names.copy()))
