"""Per-cell annotation tables (author metadata keyed by barcode) and their join onto a matrix."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import pandas as pd

from neurokine.errors import InputError
from neurokine.io.loaders.common import Archive, existing

#: Per-cell fields a deposit may provide (author values; harmonize maps them).
FIELDS: tuple[str, ...] = ("donor", "sample", "tissue", "disease", "cell_type", "sex", "age",
                           "batch")
#: Cell Ranger's suffix for the first GEM well, which some exports drop (or add) on one side.
GEM_SUFFIX = "-1"


def sep_for(spec: Mapping, path: Path, default: str | None = None) -> str:
    """Field separator from the registry or the file name."""
    if "sep" in spec:
        return spec["sep"]
    if default:
        return default
    name = path.name.removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def read_table(path: Path, spec: Mapping, source: str) -> pd.DataFrame:
    """An annotation table indexed by barcode; a 2-column table with `field` becomes that field."""
    table = pd.read_csv(path, sep=sep_for(spec, path), dtype=str, keep_default_na=False,
                        compression="gzip" if path.suffix == ".gz" else None)
    column = spec.get("barcode_column", table.columns[0])
    if column not in table.columns:
        raise InputError(source, f"{spec['name']}.barcode_column",
                         f"column {column!r} not found (columns: {list(table.columns)[:12]})",
                         "set barcode_column to the column holding the cell barcodes")
    table = table.set_index(column)
    table.index = table.index.astype(str)
    if table.index.has_duplicates:
        dupes = table.index[table.index.duplicated()].unique()[:3].tolist()
        raise InputError(source, spec["name"], f"barcodes repeat (e.g. {dupes})",
                         "each barcode must appear once per annotation table")
    if "field" in spec:
        if table.shape[1] != 1:
            raise InputError(source, f"{spec['name']}.field",
                             f"needs a two-column table, found columns {list(table.columns)}",
                             "remove `field` and map columns in metadata.columns instead")
        table.columns = [spec["field"]]
    return table


def _annotation_specs(entry: Mapping) -> list[dict]:
    """Annotation/cell-metadata files the loader should join (load: false ones are skipped)."""
    return [f for f in entry.get("files", [])
            if f["role"] in ("annotation", "cell_metadata") and f.get("load", True)]


def _table_path(dataset: str, spec: Mapping, root: Path, archives: Mapping[str, Archive],
                source: str) -> Path:
    """Local path of one annotation table: a file, or a member extracted from an archive."""
    if "archive" not in spec:
        return existing(dataset, spec, root, source)
    archive = archives[spec["archive"]]
    if spec["member"] not in archive.names():
        raise InputError(source, f"{spec['name']}.member",
                         f"{spec['member']!r} is not in {spec['archive']}",
                         f"members include {archive.names()[:8]}")
    path = archive.extract([spec["member"]])[spec["member"]]
    return path.rename(path.with_name(path.stem + "_" + Path(spec["member"]).name))


def read_annotations(dataset: str, entry: Mapping, root: Path,
                     archives: Mapping[str, Archive], source: str) -> pd.DataFrame | None:
    """Join all annotation tables of an entry on barcode (outer join)."""
    frames = [read_table(_table_path(dataset, spec, root, archives, source), spec,
                         f"{source}/{spec['name']}") for spec in _annotation_specs(entry)]
    if not frames:
        return None
    joined = frames[0]
    for frame in frames[1:]:
        overlap = set(joined.columns) & set(frame.columns)
        joined = joined.join(frame.drop(columns=sorted(overlap)), how="outer")
    return joined


def _field_values(frame: pd.DataFrame, ref: str | list[str], field: str,
                  source: str) -> pd.Series:
    """One per-cell field from a column (or several joined with '_')."""
    refs = [ref] if isinstance(ref, str) else list(ref)
    missing = [r for r in refs if r not in frame.columns]
    if missing:
        raise InputError(source, f"metadata.columns.{field}",
                         f"column(s) {missing} not found (available: {list(frame.columns)[:15]})",
                         "name a column of the deposit's per-cell table")
    values = frame[refs[0]].astype(str)
    for r in refs[1:]:
        values = values + "_" + frame[r].astype(str)
    return values


def fields_from(frame: pd.DataFrame, entry: Mapping, source: str) -> pd.DataFrame:
    """Select the per-cell fields named in metadata.columns (plus `field` columns) from a table."""
    columns = entry.get("metadata", {}).get("columns", {})
    out = pd.DataFrame(index=frame.index)
    for field in FIELDS:
        if field in columns:
            out[field] = _field_values(frame, columns[field], field, source)
        elif field in frame.columns:
            out[field] = frame[field].astype(str)
    return out


def _suffix_free(index: pd.Index) -> bool:
    """True if no barcode carries a GEM-well suffix (-1, -2, ...)."""
    return not index.str.contains(r"-\d+$", regex=True).any()


def matching_keys(barcodes: pd.Index, table: pd.Index, notes: dict) -> pd.Index:
    """Keys to look the matrix barcodes up in the table, bridging a dropped `-1` suffix."""
    # Only when nothing matches as written and every barcode on one side ends in -1 while the
    # other side carries no GEM-well suffix at all, so barcodes of different wells never merge.
    if barcodes.isin(table).any():
        return barcodes
    if barcodes.str.endswith(GEM_SUFFIX).all() and _suffix_free(table):
        notes["barcode_suffix"] = f"matrix barcodes matched without their {GEM_SUFFIX}"
        return pd.Index(barcodes.str.removesuffix(GEM_SUFFIX))
    if table.str.endswith(GEM_SUFFIX).all() and _suffix_free(barcodes):
        notes["barcode_suffix"] = f"matrix barcodes matched with {GEM_SUFFIX} added"
        return pd.Index(barcodes + GEM_SUFFIX)
    return barcodes


def attach(adata: ad.AnnData, cells: pd.DataFrame | None, entry: Mapping, source: str,
           notes: dict) -> ad.AnnData:
    """Join per-cell fields onto the matrix; drop or keep cells the annotation does not cover."""
    if cells is None:
        return adata
    fields = fields_from(cells, entry, source)
    keys = matching_keys(adata.obs_names.astype(str), fields.index, notes)
    covered = keys.isin(fields.index)
    notes["cells_in_annotation_not_in_matrix"] = int((~fields.index.isin(keys)).sum())
    notes["cells_without_annotation"] = int((~covered).sum())
    if not covered.any():
        raise InputError(source, "annotation",
                         "no barcode of the annotation tables is in the count matrix",
                         "check barcode_column and that the tables belong to this matrix")
    if entry.get("layout", {}).get("unannotated_cells", "drop") == "drop" and not covered.all():
        adata, keys = adata[covered].copy(), keys[covered]
        notes["cells_without_annotation_dropped"] = notes["cells_without_annotation"]
    obs = fields.reindex(keys)
    for column in obs.columns:
        adata.obs[column] = obs[column].to_numpy()
    return adata


__all__ = ["FIELDS", "attach", "fields_from", "matching_keys", "read_annotations",
           "read_table", "sep_for"]
