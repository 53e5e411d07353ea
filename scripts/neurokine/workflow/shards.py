"""The shard plan of a dataset: which whole samples each shard job processes.

A shard is a run of consecutive samples (in the order they first appear in the data) holding at
most `sharding.max_cells` cells; a sample is never split, so a larger sample is a shard of its
own. Shards are as few as that allows, and balanced in size. Every per-cell step runs once per
shard and gather steps combine the shards in plan order. Sample-level groups (sample x cell
type) never span two shards.

Light on purpose (no pandas, numpy or h5py): the Snakefile reads plans here while it builds the
DAG and sizes each shard job's memory, in every cluster job again.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass

#: Columns of the plan table, in order.
PLAN_COLUMNS = ("shard", "sample_id", "n_cells", "nnz", "n_genes")


@dataclass(frozen=True)
class ShardSize:
    """What a shard holds before QC: cells, stored counts (estimated for simulated data), genes,
    and the cells of its largest sample."""

    n_cells: int
    nnz: int
    n_genes: int
    largest_sample_cells: int = 0

    @property
    def count_matrix_mb(self) -> float:
        """In-memory size of the shard's raw CSR count matrix (4-byte values and indices)."""
        return (8 * self.nnz + 8 * (self.n_cells + 1)) / 2**20


def shard_id(number: int, n_shards: int) -> str:
    """Zero-padded shard id (`001`, ...), so ids sort like their numbers."""
    return str(number).zfill(max(3, len(str(n_shards))))


def _fill(cells: Sequence[int], limit: int) -> list[int]:
    """Shard numbers (from 1) when consecutive samples fill a shard until the next one would
    take it past `limit` (a larger sample is a shard of its own)."""
    numbers, current, filled = [], 0, 0
    for n in cells:
        if current == 0 or filled + n > limit:
            current, filled = current + 1, 0
        filled += n
        numbers.append(current)
    return numbers


def assign_shards(cells: Sequence[int], max_cells: int) -> list[int]:
    """Shard number (from 1) of each sample, given cells per sample in plan order.

    As few shards as consecutive samples filling up to `max_cells` need, balanced: the
    smallest limit that still needs no more shards is used, so shards come out about equal
    (no small last shard, whose jobs would cost their fixed start-up for little work).
    """
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1, not {max_cells}")
    cells = [int(n) for n in cells]
    if not cells:
        return []
    n_shards = max(_fill(cells, max_cells))
    low, high = 1, max_cells
    while low < high:  # the number of shards only falls as the limit grows
        middle = (low + high) // 2
        if max(_fill(cells, middle)) <= n_shards:
            high = middle
        else:
            low = middle + 1
    return _fill(cells, min(low, max_cells))


def plan_rows(samples: Sequence[tuple[str, int, float]], n_genes: int,
              max_cells: int) -> list[dict[str, object]]:
    """Plan rows from (sample id, cells, stored counts) in plan order."""
    ids = [s for s, _, _ in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("a sample id appears twice in the shard plan input")
    numbers = assign_shards([n for _, n, _ in samples], max_cells)
    total = max(numbers, default=0)
    return [{"shard": shard_id(k, total), "sample_id": s, "n_cells": int(n),
             "nnz": round(float(nnz)), "n_genes": int(n_genes)}
            for k, (s, n, nnz) in zip(numbers, samples, strict=True)]


def read_plan(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """The plan's rows (typed), in plan order."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or tuple(rows[0]) != PLAN_COLUMNS:
        raise ValueError(f"{path}: not a shard plan (columns {PLAN_COLUMNS} expected)")
    return [{"shard": r["shard"], "sample_id": r["sample_id"], "n_cells": int(r["n_cells"]),
             "nnz": int(r["nnz"]), "n_genes": int(r["n_genes"])} for r in rows]


def shard_ids(path: str | os.PathLike[str]) -> list[str]:
    """Shard ids in plan order."""
    return list(dict.fromkeys(str(r["shard"]) for r in read_plan(path)))


def shard_samples(path: str | os.PathLike[str], shard: str) -> list[str]:
    """Sample ids of one shard, in plan order."""
    samples = [str(r["sample_id"]) for r in read_plan(path) if r["shard"] == shard]
    if not samples:
        raise ValueError(f"{path}: no shard {shard!r}")
    return samples


def shard_size(path: str | os.PathLike[str], shard: str) -> ShardSize:
    """Cells, stored counts and genes of one shard (before QC)."""
    rows = [r for r in read_plan(path) if r["shard"] == shard]
    if not rows:
        raise ValueError(f"{path}: no shard {shard!r}")
    return ShardSize(sum(int(r["n_cells"]) for r in rows), sum(int(r["nnz"]) for r in rows),
                     int(rows[0]["n_genes"]), max(int(r["n_cells"]) for r in rows))


def largest_shard(path: str | os.PathLike[str]) -> ShardSize:
    """The shard with most stored counts (sizes the jobs that hold one shard's worth at a time)."""
    return max((shard_size(path, s) for s in shard_ids(path)), key=lambda z: (z.nnz, z.n_cells))
