"""Draft a registry entry for your own .h5ad: `python -m neurokine.draft_entry PATH.h5ad`.

Reads `obs` and `var` only (the matrix stays on disk), detects the donor, sample, disease, tissue
and cell-type columns, and prints an entry for config/datasets.yaml that loads as printed. Each
distinct author cell-type label is listed with the vocabulary id and Cell Ontology term it will
resolve to (and how), and the labels neurokine cannot place are named, so the only lines left to
edit are the ones marked `check`. A CELLxGENE-schema file gets the 6-line `loader: cellxgene`
entry: its ontology columns say everything else.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import yaml

from neurokine.curated import terms
from neurokine.curated.cell_types import load_cell_types
from neurokine.curated.hierarchy import CellTypeResolver
from neurokine.curated.ontology import ontology, prefix
from neurokine.io.registry import CANONICAL_DISEASES, UNMAPPED

#: obs column names tried for each field, most specific first (compared case-insensitively).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "donor": ("donor_id", "donor", "patient_id", "patient", "individual", "subject_id", "subject"),
    "sample": ("sample_id", "sample", "library_id", "library", "orig.ident", "channel"),
    "disease": ("disease", "diagnosis", "condition", "group", "dx", "status"),
    "tissue": ("tissue", "compartment", "tissue_type", "sample_type", "source"),
    "cell_type": ("cell_type", "celltype", "cell_types", "cell_type_label", "labels",
                  "annotation", "cluster_names", "predicted.celltype.l2", "predicted.celltype.l1"),
}
#: The obs columns that make a file CELLxGENE-schema input (loader: cellxgene).
CELLXGENE_OBS = ("donor_id", "cell_type_ontology_term_id", "disease_ontology_term_id",
                 "tissue_ontology_term_id")
#: var columns that may hold gene symbols when the index holds Ensembl ids.
SYMBOL_COLUMNS = ("feature_name", "gene_symbols", "symbol", "SYMBOL", "gene_name", "feature")
#: Author disease labels that usually mean controls (the draft still asks to check them).
CONTROL_WORDS = frozenset({"control", "controls", "ctrl", "hc", "healthy", "normal", "none",
                           "healthy control", "healthy controls", "unaffected", "non-inflammatory"})
#: Author tissue labels for peripheral blood preparations.
BLOOD_WORDS = frozenset({"pbmc", "pbmcs", "pb", "peripheral blood", "blood"})


def find_column(columns: Sequence[str], field: str) -> str | None:
    """The first obs column named like one of the field's candidates."""
    lower = {c.lower(): c for c in columns}
    return next((lower[c.lower()] for c in CANDIDATES[field] if c.lower() in lower), None)


def disease_label(value: str) -> tuple[str, str]:
    """Canonical disease for an author label (MONDO id or name, canonical name, control word)
    and a comment saying how sure that is."""
    text = str(value).strip()
    if prefix(text) in ("MONDO", "PATO"):
        found = terms.disease(text)
        return found.label, f"{found.term_id} {found.term_name}; {found.status}"
    canonical = {d.lower(): d for d in CANONICAL_DISEASES}
    if text.lower() in canonical:
        return canonical[text.lower()], "canonical label"
    if text.lower() in CONTROL_WORDS:
        return "control", "check: are these the controls? (what they are goes in control_description)"
    match = ontology("MONDO").find_name(text)
    if match is not None and len(match.term_ids) == 1:
        found = terms.disease(match.term_ids[0])
        return found.label, f"check: MONDO {match.kind} {found.term_id} {found.term_name}"
    return terms.identifier(text), "check: kept by its own label"


def tissue_label(value: str) -> str | None:
    """CSF, blood or CNS for an author tissue label (UBERON id or name, PBMC words), else None."""
    text = str(value).strip()
    if text.lower() in BLOOD_WORDS:
        return "blood"
    if prefix(text) == "UBERON":
        found = terms.tissue(text)
    else:
        match = ontology("UBERON").find_name(text)
        if match is None or len(match.term_ids) != 1:
            return None
        found = terms.tissue(match.term_ids[0])
    return found.label if found.label != "unknown" else None


