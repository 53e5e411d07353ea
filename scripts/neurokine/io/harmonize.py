"""Harmonize a loaded deposit to the neurokine AnnData contract and report every label mapping.

Output contract (results/loaded/<dataset>.h5ad):
- X: CSR raw integer counts (int32), cells x genes; var index = unique gene symbols;
  var["gene_ids"] = the deposit's feature id(s) behind each symbol (";"-joined).
- obs (categorical strings): donor_id, sample_id, disease, tissue, cell_type,
  cell_type_ontology_term_id, author_cell_type, dataset_id, plus author_disease,
  cell_type_source (author | markers | none) and, where the deposit has them, sex, age, batch.
  Marker-annotated cells also carry annotation_confidence (float).

Gene symbols: the deposit's own features file gives the symbol for each Ensembl id (no external
lookup, so the mapping is the one the authors' reference used). Non-gene features (antibody
capture, CRISPR guides) are removed, and so are the genes of genomes other than the one the
registry's layout.genome keeps (done by the loader); both are counted in the report (for
feature rows, `n_cells` holds the number of features). Features without a symbol keep their
id. When several features share a symbol (a symbol on two Ensembl ids, or the same symbol
listed twice), their counts are summed into one column: every UMI is kept, the result stays
integer, and signature scoring (keyed by symbol) sees the symbol's total expression. Each merge
is listed in the report.

Labels: author labels are never dropped. Cell-type labels without a mapping become `unmapped`,
disease labels without a mapping become `unknown`, and both are listed in the report table
(results/loaded/<dataset>.labels.tsv) with their cell counts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.curated import terms
from neurokine.curated.cell_types import CellType, lineage_of
from neurokine.curated.hierarchy import CellTypeResolver, Resolution
from neurokine.curated.ontology import ontology
from neurokine.errors import InputError
from neurokine.io.registry import (
    CANONICAL_DISEASES,
    DOUBLET,
    OTHER,
    RESERVED_CELL_TYPES,
    UNASSIGNED,
    UNKNOWN,
    UNMAPPED,
    CellTypeTarget,
    cell_type_rules,
    is_synthetic,
)

TISSUES: tuple[str, ...] = ("CSF", "blood", "CNS")
REQUIRED_OBS: tuple[str, ...] = ("donor_id", "sample_id", "disease", "tissue", "cell_type",
                                 "cell_type_lineage", "dataset_id")
HARMONIZED_OBS: tuple[str, ...] = (*REQUIRED_OBS, "cell_type_ontology_term_id",
                                   "cell_type_lineage_ontology_term_id", "author_cell_type",
                                   "author_disease", "cell_type_source")
#: labels.tsv: one row per distinct author label (per kind) with what it became and why.
#: `resolved_by` says how (exact_map, pattern_map, vocabulary_id, cl_id, cl_name, cl_synonym, ...),
#: `term_id`/`term_name` the ontology term it reached, `ontology_id` the mapped type's own term.
REPORT_COLUMNS: list[str] = ["dataset_id", "kind", "author_label", "mapped_to", "lineage",
                             "ontology_id", "resolved_by", "term_id", "term_name", "status",
                             "note", "n_cells"]
GENE_EXPRESSION = "Gene Expression"


# ----------------------------------------------------------------------------------- genes


def harmonize_genes(adata: ad.AnnData) -> tuple[ad.AnnData, list[dict]]:
    """Symbols from the deposit's features table; sum counts of features sharing a symbol."""
    var = adata.var
    report: list[dict] = []
    types = var.get("feature_types", pd.Series(GENE_EXPRESSION, index=var.index)).astype(str)
    keep = (types == GENE_EXPRESSION).to_numpy()
    for ftype, n in types[~keep].value_counts().sort_index().items():
        report.append({"kind": "feature", "author_label": ftype, "mapped_to": "",
                       "status": "removed_not_gene_expression", "n_cells": int(n)})
    adata = adata[:, keep]
    ids = adata.var_names.astype(str).to_numpy()
    symbols = adata.var.get("gene_symbols", pd.Series(ids, index=adata.var_names))
    symbols = symbols.astype(str).to_numpy()
    missing = (symbols == "") | (symbols == "nan") | (symbols == "None")
    symbols = np.where(missing, ids, symbols)
    if missing.any():
        report.append({"kind": "feature", "author_label": "(no symbol)", "mapped_to": "feature id",
                       "status": "kept_feature_id", "n_cells": int(missing.sum())})
    uniques, inverse = np.unique(symbols, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(uniques))
    # Aggregation matrix (features x symbols): X @ A sums duplicated symbols, stays sparse.
    agg = sp.csr_matrix((np.ones(len(symbols), dtype=np.int32), (np.arange(len(symbols)), inverse)),
                        shape=(len(symbols), len(uniques)))
    X = (sp.csr_matrix(adata.X) @ agg).tocsr().astype(np.int32)
    X.sort_indices()
    gene_ids = pd.Series(ids).groupby(inverse).agg(";".join).to_numpy()
    for j in np.flatnonzero(counts > 1):
        report.append({"kind": "gene_symbol", "author_label": gene_ids[j], "mapped_to": uniques[j],
                       "status": f"summed_{counts[j]}_features", "n_cells": int(counts[j])})
    var = pd.DataFrame({"gene_ids": gene_ids}, index=pd.Index(uniques.astype(str)))
    out = ad.AnnData(X=X, obs=adata.obs.copy(), var=var, uns=dict(adata.uns))
    return out, report


