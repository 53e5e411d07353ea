"""CELLxGENE-schema .h5ad files (`loader: cellxgene`): everything from the ontology columns.

A registry entry needs one `files:` item (role h5ad, `path` or `url`) plus title, citation,
licence and tissue. Per cell:
- donor from `donor_id`; sample from `sample_id` or a library column (`library_id`,
  `library_uuid`, `sample`) when present, else donor x tissue (harmonize);
- disease from `disease_ontology_term_id` (MONDO, PATO:0000461 = normal) and tissue from
  `tissue_ontology_term_id` (UBERON), resolved by ancestry in neurokine.io.harmonize;
- cell type from `cell_type_ontology_term_id` (CL) with the `cell_type` name as author label;
- sex and age from `sex_ontology_term_id` (PATO) and `development_stage_ontology_term_id`
  (HsapDv years);
- gene symbols from var `feature_name` (var is indexed by Ensembl id); raw counts from raw.X,
  or X when the file has no raw.
Registry `metadata.columns` / `constants` override any of these fields. The matrix is read in
row slices straight from the file, so the whole file is never decoded at once.

Malformed files stop with the column and the fix: a missing required column, ontology ids the
ontology does not have, normalized X without raw counts, duplicated or missing feature_name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.curated import terms
from neurokine.curated.ontology import ontology, prefix
from neurokine.errors import InputError
from neurokine.io.loaders.common import as_counts, existing, one_file, open_hdf5

#: Ontology columns: registry field they feed, the ontology their ids must come from.
TERM_COLUMNS: dict[str, tuple[str, str]] = {
    "cell_type_ontology_term_id": ("cell_type", "CL"),
    "disease_ontology_term_id": ("disease", "MONDO"),
    "tissue_ontology_term_id": ("tissue", "UBERON"),
}
#: obs columns naming a sample (sequencing library), most specific first.
SAMPLE_COLUMNS: tuple[str, ...] = ("sample_id", "library_id", "library_uuid", "sample")
#: Rows per slice when reading the matrix (layout.chunk_rows overrides).
CHUNK_ROWS = 50_000
#: Values CELLxGENE allows where a term is not known.
UNKNOWN_VALUES = frozenset({"unknown", "na"})
_SCHEMA_FIX = ("CELLxGENE-schema files name it; for another .h5ad use `loader: h5ad` with "
               "metadata.columns, or give the field in metadata.columns/constants")


def _h5ad(dataset: str, entry: Mapping, root: Path) -> Path:
    """The entry's one h5ad file, which must exist."""
    source = f"dataset {dataset}"
    return existing(dataset, one_file(entry, "h5ad", source), root, source)


def _overridden(entry: Mapping, field: str) -> bool:
    """Whether the registry gives this field itself (a column or a constant)."""
    meta = entry.get("metadata", {})
    return field in meta.get("columns", {}) or field in meta.get("constants", {})


def _check_terms(obs: pd.DataFrame, entry: Mapping, path: Path) -> None:
    """Every ontology id in a term column exists in its ontology (unless the registry maps it)."""
    overrides = {"cell_type": set(map(str, entry.get("cell_types", {}).get("map", {}))),
                 "disease": set(map(str, entry.get("disease_map", {}))),
                 "tissue": set(map(str, entry.get("metadata", {}).get("tissue_map", {})))}
    for column, (field, name) in TERM_COLUMNS.items():
        if column not in obs.columns or _overridden(entry, field):
            continue
        names = obs[field].astype(str) if field in obs.columns else obs[column].astype(str)
        counts = pd.DataFrame({"term": obs[column].astype(str), "name": names}).value_counts()
        known = ontology(name)
        bad = [(t, n, c) for (t, n), c in counts.items()
               if t not in UNKNOWN_VALUES and t not in overrides[field] and n not in overrides[field]
               and not (t in known or (field == "disease" and t == terms.NORMAL))]
        if bad:
            shown = ", ".join(f"{t!r} ({n!r}, {c} cells)" for t, n, c in bad[:4])
            where = {"cell_type": "cell_types.map", "disease": "disease_map",
                     "tissue": "metadata.tissue_map"}[field]
            raise InputError(
                str(path), f"obs.{column}",
                f"{len(bad)} id(s) not in {name} {known.version}: {shown}"
                + ("; the ids must be CL terms" if field == "cell_type" and
                   any(prefix(t) != "CL" for t, _, _ in bad) else ""),
                f"correct the ids to {name} terms (see the file's `{field}` names), or map "
                f"each one in the registry's {where} (keyed by id or name)")


