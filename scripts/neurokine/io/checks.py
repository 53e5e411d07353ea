"""Input checks run by the first jobs of a run, before any expensive stage.

- `check_curated`: the curated axes and the cell-type vocabulary (schema, citations, every
  gene symbol against the reference gene universe, and every CL id, parent and lineage against
  the Cell Ontology), run once per run by rule check_curated.
- `check_loaded`: a loaded deposit, after harmonization and before it is written, for problems
  that would otherwise give silently wrong or empty results downstream (rule load_dataset).

Every problem raises `InputError(source, field, problem, fix)`, naming the file, the field or
registry key, and what to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from neurokine.curated.axes import _gene_fields, load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.curated.gene_universe import build_universe
from neurokine.curated.hierarchy import check_hierarchy
from neurokine.errors import InputError
from neurokine.io.registry import UNKNOWN

#: Labels become table cells, figure text and report HTML: longer ones are refused.
MAX_LABEL_LENGTH = 120
#: Characters refused in labels: markup and control characters (tabs and newlines break TSVs).
BAD_LABEL_CHARS = re.compile(r"[<>\x00-\x1f\x7f]")
#: Ensembl gene/feature ids (any species prefix), optionally versioned.
ENSEMBL_ID = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
#: A deposit whose gene names are mostly Ensembl ids has no usable symbols.
MAX_ENSEMBL_FRACTION = 0.5
#: Harmonized obs columns whose labels reach tables, figures and the report.
LABEL_COLUMNS: tuple[str, ...] = ("donor_id", "sample_id", "disease", "tissue", "cell_type",
                                  "author_cell_type", "author_disease")
#: Loader fields (author values) that must not be empty for any cell.
REQUIRED_FIELDS: tuple[str, ...] = ("donor", "sample", "disease", "cell_type")


def check_curated(axes_dir: str | Path, axis_schema: str | Path, cell_types: str | Path,
                  cell_types_schema: str | Path, allowlist: str | Path) -> pd.DataFrame:
    """Validate vocabulary and axes (genes included); return every curated gene with its field."""
    # Only the required references plus the allow-list: the optional CytoSig package must not
    # decide whether a run is accepted (the same resource passes or fails on every machine).
    universe = build_universe(allowlist, include_optional=False)
    vocabulary = load_cell_types(cell_types, cell_types_schema, gene_universe=universe)
    problems = check_hierarchy(vocabulary)
    if problems:
        raise InputError(str(cell_types), problems[0].split(":", 1)[0],
                         "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)"
                                                    if len(problems) > 3 else ""),
                         "use the Cell Ontology's id, label and ancestry (see the file header)")
    axes = load_axes(axes_dir, axis_schema, vocabulary, gene_universe=universe)
    rows = [{"file": Path(axis.source).name, "field": field, "gene": gene}
            for axis in axes for field, gene in _gene_fields(axis.record)]
    for i, ctype in enumerate(vocabulary.values()):
        rows += [{"file": Path(cell_types).name, "field": f"cell_types.{i}({ctype.id}).markers",
                  "gene": g} for g in (*ctype.markers, *ctype.negative_markers)]
    table = pd.DataFrame(rows, columns=["file", "field", "gene"])
    table["universe"] = universe.name
    return table


def _shown(value: str) -> str:
    """A label as it can be shown in a one-line message: escaped and shortened."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _author_column(entry: Mapping, field: str) -> str:
    """Where a field comes from in the deposit, for messages (e.g. "obs column 'diagnosis'")."""
    column = entry.get("metadata", {}).get("columns", {}).get(field)
    if column is None:
        return f"the deposit's {field} field"
    return f"obs column {column!r}" if isinstance(column, str) else f"obs columns {column!r}"


def check_deposit(raw: ad.AnnData, dataset: str, entry: Mapping, source: str) -> None:
    """Refuse a loaded deposit (loader output, author fields) before it is harmonized.

    `source` names the registry and the data file for messages.
    """
    _check_gene_names(raw, dataset, source)
    _check_empty_fields(raw, entry, dataset, source)


def check_harmonized_data(adata: ad.AnnData, report: pd.DataFrame, dataset: str,
                          entry: Mapping, source: str) -> list[str]:
    """Refuse harmonized data that cannot give correct donor-level results; return warnings."""
    _check_disease_labels(report, entry, dataset, source)
    _check_label_text(adata, dataset, source)
    return _check_donors(adata, entry, dataset, source)


def _symbols(raw: ad.AnnData) -> pd.Index:
    """Gene names as harmonize will use them: the symbol, else the feature id (genes only)."""
    var = raw.var
    ids = pd.Series(raw.var_names.astype(str), index=raw.var_names)
    symbols = var["gene_symbols"].astype(str) if "gene_symbols" in var.columns else ids
    symbols = symbols.where(~symbols.isin(["", "nan", "None"]), ids)
    if "feature_types" in var.columns:
        symbols = symbols[var["feature_types"].astype(str) == "Gene Expression"]
    return pd.Index(symbols.to_numpy())


