"""`weighted`: decoupler's univariate linear model (``ulm``).

Per cell, the t-value of the slope of expression on the signature weights over every gene
detected in the data (genes zero in every cell are outside the universe, as in decoupler).
Signed weights (e.g. CytoSig) are allowed. The t-value is not linear in the data, so null
signatures are extra columns of the per-cell product.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from neurokine.scoring import kernels
from neurokine.scoring.genestats import GeneStats
from neurokine.scoring.methods.base import (
    BlockScores,
    GroupSums,
    PlanContext,
    ScoringMethod,
    SignatureColumns,
    product,
    weight_matrix,
)

if TYPE_CHECKING:
    from neurokine.scoring.plan import ScoringPlan

#: decoupler adds this to 1 - r and 1 + r so a perfect correlation gives a finite t-value.
ULM_EPS = 2.2e-16


@dataclasses.dataclass
class UlmState:
    """Universe size, and the mean and standard deviation of each column's weights over it."""

    n_universe: int
    weight_mean: np.ndarray
    weight_sd: np.ndarray


def ulm_constants(values: np.ndarray, n_universe: int) -> tuple[float, float]:
    """Mean and sample standard deviation of a weight vector padded with zeros to the universe."""
    if n_universe < 2:
        return 0.0, 0.0
    mean = values.sum() / n_universe
    squares = ((values - mean) ** 2).sum() + (n_universe - len(values)) * mean * mean
    return float(mean), float(np.sqrt(squares / (n_universe - 1)))


class UlmMethod(ScoringMethod):
    """t-value of the regression of each cell's expression on the weights."""

    name = "weighted"
    signed = True

    def universe(self, stats: GeneStats) -> np.ndarray:
        """Genes detected in at least one cell."""
        return stats.nonzero > 0

    def skip_reason(self, genes: np.ndarray, values: np.ndarray, controls: np.ndarray,
                    context: PlanContext) -> str:
        """A regression needs genes, three points and weights that vary."""
        n_universe = context.n_universe
        if len(genes) == 0:
            return "every gene of the signature is zero in every cell"
        if n_universe < 3:
            return f"only {n_universe} genes are detected in the data (ulm needs at least 3)"
        if ulm_constants(values, n_universe)[1] == 0:
            return "the weights do not vary over the detected genes (ulm needs variation)"
        return ""

    def build(self, columns: SignatureColumns, context: PlanContext) -> tuple[sp.csr_matrix, UlmState]:
        """Signature columns then null columns, with each column's weight mean and sd."""
        scored = columns.sets + columns.nulls
        weights = weight_matrix(scored, len(context.var_names))
        n_universe = context.n_universe
        constants = np.array([ulm_constants(v, n_universe) for _, v in scored]).reshape(-1, 2)
        return weights, UlmState(n_universe, constants[:, 0], constants[:, 1])

    def score_block(self, plan: ScoringPlan, block: sp.csr_matrix) -> BlockScores:
        """t-values of every column; the null columns come back per cell."""
        k, n_null = plan.n_signatures, plan.params.n_null
        out = product(block, block.data, plan.weights)
        sums, squares = kernels.row_moments(block.indptr, block.data)
        scores = t_values(out, sums, squares, plan.state)
        null = scores[:, k:].reshape(block.shape[0], k, n_null) if n_null else None
        return BlockScores(scores[:, :k], null=null)

    def null_group_sums(self, plan: ScoringPlan, sums: GroupSums, n_groups: int) -> np.ndarray:
        """Group sums of the per-cell null t-values."""
        shape = (n_groups, plan.n_signatures, plan.params.n_null)
        return np.zeros(shape) if sums.null is None else sums.null.reshape(shape)


def t_values(products: np.ndarray, sums: np.ndarray, squares: np.ndarray, state: UlmState) -> np.ndarray:
    """decoupler's ulm t-value from X@w, row sums and row sums of squares."""
    n = state.n_universe
    cov = (products - sums[:, None] * state.weight_mean[None, :]) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_y = np.maximum(squares - sums * sums / n, 0.0) / (n - 1)
        r = cov / (np.sqrt(var_y)[:, None] * state.weight_sd[None, :])
    # A cell with no variation over the genes carries no evidence: t = 0 (decoupler drops
    # such cells); a null set without weight variation (too few genes drawn) likewise.
    r = np.where((var_y[:, None] > 0) & (state.weight_sd[None, :] > 0), r, 0.0)
    # A perfect fit can round to |r| slightly above 1; clip so t stays finite (decoupler
    # returns NaN there).
    r = np.clip(r, -1.0, 1.0)
    df = n - 2
    return r * np.sqrt(df / ((1.0 - r + ULM_EPS) * (1.0 + r + ULM_EPS)))
