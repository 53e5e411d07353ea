"""Score every signature in one sparse pass: a genes x signatures weight matrix and one product.

The `mean` method is scanpy's `score_genes` (mean of the set minus the mean of expression-binned
control genes). Control genes are drawn exactly as scanpy 1.11 draws them for a given
`random_state`, so scores match `scanpy.tl.score_genes` to floating-point precision, while all
signatures are evaluated together instead of one call (and one densified subset) per signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: Rows scored per block: bounds the float64 copy of the block made for exact summation.
CHUNK_ROWS = 20_000


def gene_means(matrix: sp.spmatrix) -> np.ndarray:
    """Column (gene) means of a cells x genes matrix in float64."""
    return np.asarray(matrix.sum(axis=0, dtype=np.float64)).ravel() / matrix.shape[0]


def expression_bins(means: np.ndarray, var_names: pd.Index, n_bins: int) -> pd.Series:
    """Assign genes to expression bins by rank of their mean, as scanpy's score_genes does."""
    avg = pd.Series(means, index=var_names)
    avg = avg[np.isfinite(avg)]
    n_items = int(np.round(len(avg) / (n_bins - 1)))
    return avg.rank(method="min") // n_items


def control_genes(genes: pd.Index, bins: pd.Series, ctrl_size: int, random_state: int) -> pd.Index:
    """Draw control genes per expression bin of the set's genes, replicating scanpy's sampler."""
    rng = np.random.RandomState(random_state)
    chosen = pd.Index([], dtype="string")
    for cut in np.unique(bins.loc[genes]):
        candidates = bins[bins == cut].index
        if ctrl_size < len(candidates):
            candidates = candidates.to_series().sample(ctrl_size, random_state=rng).index
        chosen = chosen.union(candidates.difference(genes))
    return chosen


def build_weights(
    gene_sets: Mapping[str, Sequence[str]],
    var_names: pd.Index,
    means: np.ndarray,
    *,
    ctrl_size: int,
    n_bins: int,
    random_state: int,
    min_coverage: float,
) -> tuple[sp.csc_matrix, list[str], pd.DataFrame]:
    """Build the genes x signatures weight matrix and a coverage table (skipped sets say why)."""
    bins = expression_bins(means, var_names, n_bins)
    position = pd.Series(np.arange(len(var_names)), index=var_names)
    rows, cols, vals, kept, coverage = [], [], [], [], []
    for name, listed in gene_sets.items():
        listed = pd.Index(dict.fromkeys(listed))
        present = listed.intersection(var_names)
        fraction = len(present) / len(listed)
        record = {"signature": name, "n_genes_listed": len(listed), "n_genes_present": len(present),
                  "coverage": fraction, "missing_genes": ",".join(sorted(listed.difference(var_names))),
                  "n_control_genes": 0, "status": "scored", "reason": ""}
        if len(present) == 0 or fraction < min_coverage:
            record.update(status="skipped", reason=(
                "no gene of the signature is in the data" if len(present) == 0 else
                f"gene coverage {fraction:.2f} is below scoring.min_gene_coverage={min_coverage}"))
            coverage.append(record)
            continue
        controls = control_genes(present, bins, ctrl_size, random_state)
        if len(controls) == 0:
            record.update(status="skipped", reason="no control genes in the set's expression bins")
            coverage.append(record)
            continue
        k = len(kept)
        rows += position[present].tolist() + position[controls].tolist()
        cols += [k] * (len(present) + len(controls))
        vals += [1.0 / len(present)] * len(present) + [-1.0 / len(controls)] * len(controls)
        record["n_control_genes"] = len(controls)
        kept.append(name)
        coverage.append(record)
    weights = sp.csc_matrix((vals, (rows, cols)), shape=(len(var_names), len(kept)), dtype=np.float64)
    return weights, kept, pd.DataFrame(coverage)


def apply_weights(matrix: sp.spmatrix, weights: sp.spmatrix) -> np.ndarray:
    """Multiply cells x genes by genes x signatures in row blocks, summing in float64."""
    matrix = sp.csr_matrix(matrix)
    out = np.empty((matrix.shape[0], weights.shape[1]), dtype=np.float64)
    for start in range(0, matrix.shape[0], CHUNK_ROWS):
        block = matrix[start:start + CHUNK_ROWS].astype(np.float64)
        out[start:start + CHUNK_ROWS] = (block @ weights).toarray()
    return out


def score_cells(
    matrix: sp.spmatrix,
    var_names: pd.Index,
    gene_sets: Mapping[str, Sequence[str]],
    *,
    ctrl_size: int = 50,
    n_bins: int = 25,
    random_state: int = 0,
    min_coverage: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score all gene sets per cell with the `mean` method; return scores and coverage."""
    weights, kept, coverage = build_weights(
        gene_sets, pd.Index(var_names), gene_means(matrix), ctrl_size=ctrl_size,
        n_bins=n_bins, random_state=random_state, min_coverage=min_coverage)
    scores = pd.DataFrame(apply_weights(matrix, weights), columns=kept)
    return scores, coverage
