"""10x HDF5 count files read with h5py: Cell Ranger v3+, Cell Ranger v2 and CellBender outputs.

Layouts (features x barcodes, compressed sparse columns, i.e. one column per barcode):
- Cell Ranger >= 3 and CellBender: group `matrix` with barcodes, data, indices, indptr, shape
  and `features/{id,name,feature_type,genome}`. CellBender adds groups of its own
  (droplet_latents, global_latents, metadata), which are not read.
- Cell Ranger 2: one group per genome (e.g. `GRCh38`) with barcodes, data, indices, indptr,
  shape, genes (ids) and gene_names; no feature types.
The matrix is read in blocks of barcodes (cells) into output arrays allocated once, so memory
stays at the output plus one block; each block is validated as counts before it is kept.
Symbols are kept as deposited (repeats included: harmonize sums them); non-gene features are
kept with their type for harmonize to remove and report; other genomes' genes are dropped here
(see features.select_genome).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.loaders.annotations import attach, read_annotations
from neurokine.io.loaders.common import archives_of, as_counts, existing, one_file, open_hdf5
from neurokine.io.loaders.features import choose_genome, feature_table, select_genome

#: Stored values read per block (~4 M: ~50 MB of transient arrays whatever the cell depth).
BLOCK_VALUES = 1 << 22
_MATRIX_PARTS = ("barcodes", "data", "indices", "indptr", "shape")
#: Groups CellBender writes beside `matrix`; their presence names the producer in the notes.
CELLBENDER_GROUPS = ("droplet_latents", "global_latents", "metadata")


def _text(dataset: h5py.Dataset) -> np.ndarray:
    """A string dataset (fixed-width bytes or variable-length) as Python strings."""
    return np.asarray(dataset.asstr()[()], dtype=object).astype(str)


def _v2_groups(f: h5py.File) -> list[str]:
    """Cell Ranger 2 genome groups: top-level groups holding a matrix with `genes`."""
    return sorted(name for name, item in f.items() if isinstance(item, h5py.Group)
                  and "genes" in item and all(part in item for part in _MATRIX_PARTS))


def _v3_var(group: h5py.Group) -> pd.DataFrame:
    """Feature table of a Cell Ranger 3+ / CellBender `matrix` group."""
    features = group["features"]
    optional = {key: _text(features[key]) if key in features else None
                for key in ("feature_type", "genome")}
    return feature_table(_text(features["id"]), _text(features["name"]),
                         optional["feature_type"], optional["genome"])


def _layout(f: h5py.File, wanted: str | None, source: str
            ) -> tuple[h5py.Group, pd.DataFrame, str, dict[str, int]]:
    """The matrix group to read, its features, the layout name and other v2 genomes' sizes."""
    if "matrix" in f and "features" in f["matrix"]:
        kind = ("cellbender" if any(g in f for g in CELLBENDER_GROUPS)
                else "cellranger_v3")
        return f["matrix"], _v3_var(f["matrix"]), kind, {}
    groups = _v2_groups(f)
    if not groups:
        raise InputError(source, "HDF5 layout", "has neither a `matrix` group with `features` "
                         "(Cell Ranger 3+, CellBender) nor a genome group with `genes` "
                         f"(Cell Ranger 2); top-level entries: {sorted(f)[:10]}",
                         "point the registry at a filtered_feature_bc_matrix.h5 (or "
                         "filtered_gene_bc_matrices_h5.h5), or use the h5ad loader for .h5ad")
    name = choose_genome(groups, wanted, source)  # several groups need layout.genome
    assert name is not None
    group = f[name]
    others = {g: int(f[g]["genes"].shape[0]) for g in groups if g != name}
    genomes = np.full(group["genes"].shape[0], name, dtype=object)
    return group, feature_table(_text(group["genes"]), _text(group["gene_names"]), None,
                                genomes), "cellranger_v2", others


