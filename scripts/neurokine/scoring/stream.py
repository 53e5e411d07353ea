"""One bounded-memory pass over a prepared .h5ad: scores, detection and sample aggregates.

The file is opened with h5py and its matrices read in row blocks through anndata's backed
sparse datasets: a first pass over X gathers gene statistics (means for control genes and null
signatures, detected genes for ``weighted``), a second pass reads X and the raw counts of each
block once and feeds the scoring engine, the per-cell writers and the sample x cell-type
accumulators. Nothing cells x genes is ever held whole, so peak memory follows the block size.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import h5py
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neurokine.errors import InputError
from neurokine.io.files import atomic_path
from neurokine.scoring import kernels
from neurokine.scoring.aggregate import StreamingAggregate, cell_counts
from neurokine.scoring.checks import check_counts, check_var_names
from neurokine.scoring.detection import Feature, cell_detection
from neurokine.scoring.engine import iter_scores, plan_scoring
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.plan import GeneSets
from neurokine.scoring.rows import BackedRows

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

    def close(self, ok: bool) -> None:
        """Finish the file and move it into place (ok) or throw it away (not ok)."""
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


def score_and_aggregate(path: str | os.PathLike[str], gene_sets: GeneSets, features: Sequence[Feature],
                        lr_genes: Sequence[str], params: ScoringParams, *,
                        cell_scores_path: str | os.PathLike[str] | None = None,
                        cell_detection_path: str | os.PathLike[str] | None = None,
                        cell_types: Sequence[str] | None = None, threads: int | None = None,
                        counts_key: str | None = "layers/counts") -> StreamResult:
    """Score every signature and aggregate per sample x cell type in one pass over `path`.

    With ``counts_key=None`` only X is read: scores and their group means, no pseudobulk or
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
            plan, _stats = plan_scoring(values, var_names, gene_sets, params)
            if plan.n_signatures == 0:
                raise InputError(source, "signatures", "no signature could be scored (see the "
                                 "reasons in the coverage table)", "check gene names and "
                                 "scoring.min_gene_coverage")
            aggregate = StreamingAggregate(obs, var_names, plan.signatures, params.n_null,
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
                     values.shape[0], plan.n_signatures, plan.method.name, params.n_null, n_blocks)
        result = StreamResult(
            coverage=plan.coverage, null_sets=plan.null_sets,
            donor_scores=aggregate.donor_scores(), cell_counts=cell_counts(obs, cell_types),
            gene_detection=aggregate.gene_detection() if counts is not None else None,
            receptor_detection=aggregate.receptor_detection(),
            null_calibration=aggregate.null_calibration(plan),
            pseudobulk=aggregate.pseudobulk() if counts is not None else None,
            n_cells=values.shape[0], n_blocks=n_blocks)
        ok = True
        return result
    finally:
        for writer in writers.values():
            writer.close(ok)
