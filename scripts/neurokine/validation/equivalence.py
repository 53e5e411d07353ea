"""Do two runs of the workflow give the same tables? Used to check that the shard size changes
nothing but floating-point summation order (tests and benchmarks/bench_workflow.py)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from neurokine.io.files import read_tsv

#: Relative difference allowed between two runs' numbers (summation order only).
RTOL = 1e-9
#: Absolute slack for numbers that are zero up to rounding (1e-17 against 0 is not a change).
ATOL = 1e-12
#: Tables that describe how a run was split, not what it found: they differ by design.
PLAN_TABLES = ("shards/", "/qc/shard-", "benchmarks/")


def result_tables(root: str | os.PathLike[str]) -> list[str]:
    """Every TSV under root/results that a run's findings are in, relative to root."""
    base = Path(root)
    return sorted(str(p.relative_to(base)) for p in (base / "results").rglob("*.tsv")
                  if not any(part in str(p.relative_to(base)) for part in PLAN_TABLES))


def frame_differences(reference: pd.DataFrame, other: pd.DataFrame, rtol: float = RTOL,
                      atol: float = ATOL) -> list[str]:
    """Columns whose values differ beyond the tolerance (numbers) or at all (text)."""
    if list(reference.columns) != list(other.columns):
        return [f"columns {list(reference.columns)} != {list(other.columns)}"]
    if len(reference) != len(other):
        return [f"{len(reference)} rows != {len(other)} rows"]
    problems = []
    for column in reference.columns:
        a, b = reference[column], other[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
            same_nan = np.isnan(x) == np.isnan(y)
            with np.errstate(invalid="ignore"):
                close = (np.abs(x - y) <= rtol * np.maximum(np.abs(x), np.abs(y)) + atol) | (x == y)
            bad = ~(same_nan & (close | np.isnan(x)))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                problems.append(f"{column}: {bad.sum()} values, e.g. row {i}: {x[i]!r} != {y[i]!r}")
        elif not a.astype(str).equals(b.astype(str)):
            problems.append(f"{column}: text differs")
    return problems


def table_differences(reference: str | os.PathLike[str], other: str | os.PathLike[str],
                      tables: Iterable[str] | None = None, rtol: float = RTOL,
                      atol: float = ATOL) -> dict[str, list[str]]:
    """Per table (relative path), how two run directories differ; empty when they agree.

    Without `tables`, every result table of either run is compared (one missing is a difference).
    """
    names = sorted(set(tables) if tables is not None
                   else set(result_tables(reference)) | set(result_tables(other)))
    out = {}
    for name in names:
        first, second = Path(reference) / name, Path(other) / name
        if not (first.is_file() and second.is_file()):
            out[name] = [f"missing in {'the reference' if not first.is_file() else 'the other run'}"]
            continue
        problems = frame_differences(read_tsv(first), read_tsv(second), rtol, atol)
        if problems:
            out[name] = problems
    return out
