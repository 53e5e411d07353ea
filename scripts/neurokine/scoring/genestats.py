"""Per-gene sums and detection from one pass over row blocks: the inputs of bins and universes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurokine.errors import InputError
from neurokine.scoring import kernels
from neurokine.scoring.checks import check_finite
from neurokine.scoring.rows import RowSource


@dataclasses.dataclass
class GeneStats:
    """Per-gene sums (in the matrix's own sum dtype) and detected-cell counts."""

    n_cells: int
    sums: np.ndarray
    nonzero: np.ndarray

    @property
    def means(self) -> np.ndarray:
        """Gene means in float64, computed from the sums as scanpy computes them."""
        return self.sums.astype(np.float64) / self.n_cells


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    """The accumulator dtype scipy uses for `sum` (float32 stays float32; ints widen)."""
    return np.result_type(dtype, np.int_) if np.issubdtype(dtype, np.integer) else np.dtype(dtype)


def gene_statistics(rows: RowSource, var_names: pd.Index, blocks: Sequence[tuple[int, int]]) -> GeneStats:
    """First pass: per-gene sums and detection counts, refusing non-finite values."""
    sums = nonzero = None
    for start, stop in blocks:
        block = rows.read(start, stop)
        if sums is None:
            sums = np.zeros(rows.shape[1], dtype=_sum_dtype(block.data.dtype))
            nonzero = np.zeros(rows.shape[1], dtype=np.int64)
        data = block.data.astype(sums.dtype, copy=False)
        if kernels.gene_sums(block.indices, data, sums, nonzero):
            check_finite(block, var_names, rows.source, rows.field)  # raises, naming the genes
    if sums is None:
        raise InputError(rows.source, rows.field, "has no cells", "check the QC thresholds")
    return GeneStats(rows.shape[0], sums, nonzero)
