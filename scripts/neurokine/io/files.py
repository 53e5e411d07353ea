"""Atomic, deterministic reading and writing of tables, YAML and AnnData files."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from neurokine.errors import InputError

# anndata and pandas are imported where used: the config and registry checks import this module
# at Snakefile parse time, which every cluster job repeats, and need only read_yaml.
if TYPE_CHECKING:
    import anndata as ad
    import pandas as pd

#: Floats are written with 10 significant digits: enough for any statistic we report, and
#: immune to last-bit differences between CPUs, so reruns stay byte-identical.
FLOAT_FORMAT = "%.10g"


def _current_umask() -> int:
    """The process umask (mkstemp files are 0600; outputs should get normal permissions)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_siblings(path: str | os.PathLike[str]) -> list[Path]:
    """Temporaries `atomic_path` made for `path` (`.<name>.<random><suffix>` beside it)."""
    final = Path(path)
    return sorted(final.parent.glob(f".{glob.escape(final.name)}.*"))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path that is renamed onto `path` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # A writer killed with SIGKILL (or by a node failure) never reaches `finally`, so its
    # temporary stays behind. One job writes a given output at a time, so any temporary of
    # this path that exists now is such debris: remove it before writing again.
    for stale in temporary_siblings(final):
        stale.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


#: The column that names a table's cell-type level (fine or lineage).
LEVEL_COLUMN = "level"


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike[str], sort_by: Sequence[str],
              level: str | None = None) -> None:
    """Write a sorted TSV atomically with a fixed float format and no index (with a cell-type
    `level`, the table's level column holds it, first unless the table places it)."""
    ordered = frame.sort_values(list(sort_by), kind="mergesort").reset_index(drop=True)
    if level is not None and LEVEL_COLUMN in ordered.columns:
        ordered[LEVEL_COLUMN] = level
    elif level is not None:
        ordered.insert(0, LEVEL_COLUMN, level)
    with atomic_path(path) as tmp:
        ordered.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def read_tsv(path: str | os.PathLike[str], keep_level: bool = True) -> pd.DataFrame:
    """Read a TSV written by `write_tsv`; only empty fields are missing (a label 'NA' stays text).

    `keep_level=False` drops the cell-type level column: a rule works within one level, and a
    constant column would only get in the way of its merges.
    """
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    return frame if keep_level else frame.drop(columns=[LEVEL_COLUMN], errors="ignore")


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_h5ad(adata: ad.AnnData, path: str | os.PathLike[str]) -> None:
    """Write an AnnData atomically (compressed), so a half-written .h5ad never exists."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp, compression="gzip")


def read_h5ad(path: str | os.PathLike[str], backed: bool = False) -> ad.AnnData:
    """Read an .h5ad, turning a truncated or corrupt file into an error that names it."""
    import anndata as ad

    try:
        return ad.read_h5ad(path, backed="r" if backed else None)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(
            str(path), "file", f"cannot be read as an .h5ad file ({type(exc).__name__}: {exc})",
            "re-create or re-download the file; a truncated download is the usual cause",
        ) from exc


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a Parquet table atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=True, compression="zstd")


def write_npz(arrays: dict, path: str | os.PathLike[str]) -> None:
    """Write named numpy arrays (numbers or fixed-width text, never objects) atomically."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def read_npz(path: str | os.PathLike[str]) -> dict:
    """Read the arrays `write_npz` wrote (no pickled objects are ever loaded)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(str(path), "file", f"cannot be read as .npz ({exc})",
                         "re-create it by re-running the rule that writes it") from exc


def read_yaml(path: str | os.PathLike[str]) -> object:
    """Parse a YAML file safely (no arbitrary objects), naming the file on a syntax error."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise InputError(str(path), "file", "does not exist", "check the path") from exc
    except yaml.YAMLError as exc:
        raise InputError(str(path), "YAML syntax", str(exc).replace("\n", " "),
                         "fix the YAML at the line shown") from exc


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
