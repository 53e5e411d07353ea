"""Cells x genes matrices read in row blocks (in memory or from an .h5ad), so memory follows the block."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.scoring.checks import as_csr

log = logging.getLogger(__name__)

#: Non-zeros read per row block: bounds the memory of one block (~50 bytes per non-zero).
CHUNK_NNZ = 2_000_000
#: Cap on rows x output columns per block, so the dense block of scores stays <= 32 MB.
CHUNK_VALUES = 4_000_000


class RowSource:
    """Row-block access to a cells x genes matrix; `read(start, stop)` returns CSR."""

    def __init__(self, shape: tuple[int, int], indptr: np.ndarray | None, source: str,
                 field: str) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.indptr = indptr
        self.source = source
        self.field = field

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows start:stop as an in-memory CSR matrix."""
        raise NotImplementedError


class MemoryRows(RowSource):
    """Row blocks of an in-memory matrix (converted to CSR once if needed)."""

    def __init__(self, matrix: sp.spmatrix | sp.sparray | np.ndarray, source: str = "matrix",
                 field: str = "X") -> None:
        self.matrix = as_csr(matrix, source, field)
        super().__init__(self.matrix.shape, self.matrix.indptr, source, field)

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows start:stop as a CSR view sharing the matrix's arrays (no copy)."""
        m = self.matrix
        first, last = m.indptr[start], m.indptr[stop]
        block = sp.csr_matrix((stop - start, m.shape[1]), dtype=m.dtype)
        block.data, block.indices = m.data[first:last], m.indices[first:last]
        block.indptr = m.indptr[start:stop + 1] - first
        return block


class BackedRows(RowSource):
    """Row blocks of a matrix stored in an open .h5ad (HDF5) file, read block by block.

    CSR is read through `anndata.io.sparse_dataset` (row slices read only those rows), dense
    arrays row by row. A CSC matrix cannot be read by rows, so it is loaded and converted once,
    with a warning: re-write such a file as CSR to keep memory bounded.
    """

    def __init__(self, handle: h5py.File, key: str, source: str) -> None:
        from anndata.io import sparse_dataset

        if key not in handle:
            raise InputError(source, key, "is missing from the file",
                             "score the prepared .h5ad (X = log-normalized, layers/counts = counts)")
        element = handle[key]
        self._dense = self._memory = self._backed = None
        if isinstance(element, h5py.Dataset):
            self._dense = element
            log.info("%s: %s is a dense array; each row block is converted to CSR", source, key)
            super().__init__(element.shape, None, source, key)
            return
        encoding = element.attrs.get("encoding-type", "")
        if encoding == "csc_matrix":
            log.warning("%s: %s is stored as CSC; converting it to CSR once in memory (row blocks "
                        "need CSR; re-write the file as CSR to keep memory bounded)", source, key)
            self._memory = sp.csr_matrix(sparse_dataset(element).to_memory())
            super().__init__(self._memory.shape, self._memory.indptr, source, key)
            return
        if encoding != "csr_matrix":
            raise InputError(source, key, f"has unsupported encoding {encoding!r}",
                             "store the matrix as CSR (anndata's default for sparse X)")
        self._backed = sparse_dataset(element)
        super().__init__(self._backed.shape, np.asarray(element["indptr"][:]), source, key)

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows start:stop read from disk (only those rows' stored entries)."""
        if self._backed is not None:
            return sp.csr_matrix(self._backed[start:stop])
        if self._memory is not None:
            return self._memory[start:stop]
        return sp.csr_matrix(np.asarray(self._dense[start:stop]))


def row_blocks(rows: RowSource, chunk_nnz: int = CHUNK_NNZ, n_columns: int = 1) -> list[tuple[int, int]]:
    """Split the rows into blocks of at most `chunk_nnz` non-zeros and CHUNK_VALUES outputs."""
    n_rows, n_genes = rows.shape
    max_rows = max(1, CHUNK_VALUES // max(1, n_columns))
    if rows.indptr is None:
        step = max(1, min(max_rows, chunk_nnz // max(1, n_genes)))
        return [(s, min(s + step, n_rows)) for s in range(0, n_rows, step)]
    indptr = np.asarray(rows.indptr, dtype=np.int64)
    blocks, start = [], 0
    while start < n_rows:
        limit = indptr[start] + chunk_nnz
        stop = int(np.searchsorted(indptr, limit, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, n_rows)
        blocks.append((start, stop))
        start = stop
    return blocks
