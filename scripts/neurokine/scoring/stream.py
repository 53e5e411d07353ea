"""Bounded-memory passes over prepared .h5ad files: scores, detection and sample aggregates.

Files are opened with h5py and their matrices read in row blocks through anndata's backed
sparse datasets. A first pass over X gathers gene statistics (means for control genes and null
signatures, detected genes for ``weighted``) and the scoring plan is built from them; this pass
runs over every shard of a dataset, in plan order (`plan_from_files`). A second pass per file
(`score_file`, one job per shard) reads X and the raw counts of each block once and feeds the
scoring engine, the per-cell writers and the sample x cell-type accumulators, whose sums it
returns in additive form (GroupState). Nothing cells x genes is ever held whole, so peak memory
follows the block size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Sequence

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.files import atomic_path
from neurokine.scoring import kernels
from neurokine.scoring.aggregate import AggregateTables, GroupState, StreamingAggregate
from neurokine.scoring.checks import check_counts, check_var_names
from neurokine.scoring.detection import Feature, cell_detection
from neurokine.scoring.engine import iter_scores, log_skipped
from neurokine.scoring.genestats import GeneStats, gene_statistics_of
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.plan import GeneSets, ScoringPlan, build_plan
from neurokine.scoring.rows import BackedRows, row_blocks

log = logging.getLogger(__name__)


class ParquetBlocks:
    """Write a table block by block (one row group each) into an atomic Parquet file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._context = atomic_path(path)
        self._tmp = self._context.__enter__()
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append one block (its index is stored, as `DataFrame.to_parquet` stores it)."""
        table = pa.Table.from_pandas(frame, preserve_index=True)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table)

    def close(self, ok: bool, empty: pd.DataFrame | None = None) -> None:
        """Finish the file and move it into place (ok) or throw it away (not ok); a file that
        got no block is written from `empty` (a frame with the columns, and no rows)."""
        if self._writer is None and ok and empty is not None:
            self.write(empty)
        if self._writer is not None:
            self._writer.close()
        if ok:
            self._context.__exit__(None, None, None)
        else:
            self._context.__exit__(RuntimeError, RuntimeError("aborted"), None)


@dataclasses.dataclass
class StreamResult:
    """Everything the pass produced, as tables (the caller writes them)."""

    coverage: pd.DataFrame
    null_sets: pd.DataFrame
    donor_scores: pd.DataFrame
    cell_counts: pd.DataFrame
    gene_detection: pd.DataFrame | None
    receptor_detection: pd.DataFrame
    null_calibration: pd.DataFrame
    pseudobulk: object | None
    n_cells: int
    n_blocks: int


@dataclasses.dataclass
class FileResult:
    """The second pass over one file: its groups' sums (additive) and how it was read."""

    state: GroupState
    n_cells: int
    n_blocks: int


def read_obs_var(handle: h5py.File, source: str) -> tuple[pd.DataFrame, pd.Index]:
    """The obs table and the gene names of an open .h5ad (small; read whole)."""
    from anndata.io import read_elem

    for key in ("obs", "var"):
        if key not in handle:
            raise InputError(source, key, "is missing", "pass an .h5ad written by anndata")
    obs = read_elem(handle["obs"])
    var = read_elem(handle["var"])
    return obs, check_var_names(var.index, source)


def open_prepared(handle: h5py.File, source: str, counts_key: str | None) -> tuple[
        pd.DataFrame, pd.Index, BackedRows, BackedRows | None]:
    """obs, gene names, X and (unless `counts_key` is None) the raw counts of a prepared .h5ad."""
    obs, var_names = read_obs_var(handle, source)
    for column in ("sample_id", "cell_type"):
        if column not in obs.columns:
            raise InputError(source, f"obs.{column}", "required column is missing",
                             "score the prepared .h5ad of the workflow")
    values = BackedRows(handle, "X", source)
    counts = None if counts_key is None else BackedRows(handle, counts_key, source)
    if counts is not None and counts.shape != values.shape:
        raise InputError(source, counts_key, f"shape {counts.shape} differs from X "
                         f"{values.shape}", "keep raw counts aligned with X")
    return obs, var_names, values, counts


def plan_from_files(paths: Sequence[str | os.PathLike[str]], gene_sets: GeneSets,
                    params: ScoringParams) -> tuple[ScoringPlan, GeneStats, pd.Index]:
    """Gene statistics over the X of every file (in the order given, as one dataset) and the
    scoring plan built once from them; the files must have the same genes."""
    var_names = None
    with contextlib.ExitStack() as stack:
        sources = []
        for path in paths:
            handle = stack.enter_context(h5py.File(path, "r"))
            _, names = read_obs_var(handle, str(path))
            if var_names is None:
                var_names = names
            elif not names.equals(var_names):
                raise InputError(str(path), "var_names", "differ from the first shard's "
                                 f"({paths[0]})", "prepare every shard with one gene list")
            values = BackedRows(handle, "X", str(path))
            sources.append((values, row_blocks(values, params.chunk_nnz)))
        if var_names is None:
            raise InputError("scoring", "files", "no prepared file given", "pass at least one")
        stats = gene_statistics_of(sources, var_names)
    plan = build_plan(gene_sets, var_names, stats, params)
    log_skipped(plan)
    if plan.n_signatures == 0:
        raise InputError(str(paths[0]), "signatures", "no signature could be scored (see the "
                         "reasons in the coverage table)", "check gene names and "
                         "scoring.min_gene_coverage")
    return plan, stats, var_names


