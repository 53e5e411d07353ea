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
    return gene_statistics_of([(rows, blocks)], var_names)


def gene_statistics_of(sources: Sequence[tuple[RowSource, Sequence[tuple[int, int]]]],
                       var_names: pd.Index) -> GeneStats:
    """Per-gene sums and detection counts over several row sources (the shards of a dataset,
    in plan order) as over one: values are added one by one in row order, so the sums are
    bit-identical to one pass over the concatenated rows, however they are split."""
    sums = nonzero = None
    n_cells = 0
    for rows, blocks in sources:
        n_cells += rows.shape[0]
        for start, stop in blocks:
            block = rows.read(start, stop)
            if sums is None:
                sums = np.zeros(rows.shape[1], dtype=_sum_dtype(block.data.dtype))
                nonzero = np.zeros(rows.shape[1], dtype=np.int64)
            data = block.data.astype(sums.dtype, copy=False)
            if kernels.gene_sums(block.indices, data, sums, nonzero):
                check_finite(block, var_names, rows.source, rows.field)  # raises, naming the genes
    if sums is None:
        source = sources[0][0] if sources else None
        raise InputError(source.source if source else "scoring", source.field if source else "X",
                         "has no cells", "check the QC thresholds")
    return GeneStats(n_cells, sums, nonzero)


def stats_arrays(stats: GeneStats, var_names: pd.Index) -> dict[str, np.ndarray]:
    """GeneStats and its gene names as arrays for `write_npz` (sums keep their dtype)."""
    return {"n_cells": np.array(stats.n_cells, dtype=np.int64), "sums": stats.sums,
            "nonzero": stats.nonzero, "var_names": np.asarray(var_names, dtype=str)}


def stats_from_arrays(arrays: dict[str, np.ndarray], source: str) -> tuple[GeneStats, pd.Index]:
    """GeneStats and gene names back from `stats_arrays`."""
    missing = {"n_cells", "sums", "nonzero", "var_names"} - set(arrays)
    if missing:
        raise InputError(source, ",".join(sorted(missing)), "missing from the gene statistics",
                         "re-run the rule that writes them (plan_scoring)")
    return (GeneStats(int(arrays["n_cells"]), arrays["sums"], arrays["nonzero"]),
            pd.Index(arrays["var_names"].astype(object)))
