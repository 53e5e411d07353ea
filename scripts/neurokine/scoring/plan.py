"""The scoring plan every method shares (coverage, skips, null draws); the method supplies the weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.scoring.genestats import GeneStats
from neurokine.scoring.methods import METHODS, get_method
from neurokine.scoring.methods.base import (
    NO_GENES,
    BlockScores,
    Column,
    GroupSums,
    PlanContext,
    ScoringMethod,
    SignatureColumns,
)
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.sampling import ExpressionBins, null_positions
from neurokine.seeds import sub_rng

GeneSets = Mapping[str, Sequence[str] | Mapping[str, float]]


def normalize_signatures(gene_sets: GeneSets) -> dict[str, dict[str, float]]:
    """Map each signature to gene -> weight (lists weigh 1; repeated genes keep the first)."""
    out = {}
    for name, genes in gene_sets.items():
        if isinstance(genes, Mapping):
            out[str(name)] = {str(g): float(w) for g, w in genes.items()}
        else:
            out[str(name)] = {str(g): 1.0 for g in dict.fromkeys(genes)}
    return out


@dataclasses.dataclass
class ScoringPlan:
    """Everything the second pass needs: the method, its weight matrix and its state."""

    params: ScoringParams
    method: ScoringMethod
    signatures: list[str]
    #: genes x columns: the one product each row block goes through
    weights: sp.csr_matrix
    coverage: pd.DataFrame
    null_sets: pd.DataFrame
    #: whatever else the method's score_block needs (its own dataclass)
    state: Any = None

    @property
    def n_signatures(self) -> int:
        """Number of scored (not skipped) signatures."""
        return len(self.signatures)

    def score_block(self, block: sp.csr_matrix) -> BlockScores:
        """Scores of one CSR row block (see BlockScores)."""
        return self.method.score_block(self, block)

    def null_group_sums(self, sums: GroupSums, n_groups: int) -> np.ndarray:
        """Group sums of the null scores (groups x signatures x n_null) from group sums."""
        return self.method.null_group_sums(self, sums, n_groups)

    def null_group_means(self, sums: GroupSums, n_cells: np.ndarray) -> np.ndarray:
        """Group means of the null scores (groups x signatures x n_null) from group sums."""
        return self.method.null_group_means(self, sums, n_cells)


def _coverage_record(name: str, weights: Mapping[str, float], known: Mapping[str, int],
                     method: str) -> dict:
    """The coverage row of one signature before any skip decision."""
    missing = [g for g in weights if g not in known]
    n_present = len(weights) - len(missing)
    return {"signature": name, "n_genes_listed": len(weights), "n_genes_present": n_present,
            "coverage": n_present / len(weights) if len(weights) else 0.0,
            "missing_genes": ",".join(sorted(missing)),
            "n_control_genes": 0, "status": "scored", "reason": "", "method": method,
            "n_genes_scored": 0, "n_null": 0}


def _check_signs(name: str, weights: Mapping[str, float], method: ScoringMethod) -> None:
    """Methods that score unsigned gene sets refuse signed or zero weights, naming the set."""
    bad = sorted(g for g, w in weights.items() if not w > 0)
    if bad and not method.signed:
        signed = " or ".join(m for m, obj in METHODS.items() if obj.signed)
        raise InputError("signatures", name, f"method {method.name!r} scores unsigned gene sets, "
                         f"but genes {bad[:5]} have weights <= 0",
                         f"use scoring.method: {signed} for signed signatures")


def _coverage_reason(record: Mapping, params: ScoringParams) -> str:
    """Why a signature cannot be scored by any method ('' if coverage allows it)."""
    if record["n_genes_present"] == 0:
        return "no gene of the signature is in the data"
    if record["coverage"] < params.min_coverage:
        return (f"gene coverage {record['coverage']:.2f} is below "
                f"scoring.min_gene_coverage={params.min_coverage}")
    return ""


def _draw_nulls(name: str, genes: np.ndarray, values: np.ndarray, controls: np.ndarray,
                context: PlanContext) -> list[Column]:
    """`n_null` size- and bin-matched null columns of one signature (its own weights reused)."""
    allowed = context.universe.copy()
    allowed[genes] = False
    preferred = allowed.copy()
    preferred[controls] = False
    draws = null_positions(genes, context.bins, allowed, preferred, context.params.n_null,
                           sub_rng(context.params.random_state, name))
    return [(drawn[drawn >= 0], values[drawn >= 0]) for drawn in draws]


def _null_rows(name: str, nulls: Sequence[Column], var_names: pd.Index) -> list[dict]:
    """The rows of the null-signature table for one signature."""
    return [{"signature": name, "null": j, "n_genes": len(genes), "genes": ",".join(var_names[genes])}
            for j, (genes, _) in enumerate(nulls)]


def _assess(name: str, weights: Mapping[str, float], method: ScoringMethod, context: PlanContext,
            position: Mapping[str, int]) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """One signature's coverage record (scored, or skipped with a reason), genes, weights, controls."""
    _check_signs(name, weights, method)
    record = _coverage_record(name, weights, position, method.name)
    genes = np.array([position[g] for g in weights if g in position], dtype=np.int64)
    genes = genes[context.universe[genes]]
    values = np.array([weights[context.var_names[g]] for g in genes], dtype=np.float64)
    reason = _coverage_reason(record, context.params)
    controls = NO_GENES if reason else method.controls(genes, context)
    reason = reason or method.skip_reason(genes, values, controls, context)
    if reason:
        record.update(status="skipped", reason=reason)
    else:
        record.update(n_control_genes=len(controls), n_genes_scored=len(genes),
                      n_null=context.params.n_null)
    return record, genes, values, controls


def build_plan(gene_sets: GeneSets, var_names: pd.Index, stats: GeneStats,
               params: ScoringParams) -> ScoringPlan:
    """Turn signatures into the method's weight matrix (skipped sets say why) and null sets."""
    method = get_method(params.method)
    var_names = pd.Index(var_names)
    position = {g: i for i, g in enumerate(var_names)}
    signatures = normalize_signatures(gene_sets)
    listed = np.zeros(len(var_names), dtype=bool)
    listed[[position[g] for weights in signatures.values() for g in weights if g in position]] = True
    context = PlanContext(var_names, stats, ExpressionBins(stats.means, var_names, params.n_bins),
                          params, method.universe(stats), listed)
    kept, coverage, null_rows, columns = [], [], [], SignatureColumns()
    for name, weights in signatures.items():
        record, genes, values, controls = _assess(name, weights, method, context, position)
        coverage.append(record)
        if record["status"] != "scored":
            continue
        kept.append(name)
        columns.sets.append((genes, values))
        columns.controls.append(controls)
        if params.n_null:
            nulls = _draw_nulls(name, genes, values, controls, context)
            columns.nulls += nulls
            null_rows += _null_rows(name, nulls, var_names)
    null_sets = pd.DataFrame(null_rows, columns=["signature", "null", "n_genes", "genes"])
    weights, state = method.build(columns, context)
    return ScoringPlan(params, method, kept, weights, pd.DataFrame(coverage), null_sets, state)
