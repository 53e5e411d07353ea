"""Entry points of one-pass scoring: a plan from gene statistics, then scores row block by row block."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.scoring import kernels
from neurokine.scoring.checks import check_var_names
from neurokine.scoring.genestats import GeneStats, gene_statistics
from neurokine.scoring.methods.base import BlockScores
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.plan import GeneSets, ScoringPlan, build_plan
from neurokine.scoring.rows import CHUNK_NNZ, MemoryRows, RowSource, row_blocks

log = logging.getLogger(__name__)


def plan_scoring(rows: RowSource, var_names: Sequence[str], gene_sets: GeneSets,
                 params: ScoringParams) -> tuple[ScoringPlan, GeneStats]:
    """First pass over the rows (gene statistics), then the weight matrix."""
    names = check_var_names(var_names, rows.source)
    if len(names) != rows.shape[1]:
        raise InputError(rows.source, "var_names", f"{len(names)} names for {rows.shape[1]} genes",
                         "pass one name per matrix column")
    stats = gene_statistics(rows, names, row_blocks(rows, params.chunk_nnz))
    plan = build_plan(gene_sets, names, stats, params)
    log_skipped(plan)
    return plan, stats


def log_skipped(plan: ScoringPlan) -> None:
    """Warn once about the signatures the plan could not score (and why)."""
    skipped = plan.coverage[plan.coverage["status"] != "scored"]
    if len(skipped):  # one line, not one per signature: a sparse gene panel skips dozens
        log.warning("%d of %d signatures not scored (the coverage table says why): %s", len(skipped),
                    len(plan.coverage), "; ".join(f"{r.signature} ({r.reason})"
                                                  for r in skipped.itertuples()))


def iter_scores(rows: RowSource, plan: ScoringPlan) -> Iterator[
        tuple[int, int, sp.csr_matrix, BlockScores]]:
    """Second pass: (start, stop, block, its scores) for each row block."""
    n_out = plan.weights.shape[1] + plan.n_signatures
    for start, stop in row_blocks(rows, plan.params.chunk_nnz, n_out):
        block = rows.read(start, stop)
        yield start, stop, block, plan.score_block(block)


def score_cells(matrix: sp.spmatrix | np.ndarray, var_names: Sequence[str], gene_sets: GeneSets, *,
                method: str = "mean", ctrl_size: int = 50, n_bins: int = 25, random_state: int = 0,
                control_pool: str = "scanpy",
                min_coverage: float = 0.0, max_rank: int = 1500, chunk_nnz: int = CHUNK_NNZ,
                threads: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score all gene sets per cell of an in-memory matrix; return scores and coverage."""
    kernels.set_threads(threads)
    params = ScoringParams(method=method, ctrl_size=ctrl_size, n_bins=n_bins, control_pool=control_pool,
                           random_state=random_state, min_coverage=min_coverage,
                           max_rank=max_rank, n_null=0, chunk_nnz=chunk_nnz)
    rows = MemoryRows(matrix)
    plan, _ = plan_scoring(rows, var_names, gene_sets, params)
    out = np.empty((rows.shape[0], plan.n_signatures))
    for start, stop, _block, scores in iter_scores(rows, plan):
        out[start:stop] = scores.real
    return pd.DataFrame(out, columns=plan.signatures), plan.coverage
