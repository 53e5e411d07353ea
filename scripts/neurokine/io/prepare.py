"""Check a harmonized AnnData, run QC with thresholds from config, and normalize."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine import OBS_COLUMNS
from neurokine.errors import InputError
from neurokine.io.registry import RESERVED_CELL_TYPES
from neurokine.io.shards import runs
from neurokine.seeds import sub_rng
from neurokine.settings import PrepareSettings

#: Cell filters in the order they are applied: (step name, obs metric, comparison, config key).
CELL_FILTERS: tuple[tuple[str, str, str, str], ...] = (
    ("min_counts", "total_counts", ">=", "min_counts"),
    ("max_counts", "total_counts", "<=", "max_counts"),
    ("min_genes", "n_genes", ">=", "min_genes"),
    ("max_genes", "n_genes", "<=", "max_genes"),
    ("max_pct_mito", "pct_mito", "<=", "max_pct_mito"),
)
#: Values per slice when checking or transforming X; bounds temporaries to ~30 MB whatever the
#: size of the matrix (the prepare rule peaks at two copies of X, while it filters cells).
CHECK_CHUNK = 2_000_000


def _value_chunks(values: np.ndarray) -> Iterator[np.ndarray]:
    """Consecutive slices of `values`, so checks never allocate a temporary as large as X."""
    for start in range(0, values.size, CHECK_CHUNK):
        yield values[start:start + CHECK_CHUNK]


def check_counts_matrix(matrix: sp.spmatrix | np.ndarray, source: str) -> None:
    """Require finite, non-negative, integer-valued counts, naming the file otherwise."""
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix).ravel()
    if values.size == 0:
        return
    is_float = values.dtype.kind == "f"
    if is_float and not all(np.isfinite(chunk).all() for chunk in _value_chunks(values)):
        raise InputError(source, "X", "contains NaN or infinite values",
                         "provide raw UMI counts; remove or re-create the corrupted matrix")
    if values.min() < 0:
        raise InputError(source, "X", "contains negative values, so it is not a count matrix",
                         "provide raw UMI counts (e.g. adata.raw.X or a 'counts' layer)")
    if is_float and not all((np.mod(chunk, 1) == 0).all() for chunk in _value_chunks(values)):
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
    # Matrix-vector products in X's own dtype: slicing the mitochondrial columns, or a vector
    # of a wider dtype, would make scipy copy the whole matrix (per-cell totals fit in int32).
    total = (counts @ np.ones(counts.shape[1], dtype=counts.dtype)).astype(np.int64)
    detected = np.diff(counts.indptr)
    mito_mask = adata.var_names.str.upper().str.startswith("MT-")
    mito = counts @ np.asarray(mito_mask, dtype=counts.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(total > 0, 100.0 * mito / total, 0.0)
    return pd.DataFrame({"total_counts": total, "n_genes": detected, "pct_mito": pct},
                        index=adata.obs_names)


def keep_cells(adata: ad.AnnData, keep: np.ndarray) -> ad.AnnData:
    """A new AnnData of the kept cells, slicing X once (anndata's view copy peaks at two copies)."""
    if len(adata.layers) or len(adata.obsm) or len(adata.obsp) or len(adata.varm):
        return adata[keep].copy()
    rows = np.flatnonzero(keep)
    obs = adata.obs.iloc[rows].copy()
    for column in obs.columns:
        if isinstance(obs[column].dtype, pd.CategoricalDtype):
            obs[column] = obs[column].cat.remove_unused_categories()
    return ad.AnnData(X=adata.X[rows], obs=obs, var=adata.var.copy(), uns=copy.deepcopy(adata.uns))


def qc_cells(adata: ad.AnnData, thresholds: PrepareSettings) -> tuple[np.ndarray, pd.DataFrame,
                                                                     pd.DataFrame]:
    """Cells kept by the cell filters, the cells-kept table per sample and step, QC metrics.

    Every decision is per cell, so a shard of whole samples gets its own samples' rows of the
    table the whole dataset would give.
    """
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
        threshold = getattr(thresholds, key)
        values = metrics[metric].to_numpy()
        keep &= values >= threshold if op == ">=" else values <= threshold
        record(order, step, threshold)
    return keep, pd.DataFrame(rows), metrics


def genes_kept(cells_per_gene: np.ndarray, thresholds: PrepareSettings) -> np.ndarray:
    """Genes detected in enough of the kept cells (counted over the whole dataset)."""
    return np.asarray(cells_per_gene) >= thresholds.min_cells_per_gene


def filter_cells_and_genes(adata: ad.AnnData, keep: np.ndarray, metrics: pd.DataFrame,
                           gene_mask: np.ndarray) -> ad.AnnData:
    """The kept cells (with their QC metrics in obs) and kept genes of `adata`."""
    filtered = keep_cells(adata, keep)
    filtered.obs = filtered.obs.join(metrics.loc[filtered.obs_names])
    if not gene_mask.all():  # slicing columns copies the whole matrix, so only when needed
        filtered = filtered[:, gene_mask].copy()
    return filtered


def no_cell_passed() -> InputError:
    """The error of a dataset whose cells all fail QC."""
    return InputError("config", "qc", "no cell passed the QC thresholds",
                      "relax qc thresholds (see results/prepared/<dataset>/qc_steps.tsv)")


def apply_qc(adata: ad.AnnData, thresholds: PrepareSettings) -> tuple[ad.AnnData, pd.DataFrame]:
    """Filter cells step by step, then genes; return the filtered data and a cells-kept table."""
    keep, table, metrics = qc_cells(adata, thresholds)
    counted = cells_per_gene(sp.csr_matrix(adata.X), keep)
    filtered = filter_cells_and_genes(adata, keep, metrics, genes_kept(counted, thresholds))
    if filtered.n_obs == 0:
        raise no_cell_passed()
    table["genes_kept"] = filtered.n_vars
    return filtered, table


def cells_per_gene(matrix: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
    """Number of cells with a non-zero count, per gene, counted slice by slice (only the cells
    where the boolean `rows` is True, when given)."""
    counts = np.zeros(matrix.shape[1], dtype=np.int64)
    for start in range(0, matrix.nnz, CHECK_CHUNK):
        stop = min(start + CHECK_CHUNK, matrix.nnz)
        nonzero = matrix.data[start:stop] != 0
        if rows is not None:
            owner = np.searchsorted(matrix.indptr, np.arange(start, stop), side="right") - 1
            nonzero &= rows[owner]
        counts += np.bincount(matrix.indices[start:stop][nonzero], minlength=matrix.shape[1])
    return counts


def canonical_counts(matrix: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """Counts as int32 CSR with sorted column indices per cell."""
    counts = sp.csr_matrix(matrix)
    if counts.dtype != np.int32:
        counts = counts.astype(np.int32)
    # Canonical (sorted) column order per cell: scores sum each cell's values in stored order,
    # so the same counts must always be stored the same way for byte-identical results.
    counts.sort_indices()
    return counts


def normalize(adata: ad.AnnData, target_sum: float,
              scored_counts: sp.csr_matrix | None = None) -> ad.AnnData:
    """Keep raw counts in layers['counts']; set X to log1p of counts (or of `scored_counts`, the
    depth-equalized counts of the same cells) scaled to target_sum."""
    counts = canonical_counts(adata.X)
    source = counts if scored_counts is None else canonical_counts(scored_counts)
    # In X's own dtype: scipy's sum() would upcast the whole matrix to int64 first.
    totals = (source @ np.ones(source.shape[1], dtype=source.dtype)).astype(np.float32)
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    logged = np.empty(source.nnz, dtype=np.float32)
    for start in range(0, source.nnz, CHECK_CHUNK):
        part = slice(start, min(start + CHECK_CHUNK, source.nnz))
        rows = np.searchsorted(source.indptr, np.arange(part.start, part.stop), side="right") - 1
        logged[part] = np.log1p(source.data[part].astype(np.float32) * scale[rows])
    # X shares the counts' index arrays (same sparsity), so the prepared object costs 1.5x the
    # count matrix, not 3x; zeros (empty cells, stored zeros) are dropped on a private copy.
    normalized = sp.csr_matrix((logged, source.indices, source.indptr), shape=source.shape)
    if (logged == 0).any():
        normalized = normalized.copy()
        normalized.eliminate_zeros()
    adata.X = normalized
    adata.layers["counts"] = counts
    return adata


# --------------------------------------------------------------------------- depth
# Per-cell mean scores of log-normalized values depend on depth (a sparse gene's log1p value is
# not linear in its count), so a depth difference that follows the groups reads as a disease
# effect even to an exact permutation test. Thinning every sample to the shallowest sample's
# median depth removes it; pseudobulk and detection keep the raw counts.


def sample_depths(samples: np.ndarray, total_counts: np.ndarray, keep: np.ndarray) -> pd.DataFrame:
    """Per sample (sorted): QC-kept cells and their median total counts (NaN with none kept)."""
    frame = pd.DataFrame({"sample_id": samples[keep], "total": total_counts[keep]})
    medians = frame.groupby("sample_id")["total"].median()
    names = np.unique(samples)
    kept = pd.Series(samples[keep]).value_counts()
    return pd.DataFrame({"sample_id": names.astype(object),
                         "cells_kept": [int(kept.get(n, 0)) for n in names],
                         "median_total_counts": medians.reindex(names).to_numpy(dtype=float)})


def depth_plan(depths: pd.DataFrame, equalize: bool) -> pd.DataFrame:
    """Each sample's target depth (the shallowest measured sample's median) and share of counts
    kept (1 when not equalizing, or for a sample with no kept cell)."""
    plan = depths.sort_values("sample_id", kind="stable").reset_index(drop=True)
    measured = plan["cells_kept"] > 0
    target = float(plan.loc[measured, "median_total_counts"].min()) if equalize else np.nan
    plan["target_total_counts"] = target
    share = np.minimum(1.0, target / plan["median_total_counts"].to_numpy(dtype=float))
    plan["keep_fraction"] = np.where(measured & equalize, share, 1.0)
    return plan


def shallow_sample_warning(plan: pd.DataFrame, ratio: float = 0.5) -> str | None:
    """A warning when the shallowest sample sets the depth below `ratio` x the typical sample's."""
    measured = plan[plan["cells_kept"] > 0]
    if measured.empty or not np.isfinite(measured["target_total_counts"].iloc[0]):
        return None
    typical = float(measured["median_total_counts"].median())
    target = float(measured["target_total_counts"].iloc[0])
    if target >= ratio * typical:
        return None
    shallowest = measured.loc[measured["median_total_counts"].idxmin(), "sample_id"]
    return (f"sample {shallowest} sets the equalized depth to {target:.0f} counts per cell, "
            f"{target / typical:.0%} of the typical sample's {typical:.0f}: every sample loses "
            "counts to it; drop that sample from the registry or set normalize.equalize_depth: "
            "false")


def thin_to_depth(counts: sp.csr_matrix, samples: np.ndarray, keep_fraction: Mapping[str, float],
                  seed: int) -> sp.csr_matrix:
    """Counts thinned binomially per sample to its keep fraction, one stream per sample, so any
    split into shards of whole samples thins each sample identically."""
    thinned = counts.copy()
    for sample in np.unique(samples):
        fraction = float(keep_fraction[str(sample)])
        if fraction >= 1.0:
            continue
        spans = [slice(counts.indptr[a], counts.indptr[b])
                 for a, b in runs(np.flatnonzero(samples == sample))]
        values = np.concatenate([counts.data[span] for span in spans])
        drawn = sub_rng(seed, "equalize_depth", str(sample)).binomial(values, fraction)
        offset = 0
        for span in spans:
            size = span.stop - span.start
            thinned.data[span] = drawn[offset:offset + size]
            offset += size
    thinned.eliminate_zeros()
    return thinned


# --------------------------------------------------------------------------- shards
# QC runs in two rounds when a dataset is split into shards of whole samples: the cell filters
# are per cell (one job per shard), but the gene filter counts cells per gene over the whole
# dataset, so the shards' counts are added up first (`gather_qc`) and every shard then keeps the
# same genes and normalizes its own cells (`prepare_shard`). One shard gives exactly `apply_qc`.


def qc_shard(adata: ad.AnnData, thresholds: PrepareSettings) -> tuple[dict[str, np.ndarray],
                                                                      pd.DataFrame]:
    """Cell QC of one shard: its record (cells kept, kept cells per gene, gene names) and its
    samples' rows of the cells-kept table."""
    keep, table, metrics = qc_cells(adata, thresholds)
    depths = sample_depths(adata.obs["sample_id"].astype(str).to_numpy(),
                           metrics["total_counts"].to_numpy(), keep)
    record = {"keep": keep, "cells_per_gene": cells_per_gene(sp.csr_matrix(adata.X), keep),
              "var_names": np.asarray(adata.var_names, dtype=str),
              "depth_samples": depths["sample_id"].to_numpy(dtype=str),
              "depth_cells": depths["cells_kept"].to_numpy(dtype=np.int64),
              "depth_medians": depths["median_total_counts"].to_numpy(dtype=float)}
    return record, table


def gather_qc(records: list[dict[str, np.ndarray]], tables: list[pd.DataFrame],
              thresholds: PrepareSettings, sources: list[str]) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                        pd.DataFrame]:
    """The dataset's cells-kept table, gene list (`gene`, `cells_detected`, `kept`, in the
    data's gene order) and depth plan, from every shard's QC record added up in plan order."""
    names = records[0]["var_names"]
    counted = np.zeros(len(names), dtype=np.int64)
    for record, source in zip(records, sources, strict=True):
        if not np.array_equal(record["var_names"], names):
            raise InputError(source, "var_names", f"differ from the first shard's ({sources[0]})",
                             "every shard of a dataset must have the same genes in the same order")
        counted += record["cells_per_gene"]
    if sum(int(r["keep"].sum()) for r in records) == 0:
        raise no_cell_passed()
    kept = genes_kept(counted, thresholds)
    table = pd.concat(tables, ignore_index=True)
    table["genes_kept"] = int(kept.sum())
    genes = pd.DataFrame({"position": np.arange(len(names)), "gene": names.astype(object),
                          "cells_detected": counted, "kept": kept})
    depths = pd.concat([pd.DataFrame({"sample_id": r["depth_samples"].astype(object),
                                      "cells_kept": r["depth_cells"],
                                      "median_total_counts": r["depth_medians"]})
                        for r in records], ignore_index=True)
    return table, genes, depth_plan(depths, thresholds.equalize_depth)


def prepare_shard(adata: ad.AnnData, record: dict[str, np.ndarray], genes: pd.DataFrame,
                  depth: pd.DataFrame, settings: PrepareSettings, seed: int,
                  source: str) -> ad.AnnData:
    """One shard's kept cells and the dataset's kept genes, depth-equalized by the dataset's
    depth plan and normalized (as `prepare_dataset` would give for these cells)."""
    names = np.asarray(adata.var_names, dtype=str)
    if len(record["keep"]) != adata.n_obs or not np.array_equal(record["var_names"], names):
        raise InputError(source, "cells", "differ from the shard's QC record",
                         "re-run the shard's QC (its inputs changed after it ran)")
    ordered = genes.sort_values("position")
    if not np.array_equal(ordered["gene"].to_numpy(dtype=str), names):
        raise InputError(source, "var_names", "differ from the dataset's gene list",
                         "re-run the QC gather (every shard must have the same genes)")
    filtered = filter_cells_and_genes(adata, record["keep"], qc_metrics(adata),
                                      ordered["kept"].to_numpy(dtype=bool))
    return normalize_to_plan(filtered, depth, settings.target_sum, seed, source)


def normalize_to_plan(adata: ad.AnnData, depth: pd.DataFrame, target_sum: float, seed: int,
                      source: str) -> ad.AnnData:
    """Normalize after thinning each sample to its share in the depth plan (raw counts kept)."""
    samples = adata.obs["sample_id"].astype(str).to_numpy()
    fractions = dict(zip(depth["sample_id"].astype(str), depth["keep_fraction"], strict=True))
    missing = sorted(set(samples) - set(fractions))
    if missing:
        raise InputError(source, "sample_id", f"samples {missing[:3]} are not in the depth plan",
                         "re-run the QC gather (the shard's samples changed after it ran)")
    if all(fractions[s] >= 1.0 for s in set(samples)):
        return normalize(adata, target_sum)
    thinned = thin_to_depth(canonical_counts(adata.X), samples, fractions, seed)
    return normalize(adata, target_sum, thinned)


def prepare_dataset(adata: ad.AnnData, settings: PrepareSettings, seed: int,
                    source: str = "dataset") -> tuple[ad.AnnData, pd.DataFrame, pd.DataFrame]:
    """The whole dataset as one shard: prepared cells, cells-kept table and depth plan."""
    record, steps = qc_shard(adata, settings)
    table, genes, depth = gather_qc([record], [steps], settings, [source])
    return prepare_shard(adata, record, genes, depth, settings, seed, source), table, depth
