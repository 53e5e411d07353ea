"""Donor-level values from pseudobulk counts: log-CPM per sample x cell type, and signature scores.

The second form of donor-level value (beside the mean per-cell score): summed raw counts of a
donor's cells of one type are normalized to log2 counts per million (TMM factors within each
cell type, so a program taking library share does not move every other gene), and a signature's value is
the mean log-CPM of its genes present in the data. Pseudobulk values do not depend on per-cell
scoring choices, so agreement between the two forms is a robustness check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from neurokine.stats.compare import check_columns

#: obs columns the pseudobulk AnnData carries per sample x cell type (aggregate.pseudobulk).
OBS_REQUIRED = ("sample_id", "cell_type", "n_cells", "donor_id", "tissue", "disease", "dataset_id")


#: TMM trimming (edgeR's calcNormFactors defaults): 30% of log ratios and 5% of mean log
#: expression trimmed at each end.
TMM_RATIO_TRIM = 0.3
TMM_SUM_TRIM = 0.05
#: Genes enter the TMM factors only with this many counts in every library of the cell type, and
#: only when at least TMM_MIN_GENES do (otherwise the plain library sizes are used). At 10 and 100
#: a cell type of ~20 cells per donor had too few such genes, fell back to plain libraries and
#: kept 26 false falls beside a strong program in one simulated cohort; at 5 and 50, 2.
TMM_MIN_COUNT = 5
TMM_MIN_GENES = 50


def _tmm_factor(sample: np.ndarray, reference: np.ndarray) -> float:
    """TMM factor of one library against a reference library (edgeR's weighted trimmed mean)."""
    n_s, n_r = sample.sum(), reference.sum()
    if n_s == 0 or n_r == 0:
        return 1.0
    both = (sample > 0) & (reference > 0)
    s, r = sample[both] / n_s, reference[both] / n_r
    log_ratio = np.log2(s / r)
    mean_log = (np.log2(s) + np.log2(r)) / 2
    variance = (1 - s) / sample[both] + (1 - r) / reference[both]
    n = log_ratio.size
    if n == 0 or np.abs(log_ratio).max() < 1e-6:
        return 1.0
    ratio_rank, sum_rank = sps.rankdata(log_ratio), sps.rankdata(mean_log)
    low_ratio, low_sum = np.floor(n * TMM_RATIO_TRIM) + 1, np.floor(n * TMM_SUM_TRIM) + 1
    keep = ((ratio_rank >= low_ratio) & (ratio_rank <= n + 1 - low_ratio)
            & (sum_rank >= low_sum) & (sum_rank <= n + 1 - low_sum))
    if not keep.any():
        return 1.0
    return float(2 ** (np.sum(log_ratio[keep] / variance[keep]) / np.sum(1 / variance[keep])))


def tmm_factors(counts: np.ndarray) -> np.ndarray:
    """TMM normalization factors of libraries (rows), geometric mean 1, as edgeR's calcNormFactors."""
    library = counts.sum(axis=1)
    if counts.shape[0] < 2 or not (library > 0).any():
        return np.ones(counts.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = np.array([np.quantile(row / lib, 0.75) if lib > 0 else np.nan
                          for row, lib in zip(counts, library, strict=True)])
    # The reference is the library whose upper quartile is closest to the mean (edgeR); when most
    # libraries are mostly zeros, the one with the largest sum of square-root counts.
    if np.nanmedian(upper) < 1e-20:
        reference = int(np.argmax(np.sqrt(counts).sum(axis=1)))
    else:
        reference = int(np.nanargmin(np.abs(upper - np.nanmean(upper))))
    factors = np.array([_tmm_factor(row, counts[reference]) for row in counts])
    return factors / np.exp(np.mean(np.log(factors)))


def effective_libraries(counts: np.ndarray) -> np.ndarray:
    """TMM effective library sizes of libraries (rows) of one cell type, from its well-counted genes."""
    # As edgeR after filterByExpr: TMM on genes with TMM_MIN_COUNT counts in every library, the
    # library sizes those genes' sums. With the long tail of rarely detected genes, a shallower
    # library's few nonzero counts of them are biased up (only counts > 0 enter the ratios), and
    # TMM over all genes read a 0.6x depth group as enriched in everything sparse (18 false
    # positives in one simulated cohort, none without the depth difference).
    well_counted = (counts >= TMM_MIN_COUNT).all(axis=0)
    if well_counted.sum() < TMM_MIN_GENES:
        return counts.sum(axis=1)
    core = counts[:, well_counted]
    return core.sum(axis=1) * tmm_factors(core)


def expression(pb: ad.AnnData) -> np.ndarray:
    """log-CPM of a pseudobulk AnnData, TMM-normalized within each cell type."""
    dense = pb.X.toarray() if sp.issparse(pb.X) else np.asarray(pb.X)
    dense = dense.astype(np.float64)
    library = dense.sum(axis=1)
    # Within a cell type: its samples share a composition, so a program that takes library share
    # in some of them (a strong response) is what the trimmed mean corrects. Across cell types the
    # compositions differ for real and are never compared.
    for rows in pb.obs.groupby("cell_type", observed=True, sort=True).indices.values():
        library[rows] = effective_libraries(dense[rows])
    return log_cpm(dense, library=library)


def log_cpm(counts: np.ndarray | sp.spmatrix, prior_count: float = 0.5,
            library: np.ndarray | None = None) -> np.ndarray:
    """log2 counts per million, offset in proportion to each library (as edgeR's cpm): rows are samples."""
    dense = counts.toarray() if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    dense = dense.astype(np.float64)
    library = (dense.sum(axis=1, keepdims=True) if library is None
               else np.asarray(library, dtype=np.float64).reshape(-1, 1))
    # A fixed offset reads an undetected gene higher in a shallower library (offset / library),
    # so a depth difference between groups moved every sparse module (ligands at 10x-like
    # detection: pseudobulk FDP 0.33 over 24 simulated cohorts). Scaled to the library, an
    # undetected gene has the same log-CPM in every sample; at the mean depth it is `prior_count`.
    mean_library = float(library.mean()) if library.size and library.mean() > 0 else 1.0
    prior = np.where(library > 0, prior_count * library / mean_library, prior_count)
    return np.log2((dense + prior) / (library + 2.0 * prior) * 1e6)


def check_pseudobulk(pb: ad.AnnData, source: str) -> None:
    """Require the obs columns the compare stage reads from the pseudobulk AnnData."""
    check_columns(pb.obs, OBS_REQUIRED, source)


def signature_scores(pb: ad.AnnData, gene_sets: Mapping[str, Sequence[str]], min_coverage: float
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean log-CPM of each signature's genes per sample x cell type, and a coverage table.

    Returns a long table with donor_scores.tsv's columns (the value in `mean_score`) and a
    coverage table with gene_coverage.tsv's columns; signatures below `min_coverage` are
    `skipped` with the reason and get no values.
    """
    check_pseudobulk(pb, "pseudobulk AnnData")
    values = expression(pb)
    position = pd.Series(np.arange(pb.n_vars), index=pb.var_names)
    coverage, columns, names = [], [], []
    for name, listed in gene_sets.items():
        listed = list(dict.fromkeys(listed))
        present = [g for g in listed if g in position.index]
        fraction = len(present) / len(listed)
        record = {"signature": name, "n_genes_listed": len(listed), "n_genes_present": len(present),
                  "coverage": fraction, "status": "scored", "reason": ""}
        if not present or fraction < min_coverage:
            record.update(status="skipped", reason=(
                "no gene of the signature is in the data" if not present else
                f"gene coverage {fraction:.2f} is below scoring.min_gene_coverage={min_coverage}"))
        else:
            columns.append(values[:, position[present].to_numpy()].mean(axis=1))
            names.append(name)
        coverage.append(record)
    obs = pb.obs.reset_index(drop=True)
    wide = pd.DataFrame(np.column_stack(columns) if columns else np.empty((pb.n_obs, 0)),
                        columns=names)
    meta = [c for c in obs.columns if c not in ("signature",)]
    long = pd.concat([obs[meta], wide], axis=1).melt(id_vars=meta, var_name="signature",
                                                     value_name="mean_score")
    long[["axis", "module"]] = long["signature"].str.rsplit(".", n=1, expand=True)
    for column in ("sample_id", "cell_type", "donor_id", "tissue", "disease", "dataset_id"):
        long[column] = long[column].astype(str)
    return long, pd.DataFrame(coverage)


def module_counts(pb: ad.AnnData, gene_sets: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Summed raw counts of each signature's genes per sample x cell type: is it detected at all?"""
    check_pseudobulk(pb, "pseudobulk AnnData")
    counts = sp.csc_matrix(pb.X)
    position = pd.Series(np.arange(pb.n_vars), index=pb.var_names)
    frames = []
    for name, listed in gene_sets.items():
        present = [g for g in dict.fromkeys(listed) if g in position.index]
        if not present:
            continue
        summed = np.asarray(counts[:, position[present].to_numpy()].sum(axis=1)).ravel()
        frames.append(pd.DataFrame({"sample_id": pb.obs["sample_id"].astype(str).to_numpy(),
                                    "cell_type": pb.obs["cell_type"].astype(str).to_numpy(),
                                    "signature": name, "module_counts": summed}))
    columns = ["sample_id", "cell_type", "signature", "module_counts"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def donor_values(donor_scores: pd.DataFrame, pseudobulk_scores: pd.DataFrame) -> pd.DataFrame:
    """Both forms of donor-level value in one long table, told apart by `measure`."""
    keep = ["dataset_id", "sample_id", "donor_id", "tissue", "disease", "cell_type", "signature",
            "n_cells", "mean_score"]
    first = donor_scores[keep].assign(measure="mean_cell_score")
    second = pseudobulk_scores[keep].assign(measure="pseudobulk_logcpm")
    return pd.concat([first, second], ignore_index=True).rename(columns={"mean_score": "value"})
