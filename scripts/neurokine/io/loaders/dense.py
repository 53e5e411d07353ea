"""Dense text count tables (genes x cells, or cells x genes): one file, or one per library.

Tables are streamed in row chunks into sparse counts. Gene row names that repeat (a symbol
listed twice, as R's write.csv keeps them) get a `#2`, `#3`... suffix on the feature id while
`gene_symbols` keeps the symbol, so harmonize sums them like any duplicated symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.loaders.annotations import attach, read_annotations, sep_for
from neurokine.io.loaders.common import (
    Archive,
    archives_of,
    as_counts,
    concat_libraries,
    existing,
    files_of,
    library_table,
    one_file,
    open_text,
    tag_library,
)
from neurokine.io.loaders.features import GENE_EXPRESSION, unique_ids


def _columns(path: Path, sep: str, source: str) -> list[str]:
    """Column names of a dense table, with or without a header field for the row names."""
    with open_text(path) as handle:
        header = handle.readline().rstrip("\n\r").split(sep)
        first = handle.readline().rstrip("\n\r").split(sep)
    header = [h.strip('"') for h in header]
    if len(first) == len(header) + 1:      # R write.csv/write.table without a row-name field
        return header
    if len(first) == len(header):
        return header[1:]
    raise InputError(source, "header", f"{len(header)} header fields but {len(first)} in the "
                     "first row", f"check the separator (layout.sep, now {sep!r})")


def _rows(path: Path, sep: str, chunk_rows: int, source: str
          ) -> tuple[sp.csr_matrix | None, list[str]]:
    """All rows as sparse counts (validated chunk by chunk) and their names."""
    blocks, names = [], []
    reader = pd.read_csv(path, sep=sep, header=None, skiprows=1, index_col=0,
                         chunksize=chunk_rows, dtype={0: str},
                         compression="gzip" if path.suffix == ".gz" else None)
    for i, chunk in enumerate(reader):
        values = sp.csr_matrix(chunk.to_numpy(dtype=np.float64, na_value=np.nan))
        what = f"rows {i * chunk_rows + 1}-{i * chunk_rows + len(chunk)}"
        blocks.append(as_counts(values, source, what))
        names.extend(chunk.index.astype(str))
    return (sp.vstack(blocks).tocsr() if blocks else None), names


def read_dense(path: Path, sep: str, chunk_rows: int = 1000, transpose: bool = False,
               source: str | None = None) -> ad.AnnData:
    """Dense genes x cells text table (gzip ok), streamed in row chunks into sparse counts."""
    source = source or str(path)
    columns = _columns(path, sep, source)
    matrix, rows = _rows(path, sep, chunk_rows, source)
    matrix = sp.csr_matrix((0, len(columns)), dtype=np.int32) if matrix is None else matrix
    if matrix.shape[1] != len(columns):
        raise InputError(source, "columns", f"{matrix.shape[1]} values per row but "
                         f"{len(columns)} header names", "check the file")
    cells, genes, counts = ((rows, columns, matrix) if transpose
                            else (columns, rows, matrix.T.tocsr()))
    var = pd.DataFrame({"gene_symbols": genes, "feature_types": GENE_EXPRESSION},
                       index=pd.Index(unique_ids(genes), dtype=str))
    return ad.AnnData(X=counts, obs=pd.DataFrame(index=pd.Index(cells, dtype=str)), var=var)


def _libraries_in(archive: Archive, layout: Mapping, source: str,
                  notes: dict) -> list[ad.AnnData]:
    """One dense table per library inside an archive, tagged with its sample."""
    members = {m: m for m in archive.names() if not m.endswith(("/", ".json", ".png"))}
    parts = []
    for member, info in library_table(members, layout, source, notes):
        local = archive.extract([member])[member]
        lib = read_dense(local, sep_for(layout, Path(member)), layout.get("chunk_rows", 1000),
                         layout.get("transpose", False), f"{archive.path}:{member}")
        parts.append(tag_library(lib, info))
    return parts


def load_dense_matrix(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """Dense genes x cells CSV/TXT: one file, or one per library inside an archive."""
    source = f"dataset {dataset}"
    layout, notes = entry.get("layout", {}), {}
    with archives_of(dataset, entry, root, source) as archives:
        if files_of(entry, "matrix"):
            path = existing(dataset, one_file(entry, "matrix", source), root, source)
            adata = read_dense(path, sep_for(layout, path), layout.get("chunk_rows", 1000),
                               layout.get("transpose", False), str(path))
        else:
            adata = concat_libraries([lib for name, archive in archives.items()
                                      for lib in _libraries_in(archive, layout,
                                                               f"{source}/{name}", notes)])
        cells = read_annotations(dataset, entry, root, archives, source)
    adata = attach(adata, cells, entry, source, notes)
    adata.uns["neurokine_load"] = notes
    return adata