def _fields(obs: pd.DataFrame, entry: Mapping, path: Path) -> pd.DataFrame:
    """The author per-cell fields harmonize reads, from the ontology columns and overrides."""
    out = pd.DataFrame(index=obs.index)
    columns = entry.get("metadata", {}).get("columns", {})
    for field, column in columns.items():
        refs = [column] if isinstance(column, str) else list(column)
        missing = [r for r in refs if r not in obs.columns]
        if missing:
            raise InputError(str(path), f"metadata.columns.{field}", f"obs has no {missing}",
                             f"name one of {list(obs.columns)[:15]}")
        values = obs[refs[0]].astype(str)
        for ref in refs[1:]:
            values = values + "_" + obs[ref].astype(str)
        out[field] = values.to_numpy()
    if "donor" not in out:
        if "donor_id" not in obs.columns and not _overridden(entry, "donor"):
            raise InputError(str(path), "obs.donor_id", "column missing: the donor of each cell "
                             "is unknown, and the donor is the unit of every test",
                             f"add donor_id to obs; {_SCHEMA_FIX}")
        if "donor_id" in obs.columns:
            out["donor"] = obs["donor_id"].astype(str).to_numpy()
    if "sample" not in out:
        sample = next((c for c in SAMPLE_COLUMNS if c in obs.columns), None)
        if sample is not None:
            out["sample"] = obs[sample].astype(str).to_numpy()
    for column, (field, _name) in TERM_COLUMNS.items():
        if field in out or _overridden(entry, field):
            continue
        if column not in obs.columns:
            if field == "cell_type" and entry.get("cell_types", {}).get("annotate") == "all":
                continue
            raise InputError(str(path), f"obs.{column}", "column missing",
                             f"add the {field} term of each cell; {_SCHEMA_FIX}")
        out[column] = obs[column].astype(str).to_numpy()
        label = obs[field] if field in obs.columns else obs[column]
        out[field] = label.astype(str).to_numpy()
    if "sex" not in out and "sex_ontology_term_id" in obs.columns:
        out["sex"] = obs["sex_ontology_term_id"].astype(str).map(terms.sex).to_numpy()
    if "age" not in out and "development_stage_ontology_term_id" in obs.columns:
        out["age"] = (obs["development_stage_ontology_term_id"].astype(str).map(terms.age)
                      .to_numpy())
    return out


def _symbols(var: pd.DataFrame, entry: Mapping, path: Path, where: str) -> np.ndarray:
    """Gene symbols: var feature_name (or layout.gene_symbols), unique and non-empty."""
    column = entry.get("layout", {}).get("gene_symbols", "feature_name")
    if column not in var.columns:
        raise InputError(str(path), f"{where}.{column}", "column missing: no gene symbols",
                         "CELLxGENE files carry feature_name next to the Ensembl index; "
                         "name the symbol column with layout.gene_symbols")
    symbols = var[column].astype(str)
    duplicated = symbols[symbols.duplicated(keep=False)]
    if len(duplicated):
        shown = sorted(duplicated.unique())[:5]
        raise InputError(str(path), f"{where}.{column}",
                         f"{duplicated.nunique()} symbol(s) name several genes, e.g. {shown}: "
                         "this is not CELLxGENE's feature_name, whose symbols are unique",
                         "use the file as CELLxGENE distributes it, or load it with `loader: "
                         "h5ad`, which sums the counts of a repeated symbol and reports it")
    return symbols.to_numpy()


def _matrix(f: h5py.File, where: str) -> object:
    """A row-sliceable view of X or raw/X (sparse dataset or dense HDF5 dataset)."""
    element = f[where]
    return ad.io.sparse_dataset(element) if isinstance(element, h5py.Group) else element


def _read_counts(matrix: object, n_rows: int, chunk: int, path: Path, where: str
                 ) -> sp.csr_matrix:
    """All rows as CSR int32, read and checked one slice at a time."""
    blocks = []
    for start in range(0, n_rows, chunk):
        block = matrix[start:min(start + chunk, n_rows)]
        try:
            blocks.append(as_counts(block, str(path), where))
        except InputError as exc:
            if where != "X":
                raise
            raise InputError(
                str(path), "X", f"{exc.problem}, and the file has no raw.X",
                "CELLxGENE files keep the raw counts in raw.X (or in X when there is no raw): "
                "use the file as CELLxGENE distributes it, or one with raw counts") from None
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, 0), dtype=np.int32)


def load_cellxgene(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """A CELLxGENE-schema .h5ad: raw counts by symbol and the author fields from its ontology
    columns (neurokine.io.harmonize resolves them)."""
    path = _h5ad(dataset, entry, root)
    with open_hdf5(path, str(path), ".h5ad",
                   "re-download it; a truncated download is the usual cause") as f:
        obs = ad.io.read_elem(f["obs"])
        where = "raw/X" if "raw" in f and "X" in f["raw"] else "X"
        var = ad.io.read_elem(f["raw/var"] if where == "raw/X" else f["var"])
        shown = "raw.var" if where == "raw/X" else "var"
        symbols = _symbols(var, entry, path, shown)
        _check_terms(obs, entry, path)
        fields = _fields(obs, entry, path)
        matrix = _matrix(f, where)
        chunk = int(entry.get("layout", {}).get("chunk_rows", CHUNK_ROWS))
        counts = _read_counts(matrix, len(obs), chunk, path, where.replace("/", "."))
    if counts.shape != (len(obs), len(var)):
        raise InputError(str(path), where.replace("/", "."), f"shape {counts.shape} does not "
                         f"match {len(obs)} cells x {len(var)} genes", "re-export the file")
    new_var = pd.DataFrame({"gene_symbols": symbols, "feature_types": "Gene Expression"},
                           index=pd.Index(var.index.astype(str)))
    adata = ad.AnnData(X=counts, obs=fields.set_axis(obs.index.astype(str)), var=new_var)
    adata.uns["neurokine_load"] = {"counts_from": where.replace("/", "."),
                                   "format": "CELLxGENE schema"}
    return adata


__all__ = ["load_cellxgene"]
