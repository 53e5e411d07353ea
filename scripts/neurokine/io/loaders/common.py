"""What every loader shares: registry file lookup, archive access, count validation, libraries.

Archives (tar, tar.gz, zip) are read member by member into a temporary directory next to the
download; member names never become paths (no traversal). `as_counts` is the one place where a
matrix is checked to hold raw counts and converted to the loaders' CSR int32 form.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import anndata as ad
import h5py
import numpy as np
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.registry import file_location

# ------------------------------------------------------------------------- registry files


def files_of(entry: Mapping, role: str) -> list[dict]:
    """Registry file entries of one role that the loader reads."""
    return [f for f in entry.get("files", []) if f["role"] == role and f.get("load", True)
            and "archive" not in f]


def one_file(entry: Mapping, role: str, source: str) -> dict:
    """The single file of a role, or an error naming the entry."""
    files = files_of(entry, role)
    if len(files) != 1:
        raise InputError(source, "files", f"expected exactly one file with role {role!r}, "
                         f"found {len(files)}", "fix the registry entry")
    return files[0]


def existing(dataset: str, spec: Mapping, root: Path, source: str) -> Path:
    """Location of a file entry, which must exist."""
    path = file_location(dataset, spec, root)
    if not path.exists():
        raise InputError(source, f"files[{spec['name']}]", f"{path} does not exist",
                         "run the fetch step first (snakemake fetches it), or place the file "
                         "there by hand, or correct `path`")
    return path


# --------------------------------------------------------------------------- file access


def open_hdf5(path: Path, source: str, what: str, fix: str) -> h5py.File:
    """Open an HDF5 file for reading, or raise an InputError naming the file and the fix."""
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(source, "file", f"cannot be read as {what} ({exc})", fix) from exc


def open_text(path: Path) -> io.TextIOBase:
    """Open a possibly gzip-compressed text file."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def open_binary(path: Path) -> BinaryIO:
    """Open a possibly gzip-compressed file for binary reading."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _member_names(path: Path) -> tuple[str, list[str]]:
    """Kind (dir, zip, tar) and sorted file members of a directory or archive."""
    if path.is_dir():
        return "dir", sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return "zip", sorted(i.filename for i in zf.infolist() if not i.is_dir())
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:*") as tf:
            return "tar", sorted(m.name for m in tf.getmembers() if m.isfile())
    raise InputError(str(path), "file", "is neither a directory, a tar nor a zip archive",
                     "re-download it (a truncated download is the usual cause) or "
                     "point the registry at the right file")


class Archive:
    """Uniform member access to a directory, tar (any compression) or zip file."""

    def __init__(self, path: Path, workdir: Path) -> None:
        self.path, self.workdir = path, workdir
        self.kind, self._names = _member_names(path)

    def names(self) -> list[str]:
        """Member paths (files only), sorted."""
        return list(self._names)

    def extract(self, wanted: list[str]) -> dict[str, Path]:
        """Materialise the wanted members as files; return member name -> local path."""
        if self.kind == "dir":
            return {name: self.path / name for name in wanted}
        targets = {name: self.workdir / f"m{i:06d}{''.join(Path(name).suffixes[-2:])}"
                   for i, name in enumerate(wanted)}
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                for name, target in targets.items():
                    with zf.open(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
            return targets
        out: dict[str, Path] = {}
        # One sequential pass: compressed tars do not support random access cheaply.
        with tarfile.open(self.path, "r:*") as tf:
            for member in tf:
                if member.name in targets:
                    src = tf.extractfile(member)
                    assert src is not None
                    with src, open(targets[member.name], "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    out[member.name] = targets[member.name]
        return out


@contextlib.contextmanager
def workdir(near: Path) -> Iterator[Path]:
    """A temporary directory next to the data (same disk), removed afterwards."""
    parent = near.parent if near.exists() else Path(tempfile.gettempdir())
    try:
        tmp = tempfile.mkdtemp(prefix=".neurokine-extract-", dir=parent)
    except OSError:  # read-only data directory (e.g. shared storage): fall back to /tmp
        tmp = tempfile.mkdtemp(prefix=".neurokine-extract-")
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def archives_of(dataset: str, entry: Mapping, root: Path, source: str
                ) -> Iterator[dict[str, Archive]]:
    """Every `archive` file of an entry opened for member access, by registry name."""
    specs = {f["name"]: f for f in entry.get("files", []) if f["role"] == "archive"}
    with contextlib.ExitStack() as stack:
        opened = {}
        for name, spec in specs.items():
            path = existing(dataset, spec, root, source)
            opened[name] = Archive(path, stack.enter_context(workdir(path)))
        yield opened


# --------------------------------------------------------------------------- count checks


def require_counts(matrix: sp.spmatrix | np.ndarray, source: str, what: str = "matrix") -> None:
    """Raise if any stored value is negative or non-integer (i.e. not raw counts)."""
    data = matrix.data if sp.issparse(matrix) else np.asarray(matrix).ravel()
    if data.size == 0:
        return
    if np.issubdtype(data.dtype, np.integer):
        bad = data < 0
        not_finite = np.zeros(0, dtype=bool)
    else:
        not_finite = ~np.isfinite(data)
        with np.errstate(invalid="ignore"):
            bad = (data < 0) | (data != np.round(data)) | not_finite
    if not bad.any():
        return
    if not_finite.any():
        # NaN/inf are damage, not normalization: say so, so nobody hunts for a raw layer.
        raise InputError(source, what,
                         f"holds {int(not_finite.sum())} NaN or infinite values "
                         f"(e.g. {data[np.flatnonzero(not_finite)[0]]!r}), so it is not a "
                         "count matrix",
                         "re-export the raw UMI counts; NaN/inf usually come from a "
                         "failed conversion or a division in preprocessing")
    raise InputError(source, what,
                     f"holds {int(bad.sum())} non-integer or negative values "
                     f"(e.g. {data[np.flatnonzero(bad)[0]]!r}): it looks normalized or "
                     "log-transformed, not raw counts",
                     "point the registry at the raw UMI count file (for h5ad set "
                     "layout.counts to raw.X or layers/<name> holding counts)")


def as_counts(matrix: sp.spmatrix | np.ndarray, source: str, what: str = "matrix"
              ) -> sp.csr_matrix:
    """Validate a cells x features matrix as raw counts and return it as CSR int32."""
    matrix = sp.csr_matrix(matrix)
    require_counts(matrix, source, what)
    if matrix.data.size and matrix.data.max() > np.iinfo(np.int32).max:
        raise InputError(source, what, "holds counts above 2^31", "check the file")
    matrix = matrix.astype(np.int32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


# ------------------------------------------------------------------------------ libraries


def library_table(groups: Mapping[str, object], layout: Mapping, source: str,
                  notes: dict) -> list[tuple[str, dict[str, str]]]:
    """Match library prefixes to sample_regex; exclude on purpose, fail on the unmatched."""
    regex = re.compile(layout.get("sample_regex", r"^(?P<sample>.+?)[_/.-]*$"))
    exclude = re.compile(layout["exclude_regex"]) if "exclude_regex" in layout else None
    matched, unmatched, excluded = [], [], []
    for prefix in sorted(groups):
        if exclude is not None and exclude.search(prefix):
            excluded.append(prefix)
            continue
        found = regex.search(prefix)
        if not found:
            unmatched.append(prefix)
            continue
        info = {k: v for k, v in found.groupdict().items() if v is not None}
        info.setdefault("sample", prefix.strip("_/.-") or "library")
        matched.append((prefix, info))
    _check_libraries(matched, unmatched, regex, source)
    notes["libraries"] = len(matched)
    notes["libraries_excluded"] = excluded
    return matched


def _check_libraries(matched: list[tuple[str, dict]], unmatched: list[str],
                     regex: re.Pattern, source: str) -> None:
    """Every library matched, at least one found, and one sample per library."""
    if unmatched:
        raise InputError(source, "layout.sample_regex",
                         f"{len(unmatched)} librar{'y' if len(unmatched) == 1 else 'ies'} do not "
                         f"match {regex.pattern!r}: {unmatched[:5]}",
                         "adjust sample_regex, or list them in layout.exclude_regex to skip them")
    if not matched:
        raise InputError(source, "files", "no library found in the archive/directory",
                         "check that the file is the deposit's per-library archive")
    samples = [info["sample"] for _, info in matched]
    if len(set(samples)) != len(samples):
        raise InputError(source, "layout.sample_regex", "two libraries map to the same sample",
                         "make the `sample` group unique per library")


def tag_library(lib: ad.AnnData, info: Mapping[str, str]) -> ad.AnnData:
    """Prefix barcodes with the library's sample and copy its sample/donor/tissue into obs."""
    lib.obs_names = [f"{info['sample']}:{b}" for b in lib.obs_names]
    for field in ("sample", "donor", "tissue"):
        if field in info:
            lib.obs[field] = info[field]
    return lib


def concat_libraries(parts: list[ad.AnnData]) -> ad.AnnData:
    """Concatenate libraries; genes missing from a library count as zero."""
    if len(parts) == 1:
        return parts[0]
    merged = ad.concat(parts, join="outer", merge="first", fill_value=0)
    merged.X = sp.csr_matrix(merged.X).astype(np.int32)
    return merged
