"""Methods whose score is a weighted sum of cell values, so null group means come from group sums."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from neurokine.scoring.methods.base import (
    BlockScores,
    Column,
    GroupSums,
    PlanContext,
    ScoringMethod,
    SignatureColumns,
    product,
    weight_matrix,
)
from neurokine.scoring.params import ScoringParams

if TYPE_CHECKING:
    from neurokine.scoring.plan import ScoringPlan


@dataclasses.dataclass
class LinearState:
    """Genes the nulls use and their (support x signatures*n_null) weights; None without nulls."""

    null_support: np.ndarray | None
    null_weights: sp.csr_matrix | None


class LinearMethod(ScoringMethod):
    """A score = sum over a set's genes of gene_weight(set size) x the cell's value."""

    def gene_weight(self, n_genes: int, params: ScoringParams) -> float:
        """The weight of each of a set's `n_genes` genes."""
        raise NotImplementedError

    def values(self, block: sp.csr_matrix, plan: ScoringPlan) -> np.ndarray:
        """The per-entry values the weights apply to (default: the block's own)."""
        return block.data

    def basis(self, block: sp.csr_matrix, values: np.ndarray, plan: ScoringPlan) -> sp.csr_matrix:
        """`values` on the genes the nulls use, for their group sums."""
        matrix = sp.csr_matrix((values, block.indices, block.indptr), shape=block.shape)
        return matrix[:, plan.state.null_support]

    def weighted(self, column: Column, params: ScoringParams) -> Column:
        """A set's genes with this method's (uniform) gene weights."""
        genes, values = column
        n = len(values)
        return genes, (values if n == 0 else np.full(n, self.gene_weight(n, params)))

    def signature_columns(self, columns: SignatureColumns, context: PlanContext) -> list[Column]:
        """The columns of the per-cell product (default: one per signature)."""
        return [self.weighted(c, context.params) for c in columns.sets]

    def build(self, columns: SignatureColumns, context: PlanContext) -> tuple[sp.csr_matrix, LinearState]:
        """Signature columns for the per-cell product; null columns over their own genes."""
        weights = weight_matrix(self.signature_columns(columns, context), len(context.var_names))
        if not context.params.n_null:
            return weights, LinearState(None, None)
        support = np.unique(np.concatenate([g for g, _ in columns.nulls] + [np.array([], np.int64)]))
        local = np.full(len(context.var_names), -1, dtype=np.int64)
        local[support] = np.arange(len(support))
        null_weights = weight_matrix([self.weighted((local[g], v), context.params)
                                      for g, v in columns.nulls], len(support))
        return weights, LinearState(support, null_weights)

    def block_scores(self, out: np.ndarray, basis: sp.csr_matrix | None, plan: ScoringPlan) -> BlockScores:
        """BlockScores from the product (default: its columns are the signatures' scores)."""
        return BlockScores(out, basis=basis)

    def score_block(self, plan: ScoringPlan, block: sp.csr_matrix) -> BlockScores:
        """One product of the block's values with the weights; the basis of the nulls."""
        values = self.values(block, plan)
        out = product(block, values, plan.weights)
        basis = self.basis(block, values, plan) if plan.params.n_null else None
        return self.block_scores(out, basis, plan)

    def null_group_sums(self, plan: ScoringPlan, sums: GroupSums, n_groups: int) -> np.ndarray:
        """Null weights applied to the group sums of the basis (plus any control term)."""
        k, n_null = plan.n_signatures, plan.params.n_null
        if sums.basis is None:  # no cell was added (an empty shard)
            return np.zeros((n_groups, k, n_null))
        total = np.asarray(plan.state.null_weights.T @ sums.basis.T).T.reshape(n_groups, k, n_null)
        if sums.control is not None:
            total = total + sums.control[:, :, None]
        return total