def load_rows(load_notes: Mapping) -> list[dict]:
    """Report rows for what the loader left out: other genomes' genes, unannotated cells."""
    rows = [{"kind": "feature", "author_label": f"genome {genome}", "mapped_to": "",
             "status": "removed_other_genome", "n_cells": int(n)}
            for genome, n in sorted(load_notes.get("features_other_genomes", {}).items())]
    for key in ("cells_without_annotation_dropped", "cells_in_annotation_not_in_matrix"):
        if load_notes.get(key):
            rows.append({"kind": "cells", "author_label": key, "mapped_to": "",
                         "status": "dropped" if key.endswith("dropped") else "not_loaded",
                         "ontology_id": "", "n_cells": int(load_notes[key])})
    return rows


# ---------------------------------------------------------------------------- per-cell fields


def _column(adata: ad.AnnData, field: str) -> pd.Series | None:
    """An author field from obs as strings, or None if the deposit lacks it."""
    if field not in adata.obs.columns:
        return None
    return adata.obs[field].astype(str).where(adata.obs[field].notna(), UNKNOWN)


def _donors(adata: ad.AnnData, meta: Mapping, source: str) -> pd.Series:
    """Donor ids: author column or regex group or constant; optional donor_regex refinement."""
    donors = _column(adata, "donor")
    if donors is None:
        constant = meta.get("constants", {}).get("donor")
        if constant is None:
            raise InputError(source, "metadata", "no donor information for the cells",
                             "set metadata.columns.donor, a sample_regex with a donor group, or "
                             "metadata.constants.donor")
        donors = pd.Series(constant, index=adata.obs_names)
    if "donor_regex" in meta:
        rx = re.compile(meta["donor_regex"])
        mapped = {}
        for value in donors.unique():
            found = rx.search(value)
            mapped[value] = found["donor"] if found else value
        donors = donors.map(mapped)
    return donors


def _author_disease(adata: ad.AnnData, donors: pd.Series, meta: Mapping) -> pd.Series:
    """Author disease label per cell from a column, the donor table, donor regexes or a constant."""
    disease = _column(adata, "disease")
    if disease is not None:
        return disease
    if meta.get("donor_table"):
        return donors.map(meta["donor_table"]).fillna(UNKNOWN)
    rules = [(re.compile(r["pattern"]), r["label"]) for r in meta.get("disease_from_donor", [])]
    if rules:
        def label(donor: str) -> str:
            return next((lab for rx, lab in rules if rx.search(donor)), UNKNOWN)
        return donors.map({d: label(d) for d in donors.unique()})
    return pd.Series(meta.get("constants", {}).get("disease", UNKNOWN), index=adata.obs_names)


def _count_rows(kind: str, author: pd.Series, mapped: pd.Series, status: pd.Series,
                ontology: pd.Series | None = None) -> list[dict]:
    """One report row per distinct (author label, mapped label, status)."""
    frame = pd.DataFrame({"author_label": author.to_numpy(), "mapped_to": mapped.to_numpy(),
                          "status": status.to_numpy(),
                          "ontology_id": ontology.to_numpy() if ontology is not None else ""})
    grouped = frame.groupby(["author_label", "mapped_to", "status", "ontology_id"],
                            observed=True, sort=True).size()
    return [{"kind": kind, "author_label": a, "mapped_to": m, "status": s, "ontology_id": o,
             "n_cells": int(n)} for (a, m, s, o), n in grouped.items()]