def counts_layout(adata: ad.AnnData) -> dict[str, str]:
    """layout keys: where the raw counts are and which var column holds gene symbols."""
    layout: dict[str, str] = {"counts": "auto"}
    index = adata.var_names.astype(str)
    ensembl = np.mean([bool(re.match(r"^ENS[A-Z]*G\d+", v)) for v in index[:200]]) > 0.5
    if ensembl:
        column = next((c for c in SYMBOL_COLUMNS if c in adata.var.columns), None)
        if column is not None:
            layout["gene_symbols"] = column
    return layout


def _quoted(value: object) -> str:
    """A YAML scalar (quoted when needed), on one line."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def cell_type_lines(labels: pd.Series, vocabulary: Mapping, terms_column: pd.Series | None
                    ) -> tuple[list[str], list[str]]:
    """Comment lines naming where each author label goes, and the labels that go nowhere."""
    resolver = CellTypeResolver(vocabulary)
    counts = labels.value_counts()
    lines, unplaced = [], []
    for label in sorted(counts.index, key=str):
        term = ""
        if terms_column is not None:
            term = str(terms_column[labels == label].iloc[0])
        found = resolver.from_term(term) if term.startswith("CL:") else resolver.from_label(label)
        reached = f"{found.term_id} {resolver.term_name(found.term_id)}".strip()
        lines.append(f"    #   {label!r} -> {found.cell_type} ({reached or 'no CL term'}; "
                     f"{found.resolved_by or found.status}), {int(counts[label])} cells")
        if found.cell_type == UNMAPPED:
            unplaced.append(str(label))
    return lines, unplaced


def draft(path: Path, dataset: str | None = None) -> str:
    """The registry entry for one .h5ad, as YAML text with comments."""
    adata = ad.read_h5ad(path, backed="r")
    try:
        obs, columns = adata.obs, list(adata.obs.columns)
        layout = counts_layout(adata)
    finally:
        adata.file.close()
    dataset = dataset or terms.identifier(path.stem)
    head = [f"# Draft registry entry for {path} (python -m neurokine.draft_entry).",
            "# Check the lines marked `check`, fill in title, citation and licence, then add it to",
            "# config/datasets.yaml and select it with --config 'datasets=[" + dataset + "]'."]
    if all(c in columns for c in CELLXGENE_OBS):
        body = _cellxgene_entry(path, dataset, obs, columns, load_cell_types())
    else:
        body = _h5ad_entry(path, dataset, obs, columns, layout, load_cell_types())
    return "\n".join(head + body) + "\n"


def _file_line(path: Path) -> str:
    """The entry's one `files:` item for a local file."""
    return f"    - {{name: {_quoted(path.name)}, role: h5ad, path: {_quoted(str(path))}}}"


def _cellxgene_entry(path: Path, dataset: str, obs: pd.DataFrame, columns: list[str],
                     vocabulary: Mapping) -> list[str]:
    """A `loader: cellxgene` entry: everything resolves from the ontology columns."""
    tissues = sorted({terms.tissue(t).label for t in obs["tissue_ontology_term_id"].astype(str)
                      .unique()} - {"unknown"})
    labels = (obs["cell_type"] if "cell_type" in columns else obs["cell_type_ontology_term_id"])
    ct_lines, unplaced = cell_type_lines(labels.astype(str), vocabulary,
                                         obs["cell_type_ontology_term_id"])
    diseases = [f"  #   {d!r} -> {terms.disease(d).label}"
                for d in sorted(obs["disease_ontology_term_id"].astype(str).unique())]
    body = [f"{dataset}:", "  title: 'TODO: title'", "  loader: cellxgene",
            f"  tissue: {_quoted(tissues or ['CSF'])}" + ("" if tissues else "   # check"),
            "  citation: 'TODO: citation'", "  licence: 'TODO: licence'", "  files:",
            _file_line(path), "  # Resolved from the ontology columns (no mapping needed):",
            "  # diseases (MONDO):", *diseases, "  # cell types (Cell Ontology -> vocabulary):",
            *[line.replace("    ", "  ", 1) for line in ct_lines]]
    if unplaced:
        body.append(f"  # cannot place: {unplaced} (they stay `unmapped`, listed in labels.tsv)")
    return body


