"""Check a harmonized AnnData, run QC with thresholds from config, and normalize."""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine import OBS_COLUMNS
from neurokine.errors import InputError
from neurokine.registry import RESERVED_CELL_TYPES

#: Cell filters in the order they are applied: (step name, obs metric, comparison, config key).
CELL_FILTERS: tuple[tuple[str, str, str, str], ...] = (
    ("min_counts", "total_counts", ">=", "min_counts"),
    ("max_counts", "total_counts", "<=", "max_counts"),
    ("min_genes", "n_genes", ">=", "min_genes"),
    ("max_genes", "n_genes", "<=", "max_genes"),
    ("max_pct_mito", "pct_mito", "<=", "max_pct_mito"),
)


def check_counts_matrix(matrix: sp.spmatrix | np.ndarray, source: str) -> None:
    """Require finite, non-negative, integer-valued counts, naming the file otherwise."""
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix).ravel()
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise InputError(source, "X", "contains NaN or infinite values",
                         "provide raw UMI counts; remove or re-create the corrupted matrix")
    if values.min() < 0:
        raise InputError(source, "X", "contains negative values, so it is not a count matrix",
                         "provide raw UMI counts (e.g. adata.raw.X or a 'counts' layer)")
    if not np.all(np.equal(np.mod(values, 1), 0)):
        raise InputError(source, "X", "holds non-integer values (normalized or log data?)",
                         "provide raw integer UMI counts; neurokine normalizes them itself")


def check_harmonized(adata: ad.AnnData, source: str) -> None:
    """Validate the harmonized AnnData contract: obs columns, labels, unique genes, counts."""
    for column in OBS_COLUMNS:
        if column not in adata.obs.columns:
            raise InputError(source, f"obs.{column}", "required column is missing",
                             f"map a column of the deposit onto '{column}' in the registry")
        labels = adata.obs[column].astype("string")
        if labels.isna().any() or (labels.str.strip() == "").any():
            n_bad = int((labels.isna() | (labels.str.strip() == "")).sum())
            raise InputError(source, f"obs.{column}", f"{n_bad} cells have an empty label",
                             "label every cell, or drop unlabelled cells before loading")
    duplicated = adata.var_names[adata.var_names.duplicated()].unique().tolist()
    if duplicated:
        raise InputError(source, "var_names", f"duplicated gene names: {duplicated[:5]}",
                         "make gene symbols unique (sum or suffix duplicated symbols)")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(source, "X", f"is empty ({adata.n_obs} cells x {adata.n_vars} genes)",
                         "check the loader's filters and the input file")
    check_counts_matrix(adata.X, source)


def qc_metrics(adata: ad.AnnData) -> pd.DataFrame:
    """Per-cell total counts, detected genes and percent mitochondrial counts."""
    counts = sp.csr_matrix(adata.X)
    total = np.asarray(counts.sum(axis=1)).ravel()
    detected = np.diff(counts.indptr)
    mito_mask = adata.var_names.str.upper().str.startswith("MT-")
    mito = np.asarray(counts[:, np.flatnonzero(mito_mask)].sum(axis=1)).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(total > 0, 100.0 * mito / total, 0.0)
    return pd.DataFrame({"total_counts": total, "n_genes": detected, "pct_mito": pct},
                        index=adata.obs_names)


def apply_qc(adata: ad.AnnData, thresholds: Mapping[str, float]) -> tuple[ad.AnnData, pd.DataFrame]:
    """Filter cells step by step, then genes; return the filtered data and a cells-kept table."""
    metrics = qc_metrics(adata)
    keep = np.ones(adata.n_obs, dtype=bool)
    samples = adata.obs["sample_id"].astype(str).to_numpy()
    rows = []

    def record(order: int, step: str, threshold: float | None) -> None:
        kept = pd.Series(samples[keep]).value_counts()
        for sample in sorted(set(samples)):
            rows.append({"dataset_id": str(adata.obs["dataset_id"].iloc[0]), "sample_id": sample,
                         "order": order, "step": step, "threshold": threshold,
                         "cells_kept": int(kept.get(sample, 0))})

    record(0, "input", None)
    # Doublets, unmapped and unassigned cells are counted here, then leave the analysis: only
    # vocabulary cell types are scored and compared.
    keep &= ~adata.obs["cell_type"].astype(str).isin(RESERVED_CELL_TYPES).to_numpy()
    record(1, "vocabulary_cell_type", None)
    for order, (step, metric, op, key) in enumerate(CELL_FILTERS, start=2):
        threshold = thresholds[key]
        values = metrics[metric].to_numpy()
        keep &= values >= threshold if op == ">=" else values <= threshold
        record(order, step, threshold)
    filtered = adata[keep].copy()
    filtered.obs = filtered.obs.join(metrics.loc[filtered.obs_names])
    cells_per_gene = np.asarray((sp.csr_matrix(filtered.X) > 0).sum(axis=0)).ravel()
    filtered = filtered[:, cells_per_gene >= thresholds["min_cells_per_gene"]].copy()
    if filtered.n_obs == 0:
        raise InputError("config", "qc", "no cell passed the QC thresholds",
                         "relax qc thresholds (see results/prepared/<dataset>/qc_steps.tsv)")
    table = pd.DataFrame(rows)
    table["genes_kept"] = filtered.n_vars
    return filtered, table


def normalize(adata: ad.AnnData, target_sum: float) -> ad.AnnData:
    """Keep raw counts in layers['counts']; set X to log1p of counts scaled to target_sum."""
    counts = sp.csr_matrix(adata.X, dtype=np.float32)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    normalized = sp.diags(scale.astype(np.float32)) @ counts
    normalized.data = np.log1p(normalized.data)
    adata.layers["counts"] = sp.csr_matrix(adata.X, dtype=np.int32)
    adata.X = sp.csr_matrix(normalized, dtype=np.float32)
    return adata