def map_disease(author: pd.Series, disease_map: Mapping[str, str]) -> tuple[pd.Series, list[dict]]:
    """Canonical disease per cell (`unknown` when unmapped) and report rows."""
    lookup = {str(k): v for k, v in disease_map.items()}
    mapped = author.map(lookup).fillna(UNKNOWN)
    status = pd.Series(np.where(author.isin(list(lookup)),
                                np.where(mapped == "control", "mapped_control",
                                         np.where(mapped.isin(CANONICAL_DISEASES), "mapped",
                                                  "mapped_other")),
                                "unknown_label"), index=author.index)
    return mapped, _count_rows("disease", author, mapped, status)


def map_tissue(author: pd.Series, tissue_map: Mapping[str, str]) -> tuple[pd.Series, list[dict]]:
    """Tissue per cell (CSF | blood | CNS | unknown) and report rows."""
    lookup = {**{t: t for t in TISSUES}, **tissue_map}
    mapped = author.map(lookup).fillna(UNKNOWN)
    status = pd.Series(np.where(mapped == UNKNOWN, "unknown_label", "mapped"), index=author.index)
    return mapped, _count_rows("tissue", author, mapped, status)


def map_terms(kind: str, author: pd.Series, term_ids: pd.Series, overrides: Mapping[str, str]
              ) -> tuple[pd.Series, list[dict]]:
    """Disease (MONDO) or tissue (UBERON) per cell from the deposit's ontology ids.

    A registry override (disease_map / tissue_map keyed by the author label or the term id) wins;
    otherwise the canonical label follows from ontology ancestry (neurokine.curated.terms).
    Unknown and obsolete ids stay visible: `unknown` per cell, with the id and reason reported.
    """
    resolve = terms.disease if kind == "disease" else terms.tissue
    lookup = {str(k): v for k, v in overrides.items()}
    pairs = pd.MultiIndex.from_arrays([author.astype(str).to_numpy(),
                                       term_ids.astype(str).to_numpy()])
    codes, unique = pd.factorize(pairs, sort=True)
    rows, labels = [], []
    for (label, term), n in zip(unique, np.bincount(codes, minlength=len(unique)), strict=True):
        key = label if label in lookup else term if term in lookup else None
        found = resolve(term)
        if key is not None:
            mapped = lookup[key]
            status = ("mapped_control" if mapped == "control" else "mapped"
                      if mapped in (*CANONICAL_DISEASES, *TISSUES) else "mapped_other")
            how = f"{'disease' if kind == 'disease' else 'tissue'}_map"
        else:
            mapped, status = found.label, found.status
            how = "mondo" if kind == "disease" else "uberon"
        labels.append(mapped)
        rows.append({"kind": kind, "author_label": label, "mapped_to": mapped,
                     "ontology_id": term, "resolved_by": how, "term_id": found.term_id,
                     "term_name": found.term_name, "status": status, "note": found.note,
                     "n_cells": int(n)})
    return pd.Series(np.asarray(labels, dtype=object)[codes], index=author.index), rows


def resolve_cell_type(label: str, exact: Mapping[str, CellTypeTarget],
                      patterns: Iterable[tuple[re.Pattern, CellTypeTarget]]
                      ) -> CellTypeTarget | None:
    """The registry's mapping of one author label: exact entry first, then the first pattern."""
    if label in exact:
        return exact[label]
    return next((t for rx, t in patterns if rx.search(label)), None)