def _check_shape(group: h5py.Group, n_features: int, n_cells: int, source: str) -> np.ndarray:
    """indptr of the matrix, after checking it against shape, barcodes, features and data."""
    shape = tuple(int(x) for x in group["shape"][()])
    indptr = group["indptr"][()].astype(np.int64)
    consistent = (shape == (n_features, n_cells) and len(indptr) == n_cells + 1
                  and indptr[-1] == group["data"].shape[0] == group["indices"].shape[0])
    if not consistent:
        raise InputError(source, "matrix shape",
                         f"shape {shape}, {n_features} features, {n_cells} barcodes, "
                         f"{len(indptr)} indptr entries and {group['data'].shape[0]} values "
                         "do not fit together",
                         "re-download the file; a truncated or hand-edited file is the usual "
                         "cause")
    return indptr


def _blocks(indptr: np.ndarray, block_values: int) -> list[tuple[int, int]]:
    """Consecutive cell ranges holding about block_values stored values each (>= 1 cell)."""
    n_cells = len(indptr) - 1
    cuts = np.searchsorted(indptr, np.arange(block_values, indptr[-1], block_values))
    edges = np.unique(np.concatenate([[0], np.clip(cuts, 1, n_cells), [n_cells]]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def read_cells(group: h5py.Group, indptr: np.ndarray, keep: np.ndarray, source: str,
               block_values: int = BLOCK_VALUES) -> sp.csr_matrix:
    """cells x kept features as validated CSR int32, read one block of barcodes at a time."""
    # The output arrays are allocated once at the file's number of values and filled block by
    # block, so the peak is the output plus one block (never a list of blocks and their copy).
    columns = np.flatnonzero(keep)
    index_dtype = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    data = np.empty(int(indptr[-1]), dtype=np.int32)
    indices = np.empty(int(indptr[-1]), dtype=index_dtype)
    out_ptr = np.zeros(len(indptr), dtype=index_dtype)
    filled = 0
    for start, stop in _blocks(indptr, block_values):
        lo, hi = int(indptr[start]), int(indptr[stop])
        rows = sp.csr_matrix((group["data"][lo:hi], group["indices"][lo:hi],
                              indptr[start:stop + 1] - lo), shape=(stop - start, len(keep)))
        if len(columns) < len(keep):
            rows = rows[:, columns]
        rows = as_counts(rows, source, f"cells {start + 1}-{stop}")
        data[filled:filled + rows.nnz], indices[filled:filled + rows.nnz] = rows.data, rows.indices
        out_ptr[start + 1:stop + 1] = filled + rows.indptr[1:]
        filled += rows.nnz
    return sp.csr_matrix((data[:filled], indices[:filled], out_ptr),
                         shape=(len(indptr) - 1, len(columns)))


def read_tenx_h5(path: Path, genome: str | None = None, source: str | None = None,
                 block_values: int = BLOCK_VALUES) -> tuple[ad.AnnData, dict]:
    """A 10x HDF5 file -> AnnData (cells x features, raw counts) and notes on what was read."""
    source = source or str(path)
    with open_hdf5(path, source, "HDF5", "re-download it; a truncated download is the usual cause") as f:
        group, var, kind, others = _layout(f, genome, source)
        barcodes = _text(group["barcodes"])
        indptr = _check_shape(group, len(var), len(barcodes), source)
        notes: dict = {"h5_layout": kind}
        keep, var = select_genome(var, genome, source, notes)
        if others:
            notes["features_other_genomes"] = others
        counts = read_cells(group, indptr, keep, source, block_values)
    adata = ad.AnnData(X=counts, obs=pd.DataFrame(index=pd.Index(barcodes, dtype=str)), var=var)
    return adata, notes


def load_tenx_h5(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """A 10x HDF5 (one library); per-cell fields from constants or annotation tables."""
    source = f"dataset {dataset}"
    path = existing(dataset, one_file(entry, "h5", source), root, source)
    adata, notes = read_tenx_h5(path, entry.get("layout", {}).get("genome"), str(path))
    with archives_of(dataset, entry, root, source) as archives:
        cells = read_annotations(dataset, entry, root, archives, source)
    adata = attach(adata, cells, entry, source, notes)
    adata.uns["neurokine_load"] = notes
    return adata
