"""Donor-level values from pseudobulk counts: log-CPM per sample x cell type, and signature scores.

The second form of donor-level value (beside the mean per-cell score): summed raw counts of a
donor's cells of one type are normalized to log2 counts per million, and a signature's value is
the mean log-CPM of its genes present in the data. Pseudobulk values do not depend on per-cell
scoring choices, so agreement between the two forms is a robustness check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.stats.compare import check_columns

#: obs columns the pseudobulk AnnData carries per sample x cell type (aggregate.pseudobulk).
OBS_REQUIRED = ("sample_id", "cell_type", "n_cells", "donor_id", "tissue", "disease", "dataset_id")


def log_cpm(counts: np.ndarray | sp.spmatrix, prior_count: float = 0.5) -> np.ndarray:
    """log2 counts per million, offset in proportion to each library (as edgeR's cpm): rows are samples."""
    dense = counts.toarray() if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    dense = dense.astype(np.float64)
    library = dense.sum(axis=1, keepdims=True)
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
    expression = log_cpm(pb.X)
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
            columns.append(expression[:, position[present].to_numpy()].mean(axis=1))
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


def donor_values(donor_scores: pd.DataFrame, pseudobulk_scores: pd.DataFrame) -> pd.DataFrame:
    """Both forms of donor-level value in one long table, told apart by `measure`."""
    keep = ["dataset_id", "sample_id", "donor_id", "tissue", "disease", "cell_type", "signature",
            "n_cells", "mean_score"]
    first = donor_scores[keep].assign(measure="mean_cell_score")
    second = pseudobulk_scores[keep].assign(measure="pseudobulk_logcpm")
    return pd.concat([first, second], ignore_index=True).rename(columns={"mean_score": "value"})