def resolve_label(label: str, term: str, exact: Mapping[str, CellTypeTarget],
                  patterns: Iterable[tuple[re.Pattern, CellTypeTarget]],
                  resolver: CellTypeResolver) -> Resolution:
    """Where one author label (with the deposit's CL id for it, or '') lands.

    Order: the registry's map or pattern (an id wins; a `cl` alone, or with an id the vocabulary
    lacks, resolves through CL), then the deposit's own CL id, then the label itself (vocabulary
    id or synonym, CL id, CL name or synonym; neurokine.curated.hierarchy).
    """
    target = resolve_cell_type(label, exact, patterns)
    if target is not None:
        how = "exact_map" if label in exact else "pattern_map"
        vocabulary = resolver.vocabulary
        if target.id in vocabulary:
            return Resolution(target.id, target.cl or vocabulary[target.id].ontology_id, how,
                              "mapped", target.note or "")
        if target.id in (OTHER, DOUBLET):
            return Resolution(target.id, target.cl or "", how, f"mapped_{target.id}",
                              target.note or "")
        if target.cl:
            found = resolver.from_term(target.cl, f"{how}_cl")
            note = (f"registry id {target.id!r} is not in the vocabulary; resolved by its cl"
                    if target.id else "")
            return dataclasses.replace(found, note="; ".join(filter(None, [note, found.note])))
        return Resolution(UNMAPPED, "", how, f"id_not_in_vocabulary:{target.id}",
                          "add the id to resources/cell_types.yaml or give the entry a cl")
    if term and term != UNKNOWN:
        return resolver.from_term(term)
    return resolver.from_label(label)