def _tissue_fields(obs: pd.DataFrame, column: str | None
                   ) -> tuple[set[str], dict[str, str], dict[str, str], list[str]]:
    """Tissues, tissue_map, constants and `check` notes from the tissue column (if any)."""
    if column is None:
        return {"CSF"}, {}, {"tissue": "CSF"}, [
            "  # check: no tissue column found; metadata.constants.tissue and the entry's tissue "
            "say CSF"]
    tissues, tissue_map, notes = set(), {}, []
    for value in sorted(obs[column].astype(str).unique()):
        label = tissue_label(value)
        if label is None:
            notes.append(f"  # check: tissue label {value!r} is not CSF, blood or CNS; add it to "
                         "metadata.tissue_map")
            continue
        tissues.add(label)
        if value != label:
            tissue_map[value] = label
    return tissues, tissue_map, {}, notes


def _disease_lines(obs: pd.DataFrame, column: str | None) -> list[str]:
    """The disease_map, each author label with the canonical group it looks like and why."""
    if column is None:
        return ["  disease_map: {healthy: control}   # check: see metadata.constants"]
    lines = ["  disease_map:"]
    for value in sorted(obs[column].astype(str).unique()):
        label, how = disease_label(value)
        lines.append(f"    {_quoted(value)}: {_quoted(label)}   # {how}")
    return lines


def _cell_type_lines(obs: pd.DataFrame, column: str | None, vocabulary: Mapping) -> list[str]:
    """How each author cell-type label resolves, or marker annotation when there are none."""
    if column is None:
        return ["  cell_types: {annotate: all}   # no cell-type column: marker annotation"]
    ct_lines, unplaced = cell_type_lines(obs[column].astype(str), vocabulary, None)
    lines = ["  # cell types: author label -> vocabulary id (CL term; how), resolved without a map:",
             *[line.replace("    ", "  ", 1) for line in ct_lines]]
    if unplaced:
        lines += [f"  # cannot place {unplaced}: map them in cell_types.map (label: vocabulary id, "
                  "or {cl: CL:nnnnnnn}), or leave them to the marker annotator:",
                  "  cell_types: {annotate: unmapped}"]
    return lines


def _h5ad_entry(path: Path, dataset: str, obs: pd.DataFrame, columns: list[str], layout: Mapping,
                vocabulary: Mapping) -> list[str]:
    """A `loader: h5ad` entry from the columns that look like donor, sample, disease, tissue and
    cell type; `check` notes where one is missing."""
    found = {field: find_column(columns, field) for field in CANDIDATES}
    tissues, tissue_map, constants, notes = _tissue_fields(obs, found["tissue"])
    if found["donor"] is None:
        notes.append("  # check: no donor column found; name it in metadata.columns.donor")
        constants["donor"] = "donor1"
    if found["disease"] is None:
        notes.append("  # check: no disease column found; every cell is taken as a control")
        constants["disease"] = "healthy"
    meta = {f: c for f, c in found.items() if c is not None}
    body = [f"{dataset}:", "  title: 'TODO: title'", "  loader: h5ad",
            f"  tissue: {_quoted(sorted(tissues))}", "  citation: 'TODO: citation'",
            "  licence: 'TODO: licence'", "  files:", _file_line(path), f"  layout: {_quoted(layout)}",
            "  metadata:", f"    columns: {_quoted(meta)}"]
    if constants:
        body.append(f"    constants: {_quoted(constants)}")
    if tissue_map:
        body.append(f"    tissue_map: {_quoted(tissue_map)}")
    return [*body, *notes, *_disease_lines(obs, found["disease"]),
            "  control_description: 'TODO: who the controls are'",
            *_cell_type_lines(obs, found["cell_type"], vocabulary)]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the draft entry for one .h5ad."""
    parser = argparse.ArgumentParser(prog="python -m neurokine.draft_entry",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("h5ad", type=Path, help="the .h5ad file (read without its matrix)")
    parser.add_argument("--id", dest="dataset", help="dataset id (default: from the file name)")
    args = parser.parse_args(argv)
    if not args.h5ad.is_file():
        print(f"error: {args.h5ad} is not a file", file=sys.stderr)
        return 2
    sys.stdout.write(draft(args.h5ad.resolve(), args.dataset))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
