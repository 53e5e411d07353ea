"""`ucell`: UCell's Mann-Whitney U statistic on each cell's gene ranks.

Ranks are taken among a cell's non-zero values, ties averaged and capped at ``max_rank``, so the
score ignores how the data were normalized. With per-entry strengths (max_rank minus rank, from
a kernel) the score is linear: one weighted sum per set, as pyUCell with missing genes skipped.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from neurokine.scoring import kernels
from neurokine.scoring.methods.base import PlanContext, SignatureColumns
from neurokine.scoring.methods.linear import LinearMethod, LinearState
from neurokine.scoring.params import ScoringParams

if TYPE_CHECKING:
    from neurokine.scoring.plan import ScoringPlan


@dataclasses.dataclass
class UCellState(LinearState):
    """LinearState plus the genes whose ranks are needed (any signature's or null's genes)."""

    ranked_genes: np.ndarray


class UCellMethod(LinearMethod):
    """1 - U / U_max (U_max = n x max_rank - n(n+1)/2), as a weighted sum of rank strengths."""

    name = "ucell"

    def skip_reason(self, genes: np.ndarray, values: np.ndarray, controls: np.ndarray,
                    context: PlanContext) -> str:
        """U is undefined once the set's own ranks can exceed max_rank."""
        n, max_rank = len(genes), context.params.max_rank
        if n * max_rank <= n * (n + 1) / 2:
            return f"{n} genes is too many for scoring.ucell_max_rank={max_rank}"
        return ""

    def gene_weight(self, n_genes: int, params: ScoringParams) -> float:
        """1 / (the largest U of n genes), so a score lies in [0, 1]."""
        n = n_genes
        return 1.0 / (n * params.max_rank - n * (n + 1) / 2)

    def build(self, columns: SignatureColumns, context: PlanContext) -> tuple[sp.csr_matrix, UCellState]:
        """The linear weights, and which genes need ranks."""
        weights, state = super().build(columns, context)
        ranked = np.diff(weights.indptr) > 0
        if state.null_support is not None:
            ranked[state.null_support] = True
        return weights, UCellState(state.null_support, state.null_weights, ranked)

    def values(self, block: sp.csr_matrix, plan: ScoringPlan) -> np.ndarray:
        """Each needed entry's rank strength within its cell."""
        return kernels.ucell_strengths(block.indptr, block.indices, block.data,
                                       float(plan.params.max_rank), plan.state.ranked_genes)