def score_file(path: str | os.PathLike[str], plan: ScoringPlan, plan_genes: pd.Index,
               features: Sequence[Feature], lr_genes: Sequence[str], *,
               cell_scores_path: str | os.PathLike[str] | None = None,
               cell_detection_path: str | os.PathLike[str] | None = None,
               threads: int | None = None, counts_key: str | None = "layers/counts") -> FileResult:
    """Second pass over one prepared file with a given plan: per-cell outputs and group sums.

    With ``counts_key=None`` only X is read: scores and their group sums, no pseudobulk or
    count-based detection (used to measure scoring alone).
    """
    kernels.set_threads(threads)
    source = str(path)
    writers = {name: ParquetBlocks(p) for name, p in
               (("scores", cell_scores_path), ("detection", cell_detection_path)) if p is not None}
    ok = False
    try:
        with h5py.File(path, "r") as handle:
            obs, var_names, values, counts = open_prepared(handle, source, counts_key)
            if not var_names.equals(plan_genes):
                raise InputError(source, "var_names", "differ from the genes the scoring plan "
                                 "was built on", "score every shard of one prepared dataset")
            aggregate = StreamingAggregate(obs, var_names, plan.signatures, plan.params.n_null,
                                           features, lr_genes)
            n_blocks = 0
            for start, stop, block, scores in iter_scores(values, plan):
                raw = None
                if counts is not None:
                    raw = counts.read(start, stop)
                    check_counts(raw, var_names, source, counts_key)
                aggregate.add(start, stop, block, raw, scores)
                index = pd.Index(obs.index[start:stop], name="cell_id")
                if "scores" in writers:
                    writers["scores"].write(pd.DataFrame(scores.real, index=index,
                                                         columns=plan.signatures))
                if "detection" in writers:
                    detected = cell_detection(block, var_names, features)
                    writers["detection"].write(detected.set_axis(index, axis=0))
                n_blocks += 1
            log.info("scored %d cells x %d signatures (%s, %d nulls each) in %d blocks",
                     values.shape[0], plan.n_signatures, plan.method.name, plan.params.n_null,
                     n_blocks)
            state = aggregate.state(plan, with_counts=counts is not None)
        ok = True
        return FileResult(state, values.shape[0], n_blocks)
    finally:
        nothing = pd.Index([], name="cell_id", dtype=object)
        empty = {"scores": pd.DataFrame(np.zeros((0, plan.n_signatures)), index=nothing,
                                        columns=plan.signatures),
                 "detection": None}
        if ok and "detection" in writers:
            blank = sp.csr_matrix((0, len(plan_genes)), dtype=np.float32)
            empty["detection"] = cell_detection(blank, plan_genes, features).set_axis(nothing)
        for name, writer in writers.items():
            writer.close(ok, empty[name])


def score_and_aggregate(path: str | os.PathLike[str], gene_sets: GeneSets, features: Sequence[Feature],
                        lr_genes: Sequence[str], params: ScoringParams, *,
                        cell_scores_path: str | os.PathLike[str] | None = None,
                        cell_detection_path: str | os.PathLike[str] | None = None,
                        cell_types: Sequence[str] | None = None, threads: int | None = None,
                        counts_key: str | None = "layers/counts") -> StreamResult:
    """Score every signature and aggregate per sample x cell type in two passes over `path`
    (one file, one plan: the unsharded case of `plan_from_files` + `score_file`).

    With ``counts_key=None`` only X is read: scores and their group means, no pseudobulk or
    count-based detection (used to measure scoring alone).
    """
    kernels.set_threads(threads)
    plan, _stats, var_names = plan_from_files([path], gene_sets, params)
    result = score_file(path, plan, var_names, features, lr_genes,
                        cell_scores_path=cell_scores_path, cell_detection_path=cell_detection_path,
                        threads=threads, counts_key=counts_key)
    tables = AggregateTables(result.state, features)
    with_counts = counts_key is not None
    return StreamResult(
        coverage=plan.coverage, null_sets=plan.null_sets, donor_scores=tables.donor_scores(),
        cell_counts=tables.cell_counts(cell_types),
        gene_detection=tables.gene_detection() if with_counts else None,
        receptor_detection=tables.receptor_detection(),
        null_calibration=tables.null_calibration(),
        pseudobulk=tables.pseudobulk() if with_counts else None,
        n_cells=result.n_cells, n_blocks=result.n_blocks)
