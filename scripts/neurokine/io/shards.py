"""Reading and writing the cells of one shard: whole samples of an .h5ad, row range by row range.

`sample_sizes` reads only obs and X's row pointers (never X) to plan the shards;
`read_samples` reads the rows of some samples (contiguous row ranges through anndata's backed
sparse datasets); `CountsWriter` streams rows into a new .h5ad block by block, so a shard is
written without holding it whole.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.files import atomic_path
from neurokine.io.loaders.common import open_hdf5

#: Elements per HDF5 chunk of the matrices CountsWriter writes (1 MB of 4-byte values).
CHUNK_ELEMENTS = 2**18


def _read_obs(handle: h5py.File, source: str) -> pd.DataFrame:
    """The obs table of an open .h5ad."""
    from anndata.io import read_elem

    if "obs" not in handle:
        raise InputError(source, "obs", "is missing", "pass an .h5ad written by anndata")
    return read_elem(handle["obs"])


def _row_pointers(handle: h5py.File, key: str, source: str) -> tuple[np.ndarray | None, int]:
    """Row pointers (None for a dense matrix) and number of genes of the matrix at `key`."""
    if key not in handle:
        raise InputError(source, key, "is missing", "pass an .h5ad with raw counts in X")
    element = handle[key]
    if isinstance(element, h5py.Dataset):
        return None, int(element.shape[1])
    encoding = element.attrs.get("encoding-type", "")
    if encoding != "csr_matrix":
        raise InputError(source, key, f"is stored as {encoding or 'an unknown encoding'}, so it "
                         "cannot be read sample by sample", "re-write the file with X as CSR")
    return np.asarray(element["indptr"][:], dtype=np.int64), int(element.attrs["shape"][1])


def sample_sizes(path: str | os.PathLike[str], key: str = "X") -> tuple[
        list[tuple[str, int, float]], int]:
    """(sample id, cells, stored counts) per sample in order of first appearance, and the number
    of genes, from obs and X's row pointers only (X itself is never read)."""
    source = str(path)
    with h5py.File(path, "r") as handle:
        obs = _read_obs(handle, source)
        if "sample_id" not in obs.columns:
            raise InputError(source, "obs.sample_id", "required column is missing",
                             "map a column of the deposit onto 'sample_id' in the registry")
        indptr, n_genes = _row_pointers(handle, key, source)
    samples = obs["sample_id"].astype(str).to_numpy()
    per_row = (np.diff(indptr) if indptr is not None
               else np.full(len(samples), n_genes, dtype=np.int64))
    order, codes = np.unique(samples, return_inverse=True)
    cells = np.bincount(codes, minlength=len(order))
    stored = np.bincount(codes, weights=per_row, minlength=len(order))
    first = np.full(len(order), len(samples))
    np.minimum.at(first, codes, np.arange(len(samples)))
    return [(str(order[i]), int(cells[i]), float(stored[i])) for i in np.argsort(first)], n_genes


def sample_rows(sample_ids: Sequence[str] | np.ndarray, samples: Sequence[str]) -> np.ndarray:
    """Rows of the given samples: sample by sample in the given order, each in file order."""
    labels = np.asarray(sample_ids).astype(str)
    wanted = list(samples)
    rank = {s: i for i, s in enumerate(wanted)}
    code = np.array([rank.get(s, -1) for s in labels], dtype=np.int64)
    missing = sorted(set(wanted) - set(labels[code >= 0]))
    if missing:
        raise ValueError(f"samples not in the data: {missing[:5]}")
    rows = np.flatnonzero(code >= 0)
    return rows[np.argsort(code[rows], kind="stable")]


def runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive row ranges (start, stop) covering `rows` in their order."""
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(rows)]])
    return [(int(rows[a]), int(rows[b - 1]) + 1) for a, b in zip(starts, stops, strict=True)]


def read_samples(path: str | os.PathLike[str], samples: Sequence[str] | None = None,
                 key: str = "X") -> ad.AnnData:
    """The cells of `samples` (all when None) of an .h5ad, X read row range by row range.

    Samples come in the given order, each sample's cells in file order; obs, var and uns are
    read whole (small). Only the selected rows of X are ever read.
    """
    from anndata.io import read_elem, sparse_dataset

    source = str(path)
    with open_hdf5(path, source, "HDF5",
                   "re-create the file; a truncated write is the usual cause") as handle:
        obs = _read_obs(handle, source)
        var = read_elem(handle["var"])
        uns = read_elem(handle["uns"]) if "uns" in handle else {}
        if samples is None:
            rows = np.arange(len(obs))
        else:
            if "sample_id" not in obs.columns:
                raise InputError(source, "obs.sample_id", "required column is missing",
                                 "map a column of the deposit onto 'sample_id' in the registry")
            try:
                rows = sample_rows(obs["sample_id"].to_numpy(), samples)
            except ValueError as exc:
                raise InputError(source, "obs.sample_id", str(exc),
                                 "re-plan the shards (delete results/shards/<dataset>)") from exc
        element = handle[key]
        pieces = []
        for start, stop in runs(rows):
            if isinstance(element, h5py.Dataset):
                pieces.append(sp.csr_matrix(np.asarray(element[start:stop])))
            else:
                pieces.append(sp.csr_matrix(sparse_dataset(element)[start:stop]))
    if len(pieces) == 1:
        matrix = pieces[0]
    elif pieces:
        matrix = sp.vstack(pieces, format="csr")
        del pieces
    else:
        matrix = sp.csr_matrix((0, len(var)), dtype=np.int32)
    picked = obs.iloc[rows].copy()
    for column in picked.columns:
        if isinstance(picked[column].dtype, pd.CategoricalDtype):
            picked[column] = picked[column].cat.remove_unused_categories()
    return ad.AnnData(X=matrix, obs=picked, var=var, uns=uns)


class CountsWriter:
    """Write an .h5ad whose X (CSR) arrives in row blocks; obs, var and uns come at the end.

    The file appears at `path` only when `close(ok=True)` runs (atomic, like every output).
    """

    def __init__(self, path: str | os.PathLike[str], n_genes: int, dtype: np.dtype) -> None:
        self._context = atomic_path(path)
        self._tmp: Path = self._context.__enter__()
        self._handle = h5py.File(self._tmp, "w")
        self.n_genes, self.n_rows, self.nnz = int(n_genes), 0, 0
        group = self._handle.create_group("X")
        group.attrs["encoding-type"] = "csr_matrix"
        group.attrs["encoding-version"] = "0.1.0"
        options = {"maxshape": (None,), "chunks": (CHUNK_ELEMENTS,), "compression": "gzip"}
        self._data = group.create_dataset("data", shape=(0,), dtype=dtype, **options)
        self._indices = group.create_dataset("indices", shape=(0,), dtype=np.int32, **options)
        self._indptr = group.create_dataset("indptr", data=np.zeros(1, np.int64), **options)

    def append(self, block: sp.csr_matrix) -> None:
        """Add rows (a CSR block over the same genes)."""
        if block.shape[1] != self.n_genes:
            raise ValueError(f"block has {block.shape[1]} genes, the file {self.n_genes}")
        nnz, rows = int(block.nnz), int(block.shape[0])
        for dataset, values in ((self._data, block.data), (self._indices, block.indices)):
            dataset.resize((self.nnz + nnz,))
            dataset[self.nnz:] = values
        self._indptr.resize((self.n_rows + rows + 1,))
        self._indptr[self.n_rows + 1:] = block.indptr[1:].astype(np.int64) + self.nnz
        self.nnz += nnz
        self.n_rows += rows

    def close(self, ok: bool, obs: pd.DataFrame | None = None, var: pd.DataFrame | None = None,
              uns: dict | None = None) -> None:
        """Write obs, var and uns and move the file into place (ok), or throw it away."""
        from anndata.io import write_elem

        try:
            if ok:
                if obs is None or var is None or len(obs) != self.n_rows:
                    raise ValueError(f"obs must have one row per written cell ({self.n_rows})")
                self._handle["X"].attrs["shape"] = np.array([self.n_rows, self.n_genes])
                self._handle.attrs["encoding-type"] = "anndata"
                self._handle.attrs["encoding-version"] = "0.1.0"
                write_elem(self._handle, "obs", obs)
                write_elem(self._handle, "var", var)
                write_elem(self._handle, "uns", uns or {})
                for name in ("layers", "obsm", "obsp", "varm", "varp"):
                    write_elem(self._handle, name, {})
        except BaseException:
            ok = False
            raise
        finally:
            self._handle.close()
            if ok:
                self._context.__exit__(None, None, None)
            else:
                self._context.__exit__(RuntimeError, RuntimeError("aborted"), None)
