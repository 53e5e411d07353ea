"""`mean`: scanpy's ``score_genes``, the mean of a set's genes minus the mean of control genes.

Control genes are drawn from the set's expression bins exactly as scanpy 1.11 draws them for a
given ``random_state``, and gene means are accumulated exactly as scipy sums them, so scores
equal ``scanpy.tl.score_genes`` to floating-point precision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from neurokine.scoring.methods.base import BlockScores, Column, PlanContext, SignatureColumns
from neurokine.scoring.methods.linear import LinearMethod
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.sampling import control_positions

if TYPE_CHECKING:
    from neurokine.scoring.plan import ScoringPlan


class MeanMethod(LinearMethod):
    """Set mean minus control mean; a null signature reuses its signature's control term."""

    name = "mean"

    def controls(self, genes: np.ndarray, context: PlanContext) -> np.ndarray:
        """scanpy's control genes: up to ctrl_size per expression bin of the set's genes, from
        the bins without any scored signature's genes when control_pool is 'background'."""
        params = context.params
        excluded = context.signature_genes if params.control_pool == "background" else None
        return control_positions(genes, context.bins, params.ctrl_size, params.random_state, excluded)

    def skip_reason(self, genes: np.ndarray, values: np.ndarray, controls: np.ndarray,
                    context: PlanContext) -> str:
        """A set without control genes has no score (scanpy raises there)."""
        return "" if len(controls) else "no control genes in the set's expression bins"

    def gene_weight(self, n_genes: int, params: ScoringParams) -> float:
        """Each gene weighs 1/n: the set's mean."""
        return 1.0 / n_genes

    def signature_columns(self, columns: SignatureColumns, context: PlanContext) -> list[Column]:
        """Set and control genes in one column, or (with nulls) the control terms apart."""
        sets = super().signature_columns(columns, context)
        controls = [(c, np.full(len(c), -1.0 / max(1, len(c)))) for c in columns.controls]
        if context.params.n_null:
            return sets + controls  # kept apart: null signatures reuse each control term
        # set and control genes are disjoint: one column each
        return [(np.concatenate([g, c]), np.concatenate([w, cw]))
                for (g, w), (c, cw) in zip(sets, controls, strict=True)]

    def basis(self, block: sp.csr_matrix, values: np.ndarray, plan: ScoringPlan) -> sp.csr_matrix:
        """The block itself on the genes the nulls use (its values are the data)."""
        return block[:, plan.state.null_support]

    def block_scores(self, out: np.ndarray, basis: sp.csr_matrix | None, plan: ScoringPlan) -> BlockScores:
        """With nulls, scores are the set term plus the control term (kept for the nulls)."""
        if basis is None:
            return BlockScores(out)
        k = plan.n_signatures
        control = out[:, k:2 * k]
        return BlockScores(out[:, :k] + control, basis=basis, control=control)
