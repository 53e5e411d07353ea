"""10x Matrix Market (MEX) deposits: one triple per library, or one merged triple for all cells.

Reads every name Cell Ranger and its relatives have used: v3 `features.tsv.gz` (id, symbol,
feature type), v2 `genes.tsv` (id, symbol), symbol-only `genes.tsv` (Seurat exports), gzip or
plain, with or without a file-name prefix (GEO's `GSMnnn_...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import pandas as pd
import scipy.io

from neurokine.errors import InputError
from neurokine.io.loaders.annotations import attach, read_annotations
from neurokine.io.loaders.common import (
    Archive,
    archives_of,
    as_counts,
    concat_libraries,
    existing,
    files_of,
    library_table,
    one_file,
    open_binary,
    open_text,
    tag_library,
    workdir,
)
from neurokine.io.loaders.features import feature_table, select_genome, unique_ids

_MEX_FILE = re.compile(r"^(?P<prefix>.*?)(?P<kind>barcodes\.tsv|features\.tsv|genes\.tsv|"
                       r"matrix\.mtx)(?:\.gz)?$")
MEX_PARTS = ("matrix", "features", "barcodes")


def read_features(path: Path) -> pd.DataFrame:
    """10x features.tsv / genes.tsv: 1 (symbol), 2 (id, symbol) or 3+ (id, symbol, type) columns."""
    table = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False,
                        quoting=3)
    symbols = table[1 if table.shape[1] > 1 else 0].to_numpy()
    # A symbol-only table has no ids: repeated symbols get name#2 ids, summed by harmonize.
    ids = table[0].to_numpy() if table.shape[1] > 1 else unique_ids(symbols)
    types = table[2].to_numpy() if table.shape[1] > 2 else None
    return feature_table(ids, symbols, types)


def _read_barcodes(path: Path) -> list[str]:
    """Barcodes, first column (some exports add columns), blank lines skipped."""
    with open_text(path) as handle:
        return [line.rstrip("\n\r").split("\t")[0] for line in handle if line.strip()]


def read_mex(matrix: Path, features: Path, barcodes: Path, source: str,
             genome: str | None = None, notes: dict | None = None) -> ad.AnnData:
    """One 10x MEX triple (features x cells MatrixMarket) -> AnnData cells x features, raw counts."""
    with open_binary(matrix) as handle:
        try:
            mtx = scipy.io.mmread(handle)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(source, "matrix.mtx", f"cannot be parsed ({exc})",
                             "re-download the file; a truncated download is the usual cause"
                             ) from exc
    var, cells = read_features(features), _read_barcodes(barcodes)
    if mtx.shape != (len(var), len(cells)):
        raise InputError(source, "matrix.mtx",
                         f"shape {mtx.shape} does not match {len(var)} features x "
                         f"{len(cells)} barcodes",
                         "the three MEX files must come from the same library")
    keep, var = select_genome(var, genome, source, {} if notes is None else notes)
    counts = as_counts(mtx.tocsc()[keep].T, source)
    return ad.AnnData(X=counts, obs=pd.DataFrame(index=pd.Index(cells, dtype=str)), var=var)


def mex_groups(names: list[str]) -> dict[str, dict[str, str]]:
    """Group member names into MEX triples keyed by their common prefix."""
    groups: dict[str, dict[str, str]] = {}
    for name in names:
        match = _MEX_FILE.match(name)
        if match:
            kind = {"genes.tsv": "features"}.get(match["kind"], match["kind"].split(".")[0])
            groups.setdefault(match["prefix"], {})[kind] = name
    return groups


def _read_member_triple(archive: Archive, members: Mapping[str, str], layout: Mapping,
                        notes: dict) -> ad.AnnData:
    """Extract one MEX triple from an archive and read it."""
    local = archive.extract(sorted(members.values()))
    return read_mex(*(local[members[part]] for part in MEX_PARTS),
                    source=f"{archive.path}:{members['matrix']}", genome=layout.get("genome"),
                    notes=notes)


def _libraries_in(archive: Archive, layout: Mapping, source: str,
                  notes: dict) -> list[ad.AnnData]:
    """Every library of one per-library archive (or directory), tagged with its sample."""
    groups = mex_groups(archive.names())
    parts = []
    for prefix, info in library_table(groups, layout, source, notes):
        if set(groups[prefix]) != set(MEX_PARTS):
            raise InputError(source, prefix, f"incomplete MEX (has {sorted(groups[prefix])})",
                             "each library needs barcodes, features/genes and matrix")
        parts.append(tag_library(_read_member_triple(archive, groups[prefix], layout, notes),
                                 info))
    return parts


def load_mex_per_sample(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """Per-library 10x MEX inside an archive (or a directory): donor/tissue/sample by regex."""
    source = f"dataset {dataset}"
    notes: dict = {}
    specs = files_of(entry, "archive")
    if not specs:
        raise InputError(source, "files", "needs a file with role 'archive'",
                         "list the per-library tar/zip (or a directory `path`)")
    parts = []
    for spec in specs:
        path = existing(dataset, spec, root, source)
        with workdir(path) as work:
            parts += _libraries_in(Archive(path, work), entry.get("layout", {}),
                                   f"{source}/{spec['name']}", notes)
    adata = concat_libraries(parts)
    adata.uns["neurokine_load"] = notes
    return adata


def _merged_in_archive(archives: Mapping[str, Archive], layout: Mapping, source: str,
                       notes: dict) -> ad.AnnData:
    """The one complete MEX triple under layout.member_prefix inside the entry's archive."""
    if len(archives) != 1:
        raise InputError(source, "files", "needs matrix+features+barcodes files or one "
                         "archive holding them", "fix the registry entry")
    (name, archive), = archives.items()
    prefix = layout.get("member_prefix", "")
    members = mex_groups(archive.names()).get(prefix, {})
    if set(members) != set(MEX_PARTS):
        raise InputError(f"{source}/{name}", "layout.member_prefix",
                         f"no complete MEX under {prefix!r}",
                         f"members include {archive.names()[:8]}")
    return _read_member_triple(archive, members, layout, notes)


def load_mex_merged(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """One 10x MEX for all cells (files or inside an archive) + per-barcode annotation tables."""
    source = f"dataset {dataset}"
    layout, notes = entry.get("layout", {}), {}
    with archives_of(dataset, entry, root, source) as archives:
        if all(files_of(entry, part) for part in MEX_PARTS):
            paths = [existing(dataset, one_file(entry, part, source), root, source)
                     for part in MEX_PARTS]
            adata = read_mex(*paths, source=source, genome=layout.get("genome"), notes=notes)
        else:
            adata = _merged_in_archive(archives, layout, source, notes)
        cells = read_annotations(dataset, entry, root, archives, source)
    adata = attach(adata, cells, entry, source, notes)
    adata.uns["neurokine_load"] = notes
    return adata
