"""The hooks a scoring method implements: a method is one object, and the plan and passes call it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.scoring import kernels
from neurokine.scoring.genestats import GeneStats
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.sampling import ExpressionBins

if TYPE_CHECKING:
    from neurokine.scoring.plan import ScoringPlan

NO_GENES = np.array([], dtype=np.int64)

#: One column of a weight matrix: gene positions and their weights.
Column = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass
class BlockScores:
    """Scores of one row block.

    ``real`` is cells x signatures. A linear method's null group means are formed later from
    group sums of ``basis`` (the values it weighs, e.g. UCell strengths, on the genes the nulls
    use) and of ``control`` (``mean``: each cell's control-gene term); a method that is not
    linear (``weighted``: t-values) returns its null scores per cell in ``null`` (cells x
    signatures x n_null).
    """

    real: np.ndarray
    null: np.ndarray | None = None
    basis: sp.csr_matrix | None = None
    control: np.ndarray | None = None


@dataclasses.dataclass
class GroupSums:
    """Per-group sums of the null parts of BlockScores, from which the method forms null means."""

    null: np.ndarray | None = None
    basis: np.ndarray | None = None
    control: np.ndarray | None = None

    def add(self, member: sp.csr_matrix, scores: BlockScores) -> None:
        """Add one block's parts, summed by the groups x cells membership matrix `member`."""
        null = None if scores.null is None else scores.null.reshape(member.shape[1], -1)
        for name, part in (("null", null), ("basis", scores.basis), ("control", scores.control)):
            if part is not None:
                total = member @ part
                total = total.toarray() if sp.issparse(total) else np.asarray(total)
                current = getattr(self, name)
                setattr(self, name, total if current is None else current + total)


@dataclasses.dataclass(frozen=True)
class PlanContext:
    """What a method may consult while planning: genes, their statistics, bins and settings."""

    var_names: pd.Index
    stats: GeneStats
    bins: ExpressionBins
    params: ScoringParams
    #: genes the method scores over (bool per gene); signatures and nulls are drawn inside it
    universe: np.ndarray
    #: genes of any signature being scored (bool per gene): never another set's control gene
    signature_genes: np.ndarray | None = None

    @property
    def n_universe(self) -> int:
        """Number of genes in the universe."""
        return int(self.universe.sum())


@dataclasses.dataclass
class SignatureColumns:
    """The scored signatures as columns: gene positions and curated weights, controls, nulls."""

    sets: list[Column] = dataclasses.field(default_factory=list)
    controls: list[np.ndarray] = dataclasses.field(default_factory=list)
    #: ``n_null`` per signature, signature-major
    nulls: list[Column] = dataclasses.field(default_factory=list)


class ScoringMethod:
    """One scoring method: subclass it, set `name`, implement the hooks, `register` an instance.

    Planning calls `universe` once, then per signature `controls` and `skip_reason`, then
    `build` once with the scored signatures; the row-block pass calls `score_block` per block;
    null calibration calls `null_group_sums` with the group sums of the blocks' null parts
    (each shard's, added up by the gather step, are then divided by the group sizes).
    A method whose score is linear in the data (`LinearMethod`) only gives its gene weight.
    """

    #: the value of `scoring.method` that selects it
    name: ClassVar[str]
    #: whether signed (or zero) gene weights are meaningful; if not, they are refused
    signed: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<scoring method {self.name!r}>"

    def universe(self, stats: GeneStats) -> np.ndarray:
        """Genes the method scores over (default: every gene of the data)."""
        return np.ones(len(stats.sums), dtype=bool)

    def controls(self, genes: np.ndarray, context: PlanContext) -> np.ndarray:
        """Control genes of a scorable set (default: none)."""
        return NO_GENES

    def skip_reason(self, genes: np.ndarray, values: np.ndarray, controls: np.ndarray,
                    context: PlanContext) -> str:
        """Why this method cannot score a set with these genes and weights ('' if it can)."""
        return ""

    def build(self, columns: SignatureColumns, context: PlanContext) -> tuple[sp.csr_matrix, Any]:
        """The genes x columns weight matrix of the row-block product, and the method's state."""
        raise NotImplementedError

    def score_block(self, plan: ScoringPlan, block: sp.csr_matrix) -> BlockScores:
        """Scores of one CSR row block."""
        raise NotImplementedError

    def null_group_sums(self, plan: ScoringPlan, sums: GroupSums, n_groups: int) -> np.ndarray:
        """Group sums of the null scores (groups x signatures x n_null) from the sums of the
        blocks' null parts: additive over cells, so shards' sums add up to the dataset's."""
        raise NotImplementedError

    def null_group_means(self, plan: ScoringPlan, sums: GroupSums, n_cells: np.ndarray) -> np.ndarray:
        """Group means of the null scores (groups x signatures x n_null) from group sums."""
        return self.null_group_sums(plan, sums, len(n_cells)) / n_cells[:, None, None]


def weight_matrix(columns: Sequence[Column], n_genes: int) -> sp.csr_matrix:
    """Stack (gene positions, weights) columns into a genes x columns CSR matrix."""
    rows = np.concatenate([c[0] for c in columns]) if columns else np.array([], np.int64)
    vals = np.concatenate([c[1] for c in columns]) if columns else np.array([])
    cols = np.repeat(np.arange(len(columns)), [len(c[0]) for c in columns])
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n_genes, len(columns)), dtype=np.float64)
    matrix.sum_duplicates()
    return matrix


def product(block: sp.csr_matrix, data: np.ndarray, weights: sp.csr_matrix) -> np.ndarray:
    """Dense rows x columns product of a block (with `data` as its values) and the weights."""
    return kernels.csr_dense_product(block.indptr, block.indices, data, weights.indptr,
                                     weights.indices, weights.data, weights.shape[1])