def _check_gene_names(raw: ad.AnnData, key: str, source: str) -> None:
    """Gene names must be unique as deposited and mostly symbols, not bare Ensembl ids."""
    names = raw.var_names.astype(str)
    duplicated = names[names.duplicated()].unique().tolist()
    if duplicated:
        raise InputError(
            source, "var_names (gene names)",
            f"{len(duplicated)} gene name(s) occur more than once, e.g. {duplicated[:5]}: "
            "which column holds which gene is ambiguous",
            "make the var index unique (keep Ensembl ids as the index and put symbols in a "
            f"column named by {key}.layout.gene_symbols, whose repeats are summed), or remove "
            "the duplicated genes")
    symbols = _symbols(raw)
    ensembl = np.fromiter((bool(ENSEMBL_ID.match(s)) for s in symbols), dtype=bool,
                          count=len(symbols))
    if len(symbols) and ensembl.mean() > MAX_ENSEMBL_FRACTION:
        symbols = symbols.to_numpy()
        raise InputError(
            source, f"{key}.layout.gene_symbols",
            f"{int(ensembl.sum())} of {len(symbols)} genes are Ensembl ids with no symbol "
            f"(e.g. {symbols[ensembl][:3].tolist()}), so no signature gene can be found",
            f"set {key}.layout.gene_symbols to the var column holding HGNC symbols, or add "
            "symbols to the file (neurokine does no online id mapping)")


def _empty(values: pd.Series) -> pd.Series:
    """True where a per-cell label is missing or blank."""
    text = values.astype("string")
    return text.isna() | text.str.strip().isin(["", "nan", "None", "NaN"])


def _check_empty_fields(raw: ad.AnnData, entry: Mapping, key: str, source: str) -> None:
    """Donor, sample, disease and (unless marker annotation fills them) cell-type labels."""
    annotate = entry.get("cell_types", {}).get("annotate", "none")
    for field in REQUIRED_FIELDS:
        if field not in raw.obs.columns:
            continue
        if field == "cell_type" and annotate in ("all", "unmapped"):
            continue  # the marker annotator calls these cells
        empty = _empty(raw.obs[field])
        if empty.any():
            fix = {"cell_type": f"label every cell in the file, drop the unlabelled cells, or set "
                                f"{key}.cell_types.annotate: unmapped to call them from markers"}
            raise InputError(
                source, f"{_author_column(entry, field)} ({key}.metadata.columns.{field})",
                f"{int(empty.sum())} of {raw.n_obs} cells have an empty {field} label",
                fix.get(field, f"give every cell a {field} label in the file, or drop the "
                               "cells without one"))


def _check_disease_labels(report: pd.DataFrame, entry: Mapping, key: str, source: str) -> None:
    """Every disease label found in the deposit must be mapped by the registry."""
    rows = report[(report["kind"] == "disease") & (report["status"] == "unknown_label")
                  & (report["author_label"] != UNKNOWN)]
    if len(rows):
        labels = sorted(rows["author_label"].astype(str))
        raise InputError(
            source, f"{key}.disease_map",
            f"disease label(s) {[_shown(x) for x in labels[:5]]} in "
            f"{_author_column(entry, 'disease')} ({int(rows['n_cells'].sum())} cells) are not "
            "in the registry's disease_map",
            f"add each to {key}.disease_map: map it to control, MS, NMOSD, neurosarcoidosis, "
            "ICANS, or to another identifier (e.g. other_neurological) to keep those cells out "
            "of the contrasts")


def _check_label_text(adata: ad.AnnData, key: str, source: str) -> None:
    """Labels must be short plain text: no markup, no control characters."""
    for column in LABEL_COLUMNS:
        if column not in adata.obs.columns:
            continue
        values = pd.Series(adata.obs[column].astype(str).unique())
        too_long = values[values.str.len() > MAX_LABEL_LENGTH]
        markup = values[values.str.contains(BAD_LABEL_CHARS)]
        if len(too_long) or len(markup):
            bad = (too_long if len(too_long) else markup).iloc[0]
            problem = (f"a label is {len(bad)} characters long (limit {MAX_LABEL_LENGTH})"
                       if len(too_long) else
                       "a label contains markup or control characters (<, >, tab, newline)")
            raise InputError(
                source, f"obs.{column}", f"{problem}: {_shown(bad)}",
                f"use short plain-text labels in the file, or map author labels to plain "
                f"identifiers in the registry ({key}.disease_map, {key}.cell_types.map)")


def _check_donors(adata: ad.AnnData, entry: Mapping, key: str, source: str) -> list[str]:
    """Warn when groups have one donor: their contrasts are not tested; when no group has two,
    nothing can be compared and the run is descriptive (one sample is how many users start)."""
    known = adata.obs[adata.obs["disease"].astype(str) != UNKNOWN]
    donors = known.groupby(known["disease"].astype(str), observed=True)["donor_id"].nunique()
    if donors.empty or donors.max() < 2:
        counts = ", ".join(f"{g}: {n}" for g, n in donors.sort_index().items()) or "none"
        return [f"no disease group has two donors (donors per group: {counts}): the donor is the "
                "unit of inference, so nothing can be compared and this dataset gets a descriptive "
                "run (scores, composition, ligand/receptor/response maps, report). If "
                f"{_author_column(entry, 'donor')} holds libraries or cells rather than donors, "
                f"fix {key}.metadata.columns.donor"]
    return [f"disease group {g!r} has a single donor: its contrasts are reported as not tested"
            for g, n in donors.sort_index().items() if n == 1]
