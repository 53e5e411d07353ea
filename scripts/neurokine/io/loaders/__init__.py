"""Read deposit files into AnnData with raw integer counts and the deposit's own per-cell fields.

One module per deposit format (mex: per-library and merged 10x MEX; dense: text tables;
h5ad; tenx_h5: Cell Ranger / CellBender HDF5; cellxgene: CELLxGENE-schema h5ad, read through
its ontology columns), sharing `common` (registry files, archives,
count validation, library naming), `annotations` (per-barcode author tables) and `features`
(feature types and genomes of 10x files). `load_dataset` dispatches on the registry's loader.

Every loader returns an AnnData whose
- X is a CSR matrix of raw integer counts (int32), cells x features;
- var index is the feature id as deposited, with `gene_symbols` (symbol when the features file
  gives one; repeated symbols kept, harmonize sums them) and `feature_types` (non-gene
  features kept, harmonize removes and reports them);
- obs holds the *author* values of the per-cell fields that exist in the deposit, under the
  names donor, sample, tissue, disease, cell_type, sex, age, batch (strings; mapping to the
  canonical vocabulary happens in neurokine.io.harmonize);
- uns["neurokine_load"] records what was read and what was left out (and why).

Loaders refuse normalized input: any negative or non-integer value where counts are required
raises an InputError naming the file (`common.as_counts`, the one count check).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import anndata as ad

from neurokine.errors import InputError
from neurokine.io.loaders.annotations import FIELDS
from neurokine.io.loaders.cellxgene import load_cellxgene
from neurokine.io.loaders.common import as_counts, require_counts
from neurokine.io.loaders.dense import load_dense_matrix
from neurokine.io.loaders.h5ad import load_h5ad
from neurokine.io.loaders.mex import load_mex_merged, load_mex_per_sample
from neurokine.io.loaders.tenx_h5 import load_tenx_h5

#: Registry `loader` value -> function(dataset, entry, root) returning the loaded AnnData.
LOADERS: dict[str, Callable[[str, Mapping, Path], ad.AnnData]] = {
    "mex_per_sample": load_mex_per_sample,
    "mex_merged": load_mex_merged,
    "dense_matrix": load_dense_matrix,
    "h5ad": load_h5ad,
    "tenx_h5": load_tenx_h5,
    "cellxgene": load_cellxgene,
}


def load_dataset(dataset: str, entry: Mapping, root: str | Path = "resources/downloads"
                 ) -> ad.AnnData:
    """Dispatch on the registry loader and return raw counts plus author per-cell fields."""
    loader = entry["loader"]
    if loader == "metadata_only":
        raise InputError(f"dataset {dataset}", "loader", "metadata-only: no count matrix is "
                         f"deposited. {' '.join(entry.get('status_note', '').split())}",
                         "remove it from the selected datasets")
    if loader not in LOADERS:
        raise InputError(f"dataset {dataset}", "loader", f"{loader!r} is not a file loader",
                         f"use one of {sorted(LOADERS)}")
    adata = LOADERS[loader](dataset, entry, Path(root))
    if adata.n_obs == 0:
        raise InputError(f"dataset {dataset}", "cells", "no cells were loaded",
                         "check the files and the annotation join")
    if not adata.obs_names.is_unique:
        adata.obs_names_make_unique()
    return adata


__all__ = ["FIELDS", "LOADERS", "as_counts", "load_dataset", "require_counts"]