def map_cell_types(author: pd.Series, entry: Mapping, vocabulary: Mapping[str, CellType],
                   author_terms: pd.Series | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Vocabulary type, its CL id, lineage and status per cell, and one report row per label."""
    exact, patterns = cell_type_rules(entry)
    resolver = CellTypeResolver(vocabulary)
    terms = (author_terms.astype(str).to_numpy() if author_terms is not None
             else np.full(len(author), "", dtype=object))
    pairs = pd.MultiIndex.from_arrays([author.astype(str).to_numpy(), terms])
    codes, unique = pd.factorize(pairs, sort=True)
    resolved = [resolve_label(label, term, exact, patterns, resolver) for label, term in unique]
    counts = np.bincount(codes, minlength=len(unique))
    per_pair = pd.DataFrame([_cell_columns(r, vocabulary) for r in resolved])
    table = per_pair.iloc[codes].set_axis(author.index)
    rows = [{"kind": "cell_type", "author_label": label, "mapped_to": r.cell_type,
             "lineage": lineage_of(r.cell_type, vocabulary),
             "ontology_id": _ontology_of(r, vocabulary), "resolved_by": r.resolved_by,
             "term_id": r.term_id, "term_name": resolver.term_name(r.term_id),
             "status": r.status, "note": r.note, "n_cells": int(n)}
            for (label, _term), r, n in zip(unique, resolved, counts, strict=True)]
    return table, rows


def _ontology_of(found: Resolution, vocabulary: Mapping[str, CellType]) -> str:
    """The CL id a cell carries: its vocabulary type's, else the term reached, else unknown."""
    if found.cell_type in vocabulary:
        return vocabulary[found.cell_type].ontology_id
    return found.term_id if found.term_id.startswith("CL:") and ";" not in found.term_id \
        else UNKNOWN


def _cell_columns(found: Resolution, vocabulary: Mapping[str, CellType]) -> dict[str, str]:
    """The per-cell obs values of one resolution."""
    lineage = lineage_of(found.cell_type, vocabulary)
    return {"cell_type": found.cell_type, "ontology": _ontology_of(found, vocabulary),
            "lineage": lineage,
            "lineage_ontology": (vocabulary[lineage].ontology_id if lineage in vocabulary
                                 else UNKNOWN),
            "status": found.status}


# --------------------------------------------------------------------------------- harmonize


@dataclasses.dataclass
class CellTypeCalls:
    """Each cell's vocabulary type, lineage and CL terms, where they came from, and report rows."""

    types: pd.DataFrame           # cell_type, ontology, lineage, lineage_ontology (per cell)
    source: pd.Series             # author | markers | none
    confidence: pd.Series         # marker-annotation margin (NaN for author labels)
    author: pd.Series             # the deposit's label (or the CL name of its term)
    author_terms: pd.Series | None
    rows: list[dict]


def _sample_fields(adata: ad.AnnData, entry: Mapping, source: str
                   ) -> tuple[dict[str, pd.Series], list[dict]]:
    """Donor, sample, disease (author and canonical) and tissue per cell, with report rows."""
    meta = entry.get("metadata", {})
    donors = _donors(adata, meta, source)
    author_disease = _author_disease(adata, donors, meta)
    disease_terms = _column(adata, "disease_ontology_term_id")
    if disease_terms is not None:
        disease, disease_rows = map_terms("disease", author_disease, disease_terms,
                                          entry.get("disease_map", {}))
    else:
        disease, disease_rows = map_disease(author_disease, entry.get("disease_map", {}))
    tissue_author = _column(adata, "tissue")
    if tissue_author is None:
        tissue_author = pd.Series(meta.get("constants", {}).get("tissue", UNKNOWN),
                                  index=adata.obs_names)
    tissue_terms = _column(adata, "tissue_ontology_term_id")
    if tissue_terms is not None:
        tissue, tissue_rows = map_terms("tissue", tissue_author, tissue_terms,
                                        meta.get("tissue_map", {}))
    else:
        tissue, tissue_rows = map_tissue(tissue_author, meta.get("tissue_map", {}))
    samples = _column(adata, "sample")
    if samples is None:
        constant = meta.get("constants", {}).get("sample")
        samples = (pd.Series(constant, index=adata.obs_names) if constant
                   else donors + "_" + tissue)
    fields = {"donor_id": donors, "sample_id": samples, "disease": disease, "tissue": tissue,
              "author_disease": author_disease}
    return fields, [*disease_rows, *tissue_rows]


def _author_cell_types(adata: ad.AnnData, entry: Mapping, vocabulary: Mapping[str, object]
                       ) -> CellTypeCalls:
    """Cell types from the deposit's labels or CL ids (all `unmapped` when it has neither)."""
    author_ct = _column(adata, "cell_type")
    author_terms = _column(adata, "cell_type_ontology_term_id")
    if author_ct is None and author_terms is not None:
        cl = ontology("CL")
        author_ct = author_terms.map({t: cl.label(t) or t for t in author_terms.unique()})
    if author_ct is None:
        types = pd.DataFrame({"cell_type": UNMAPPED, "ontology": UNKNOWN, "lineage": UNMAPPED,
                              "lineage_ontology": UNKNOWN}, index=adata.obs_names)
        rows = [{"kind": "cell_type", "author_label": "(none in deposit)", "mapped_to": UNMAPPED,
                 "lineage": UNMAPPED, "ontology_id": UNKNOWN, "status": "no_author_labels",
                 "n_cells": adata.n_obs}]
        author_ct = pd.Series(UNKNOWN, index=adata.obs_names)
    else:
        types, rows = map_cell_types(author_ct, entry, vocabulary, author_terms)
    source = pd.Series(np.where(types["cell_type"] == UNMAPPED, "none", "author"),
                       index=adata.obs_names)
    return CellTypeCalls(types, source, pd.Series(np.nan, index=adata.obs_names), author_ct,
                         author_terms, rows)


def _annotate_from_markers(adata: ad.AnnData, calls: CellTypeCalls, mode: str, tissue: pd.Series,
                           vocabulary: Mapping[str, object], annotate_options: Mapping | None) -> None:
    """Call cells from the vocabulary's markers (`all`, or only the `unmapped`), in place."""
    from neurokine.io.annotate import annotate_cells

    mask = (np.ones(adata.n_obs, dtype=bool) if mode == "all"
            else (calls.types["cell_type"] == UNMAPPED).to_numpy())
    if not mask.any():
        return
    options = dict(annotate_options or {})
    if "compartments" not in options and set(tissue) <= {"CSF", "blood"}:
        # CSF/blood cells are never called oligodendrocytes; CNS tissue keeps every type
        # (immune cells infiltrate lesions).
        options["compartments"] = ["CSF", "blood"]
    found = annotate_cells(adata[mask], vocabulary, **options)
    idx = adata.obs_names[mask]
    columns = [_cell_columns(Resolution(c, "", "markers", "annotated"), vocabulary)
               for c in found["cell_type"]]
    for column in ("cell_type", "ontology", "lineage", "lineage_ontology"):
        calls.types.loc[idx, column] = [f[column] for f in columns]
    calls.source.loc[idx] = "markers"
    calls.confidence.loc[idx] = found["confidence"].to_numpy()
    for call, n in found["cell_type"].value_counts().sort_index().items():
        calls.rows.append({"kind": "cell_type_markers", "author_label": "(marker annotation)",
                           "mapped_to": call, "lineage": lineage_of(call, vocabulary),
                           "resolved_by": "markers",
                           "status": "annotated" if call != UNASSIGNED else "unassigned",
                           "ontology_id": "", "n_cells": int(n)})


def _harmonized_obs(adata: ad.AnnData, dataset: str, fields: Mapping[str, pd.Series],
                    calls: CellTypeCalls, annotated: bool) -> pd.DataFrame:
    """The contract's obs table (categorical strings), covariates where the deposit has them."""
    types = calls.types
    obs = pd.DataFrame({
        **{k: fields[k].to_numpy() for k in ("donor_id", "sample_id", "disease", "tissue")},
        "cell_type": types["cell_type"].to_numpy(),
        "cell_type_ontology_term_id": types["ontology"].to_numpy(),
        "cell_type_lineage": types["lineage"].to_numpy(),
        "cell_type_lineage_ontology_term_id": types["lineage_ontology"].to_numpy(),
        "author_cell_type": calls.author.to_numpy(),
        "author_disease": fields["author_disease"].to_numpy(),
        "cell_type_source": calls.source.to_numpy(), "dataset_id": dataset,
    }, index=adata.obs_names)
    if calls.author_terms is not None:
        obs["author_cell_type_ontology_term_id"] = calls.author_terms.to_numpy()
    for extra in ("sex", "age", "batch"):
        values = _column(adata, extra)
        if values is not None:
            obs[extra] = values.to_numpy()
    for column in obs.columns:
        obs[column] = pd.Categorical(obs[column].astype(str))
    if annotated:
        obs["annotation_confidence"] = calls.confidence.to_numpy(dtype=np.float32)
    return obs


def _label_report(dataset: str, rows: list[dict]) -> pd.DataFrame:
    """labels.tsv: every author label and feature decision, sorted, blanks for missing fields."""
    report = pd.DataFrame(rows)
    report["dataset_id"] = dataset
    report = report.reindex(columns=REPORT_COLUMNS).fillna(
        {c: "" for c in REPORT_COLUMNS if c not in ("dataset_id", "n_cells")})
    return report.sort_values(["kind", "author_label", "mapped_to", "status"],
                              kind="mergesort").reset_index(drop=True)


def _provenance(dataset: str, entry: Mapping, load_notes: Mapping) -> dict:
    """uns['neurokine']: where the data came from and what the loader noted."""
    return {"neurokine": {
        "synthetic": is_synthetic(entry), "dataset_id": dataset, "title": entry.get("title", ""),
        "citation": " ".join(entry.get("citation", "").split()),
        "load_notes": {k: (v if not isinstance(v, list) else [str(x) for x in v])
                       for k, v in load_notes.items()},
        "control_description": entry.get("control_description", ""),
    }}


def harmonize(adata: ad.AnnData, dataset: str, entry: Mapping,
              vocabulary: Mapping[str, object], annotate_options: Mapping | None = None
              ) -> tuple[ad.AnnData, pd.DataFrame]:
    """Map a loaded deposit onto the contract; return it with the label report table."""
    source = f"dataset {dataset}"
    load_notes = dict(adata.uns.get("neurokine_load", {}))
    adata, gene_rows = harmonize_genes(adata)
    fields, field_rows = _sample_fields(adata, entry, source)
    calls = _author_cell_types(adata, entry, vocabulary)
    mode = entry.get("cell_types", {}).get("annotate", "none")
    annotated = mode in ("all", "unmapped")
    if annotated:
        _annotate_from_markers(adata, calls, mode, fields["tissue"], vocabulary, annotate_options)
    adata.obs = _harmonized_obs(adata, dataset, fields, calls, annotated)
    report = _label_report(dataset, [*field_rows, *calls.rows, *gene_rows, *load_rows(load_notes)])
    adata.uns = _provenance(dataset, entry, load_notes)
    validate_harmonized(adata, source)
    return adata, report


def validate_harmonized(adata: ad.AnnData, source: str) -> None:
    """Check the harmonized AnnData contract; raise an InputError naming the first problem."""
    missing = [c for c in REQUIRED_OBS if c not in adata.obs.columns]
    if missing:
        raise InputError(source, "obs", f"missing columns {missing}", "harmonize the dataset")
    if not sp.issparse(adata.X) or adata.X.format != "csr":
        raise InputError(source, "X", "is not a CSR sparse matrix", "store counts as CSR")
    data = adata.X.data
    non_integer = (not np.issubdtype(data.dtype, np.integer)
                   and not np.array_equal(data, np.round(data)))
    if data.size and (non_integer or (data < 0).any()):
        raise InputError(source, "X", "holds non-integer or negative values", "store raw counts")
    if not adata.var_names.is_unique:
        raise InputError(source, "var_names", "gene symbols are not unique",
                         "harmonize genes (duplicates are summed)")
    bad_tissue = sorted(set(adata.obs["tissue"].astype(str)) - {*TISSUES, UNKNOWN})
    if bad_tissue:
        raise InputError(source, "obs.tissue", f"labels {bad_tissue} are not CSF/blood/CNS",
                         "map them with metadata.tissue_map")
    for column in REQUIRED_OBS:
        if not isinstance(adata.obs[column].dtype, pd.CategoricalDtype):
            raise InputError(source, f"obs.{column}", "is not categorical", "store as category")


# ---------------------------------------------------------------------- shared donors


def plan_shared_donors(registry: Mapping[str, dict], selected: Iterable[str]) -> pd.DataFrame:
    """Which donors to drop from which dataset when the selected datasets are combined."""
    chosen = list(selected)
    rows = []
    for ds in chosen:
        for shared in registry[ds].get("shared_donors", []):
            other = shared["with"]
            if other not in chosen:
                continue
            keeper = shared.get("keep_in", other)
            for donor in shared["donors"]:
                rows.append({"dataset_id": ds, "donor_id": donor, "shared_with": other,
                             "kept_in": keeper,
                             "action": "keep" if keeper == ds else "drop"})
    frame = pd.DataFrame(rows, columns=["dataset_id", "donor_id", "shared_with", "kept_in",
                                        "action"])
    # A donor must survive somewhere: if two entries each say "keep it in the other", keep it
    # in the dataset listed first in the selection.
    for donor, group in frame.groupby("donor_id"):
        kept = group.loc[group["action"] == "keep", "dataset_id"]
        if kept.empty:
            first = min(group["dataset_id"], key=chosen.index)
            frame.loc[(frame["donor_id"] == donor) & (frame["dataset_id"] == first),
                      "action"] = "keep"
    return frame.drop_duplicates().sort_values(["dataset_id", "donor_id", "shared_with"],
                                               kind="mergesort").reset_index(drop=True)


def drop_shared_donors(adata: ad.AnnData, dataset: str, plan: pd.DataFrame
                       ) -> tuple[ad.AnnData, pd.DataFrame]:
    """Remove this dataset's donors that the plan keeps elsewhere; return data and what went."""
    mine = plan[(plan["dataset_id"] == dataset)]
    drop = set(mine["donor_id"]) - set(mine.loc[mine["action"] == "keep", "donor_id"])
    donors = adata.obs["donor_id"].astype(str)
    mask = donors.isin(drop).to_numpy()
    removed = (donors[mask].value_counts().rename_axis("donor_id").reset_index(name="n_cells")
               .assign(dataset_id=dataset).sort_values("donor_id", kind="mergesort"))
    return adata[~mask].copy(), removed.reset_index(drop=True)


def undeclared_shared_donors(donors_by_dataset: Mapping[str, Iterable[str]],
                             plan: pd.DataFrame) -> pd.DataFrame:
    """Donor ids found in more than one dataset that the registry does not declare as shared."""
    seen: dict[str, set[str]] = {}
    for ds, donors in donors_by_dataset.items():
        for donor in set(map(str, donors)) - {UNKNOWN}:
            seen.setdefault(donor, set()).add(ds)
    declared = set(plan["donor_id"]) if len(plan) else set()
    rows = [{"donor_id": d, "datasets": ";".join(sorted(dss))}
            for d, dss in sorted(seen.items()) if len(dss) > 1 and d not in declared]
    return pd.DataFrame(rows, columns=["donor_id", "datasets"])


__all__ = [
    "HARMONIZED_OBS", "REPORT_COLUMNS", "RESERVED_CELL_TYPES", "drop_shared_donors",
    "harmonize", "harmonize_genes", "map_cell_types", "map_disease", "map_tissue",
    "plan_shared_donors", "undeclared_shared_donors", "validate_harmonized",
]
