"""Compiled loops over the non-zeros of CSR row blocks (numba), used by the scoring engine.

Each kernel walks the stored entries of a block once and never builds anything dense at
cells x genes scale. Results are written per row by a single thread, so they do not depend on
the number of threads. Compiled code is cached next to this file (or in numba's user cache
when the package directory is read-only), so only the first run on a machine pays for it.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


def set_threads(threads: int | None) -> int:
    """Use up to `threads` numba threads (never more than numba was started with); return it."""
    available = numba.config.NUMBA_NUM_THREADS
    chosen = available if threads is None else max(1, min(int(threads), available))
    numba.set_num_threads(chosen)
    return chosen


@njit(cache=True)
def gene_sums(indices, data, sums, nonzero):  # pragma: no cover - compiled
    """Add each stored value to its gene's sum in row order, in the dtype of `sums`; return
    how many values are not finite (NaN or infinite).

    Row-order accumulation in the matrix's own sum dtype (float32 for float32 data) is exactly
    what scipy's ``matrix.sum(axis=0)`` does, so gene means, expression bins and therefore
    scanpy's control genes come out bit-identical when the matrix is read in row blocks.
    """
    bad = 0
    for p in range(indices.shape[0]):
        value = data[p]
        if not np.isfinite(value):
            bad += 1
        gene = indices[p]
        sums[gene] += value
        if value != 0:
            nonzero[gene] += 1
    return bad


@njit(parallel=True, cache=True)
def csr_dense_product(indptr, indices, data, w_indptr, w_indices, w_data, n_out):  # pragma: no cover
    """Dense (rows x n_out) float64 product of a CSR block with a CSR genes x n_out weight matrix."""
    n_rows = indptr.shape[0] - 1
    out = np.zeros((n_rows, n_out))
    for row in prange(n_rows):
        for p in range(indptr[row], indptr[row + 1]):
            gene = indices[p]
            value = np.float64(data[p])
            for q in range(w_indptr[gene], w_indptr[gene + 1]):
                out[row, w_indices[q]] += value * w_data[q]
    return out


@njit(parallel=True, cache=True)
def row_moments(indptr, data):  # pragma: no cover - compiled
    """Per-row sum and sum of squares of the stored values, in float64."""
    n_rows = indptr.shape[0] - 1
    sums = np.zeros(n_rows)
    squares = np.zeros(n_rows)
    for row in prange(n_rows):
        total = 0.0
        total_sq = 0.0
        for p in range(indptr[row], indptr[row + 1]):
            value = np.float64(data[p])
            total += value
            total_sq += value * value
        sums[row] = total
        squares[row] = total_sq
    return sums, squares


@njit(parallel=True, cache=True)
def ucell_strengths(indptr, indices, data, max_rank, needed):  # pragma: no cover - compiled
    """Per stored entry of a `needed` gene, max_rank minus its rank among the row's non-zeros
    (0 beyond max_rank, and 0 for genes not needed).

    Ranks are taken in decreasing order of value with ties given their average rank, as UCell
    does; zeros are never ranked. With these strengths a UCell score is one weighted sum. A
    tie group's ranks run from (values strictly greater) + 1 to (values greater or equal), so
    one sort and two binary searches per needed entry give its average rank.
    """
    out = np.zeros(data.shape[0])
    for row in prange(indptr.shape[0] - 1):
        start = indptr[row]
        end = indptr[row + 1]
        values = np.empty(end - start, dtype=np.float64)
        count = 0
        for p in range(start, end):
            if data[p] != 0:
                values[count] = -np.float64(data[p])
                count += 1
        if count == 0:
            continue
        ordered = np.sort(values[:count])
        for p in range(start, end):
            if data[p] == 0 or not needed[indices[p]]:
                continue
            key = -np.float64(data[p])
            greater = np.searchsorted(ordered, key, side="left")
            at_least = np.searchsorted(ordered, key, side="right")
            rank = 0.5 * (greater + 1 + at_least)
            if rank <= max_rank:
                out[p] = max_rank - rank
    return out
