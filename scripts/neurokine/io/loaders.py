"""Read deposit files into AnnData with raw integer counts and the deposit's own per-cell fields.

Every loader returns an AnnData whose
- X is a CSR matrix of raw integer counts (int32), cells x features;
- var index is the feature id as deposited, with `gene_symbols` (symbol when the features file
  gives one) and `feature_types`;
- obs holds the *author* values of the per-cell fields that exist in the deposit, under the
  names donor, sample, tissue, disease, cell_type, sex, age, batch (strings; mapping to the
  canonical vocabulary happens in neurokine.io.harmonize);
- uns["neurokine_load"] records what was read and what was left out (and why).

Loaders refuse normalized input: any negative or non-integer value where counts are required
raises an InputError naming the file. Archives (tar, tar.gz, zip) are read member by member into
a temporary directory next to the download; member names never become paths (no traversal).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.registry import file_location

#: Per-cell fields a deposit may provide (author values; harmonize maps them).
FIELDS: tuple[str, ...] = ("donor", "sample", "tissue", "disease", "cell_type", "sex", "age",
                           "batch")
_MEX_FILE = re.compile(r"^(?P<prefix>.*?)(?P<kind>barcodes\.tsv|features\.tsv|genes\.tsv|"
                       r"matrix\.mtx)(?:\.gz)?$")


# ------------------------------------------------------------------------------ file access


def _open_text(path: Path) -> io.TextIOBase:
    """Open a possibly gzip-compressed text file."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _open_binary(path: Path):
    """Open a possibly gzip-compressed file for binary reading."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


class _Archive:
    """Uniform member access to a directory, tar (any compression) or zip file."""

    def __init__(self, path: Path, workdir: Path) -> None:
        self.path, self.workdir = path, workdir
        if path.is_dir():
            self.kind = "dir"
            self._names = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
        elif zipfile.is_zipfile(path):
            self.kind = "zip"
            with zipfile.ZipFile(path) as zf:
                self._names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        elif tarfile.is_tarfile(path):
            self.kind = "tar"
            with tarfile.open(path, "r:*") as tf:
                self._names = sorted(m.name for m in tf.getmembers() if m.isfile())
        else:
            raise InputError(str(path), "file", "is neither a directory, a tar nor a zip archive",
                             "re-download it (a truncated download is the usual cause) or "
                             "point the registry at the right file")

    def names(self) -> list[str]:
        """Member paths (files only), sorted."""
        return list(self._names)

    def extract(self, wanted: list[str]) -> dict[str, Path]:
        """Materialise the wanted members as files; return member name -> local path."""
        if self.kind == "dir":
            return {name: self.path / name for name in wanted}
        out: dict[str, Path] = {}
        targets = {name: self.workdir / f"m{i:06d}{''.join(Path(name).suffixes[-2:])}"
                   for i, name in enumerate(wanted)}
        if self.kind == "zip":
            with zipfile.ZipFile(self.path) as zf:
                for name, target in targets.items():
                    with zf.open(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    out[name] = target
            return out
        # One sequential pass: compressed tars do not support random access cheaply.
        with tarfile.open(self.path, "r:*") as tf:
            for member in tf:
                if member.name in targets:
                    src = tf.extractfile(member)
                    assert src is not None
                    with src, open(targets[member.name], "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    out[member.name] = targets[member.name]
        return out


@contextlib.contextmanager
def _workdir(near: Path) -> Iterator[Path]:
    """A temporary directory next to the data (same disk), removed afterwards."""
    parent = near.parent if near.exists() else Path(tempfile.gettempdir())
    try:
        tmp = tempfile.mkdtemp(prefix=".neurokine-extract-", dir=parent)
    except OSError:  # read-only data directory (e.g. shared storage): fall back to /tmp
        tmp = tempfile.mkdtemp(prefix=".neurokine-extract-")
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- count checks


def require_counts(matrix: sp.spmatrix | np.ndarray, source: str, what: str = "matrix") -> None:
    """Raise if any stored value is negative or non-integer (i.e. not raw counts)."""
    data = matrix.data if sp.issparse(matrix) else np.asarray(matrix).ravel()
    if data.size == 0:
        return
    if np.issubdtype(data.dtype, np.integer):
        bad = data < 0
        not_finite = np.zeros(0, dtype=bool)
    else:
        not_finite = ~np.isfinite(data)
        with np.errstate(invalid="ignore"):
            bad = (data < 0) | (data != np.round(data)) | not_finite
    if bad.any():
        example = data[np.flatnonzero(bad)[0]]
        if not_finite.any():
            # NaN/inf are damage, not normalization: say so, so nobody hunts for a raw layer.
            raise InputError(source, what,
                             f"holds {int(not_finite.sum())} NaN or infinite values "
                             f"(e.g. {data[np.flatnonzero(not_finite)[0]]!r}), so it is not a "
                             "count matrix",
                             "re-export the raw UMI counts; NaN/inf usually come from a "
                             "failed conversion or a division in preprocessing")
        raise InputError(source, what,
                         f"holds {int(bad.sum())} non-integer or negative values "
                         f"(e.g. {example!r}): it looks normalized or log-transformed, "
                         "not raw counts",
                         "point the registry at the raw UMI count file (for h5ad set "
                         "layout.counts to raw.X or layers/<name> holding counts)")


def _as_counts(matrix: sp.spmatrix, source: str) -> sp.csr_matrix:
    """Validate and convert a cells x genes matrix to CSR int32."""
    matrix = sp.csr_matrix(matrix)
    require_counts(matrix, source)
    if matrix.data.size and matrix.data.max() > np.iinfo(np.int32).max:
        raise InputError(source, "matrix", "holds counts above 2^31", "check the file")
    matrix = matrix.astype(np.int32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


# ------------------------------------------------------------------------------------ 10x


def read_features(path: Path) -> pd.DataFrame:
    """10x features.tsv / genes.tsv: 1 (symbol), 2 (id, symbol) or 3+ (id, symbol, type) columns."""
    table = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False,
                        quoting=3)
    if table.shape[1] == 1:
        ids = symbols = table[0]
        types = pd.Series("Gene Expression", index=table.index)
    else:
        ids, symbols = table[0], table[1]
        types = table[2] if table.shape[1] > 2 else pd.Series("Gene Expression", index=table.index)
    return pd.DataFrame({"gene_ids": ids.to_numpy(), "gene_symbols": symbols.to_numpy(),
                         "feature_types": types.to_numpy()})


def read_mex(matrix: Path, features: Path, barcodes: Path, source: str) -> ad.AnnData:
    """One 10x MEX triple (genes x cells MatrixMarket) -> AnnData cells x features, raw counts."""
    with _open_binary(matrix) as handle:
        try:
            mtx = scipy.io.mmread(handle)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(source, "matrix.mtx", f"cannot be parsed ({exc})",
                             "re-download the file; a truncated download is the usual cause"
                             ) from exc
    var = read_features(features)
    with _open_text(barcodes) as handle:
        cells = [line.rstrip("\n\r").split("\t")[0] for line in handle if line.strip()]
    if mtx.shape != (len(var), len(cells)):
        raise InputError(source, "matrix.mtx",
                         f"shape {mtx.shape} does not match {len(var)} features x "
                         f"{len(cells)} barcodes",
                         "the three MEX files must come from the same library")
    counts = _as_counts(sp.csr_matrix(mtx).T, source)
    var.index = pd.Index(var["gene_ids"].to_numpy(), dtype=str)
    return ad.AnnData(X=counts, obs=pd.DataFrame(index=pd.Index(cells, dtype=str)),
                      var=var.drop(columns="gene_ids"))


def _mex_groups(names: list[str]) -> dict[str, dict[str, str]]:
    """Group member names into MEX triples keyed by their common prefix."""
    groups: dict[str, dict[str, str]] = {}
    for name in names:
        match = _MEX_FILE.match(name)
        if match:
            kind = {"genes.tsv": "features"}.get(match["kind"], match["kind"].split(".")[0])
            groups.setdefault(match["prefix"], {})[kind] = name
    return groups


# --------------------------------------------------------------------------- annotations


def _sep_for(spec: Mapping, path: Path, default: str | None = None) -> str:
    """Field separator from the registry or the file name."""
    if "sep" in spec:
        return spec["sep"]
    if default:
        return default
    name = path.name.removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def read_table(path: Path, spec: Mapping, source: str) -> pd.DataFrame:
    """An annotation table indexed by barcode; a 2-column table with `field` becomes that field."""
    table = pd.read_csv(path, sep=_sep_for(spec, path), dtype=str, keep_default_na=False,
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


def _read_annotations(dataset: str, entry: Mapping, root: Path, archives: dict[str, _Archive],
                      source: str) -> pd.DataFrame | None:
    """Join all annotation tables of an entry on barcode (outer join)."""
    frames = []
    for spec in _annotation_specs(entry):
        if "archive" in spec:
            archive = archives[spec["archive"]]
            if spec["member"] not in archive.names():
                raise InputError(source, f"{spec['name']}.member",
                                 f"{spec['member']!r} is not in {spec['archive']}",
                                 f"members include {archive.names()[:8]}")
            path = archive.extract([spec["member"]])[spec["member"]]
            path = path.rename(path.with_name(path.stem + "_" + Path(spec["member"]).name))
        else:
            path = file_location(dataset, spec, root)
        frames.append(read_table(path, spec, f"{source}/{spec['name']}"))
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


def _fields_from(frame: pd.DataFrame, entry: Mapping, source: str) -> pd.DataFrame:
    """Select the per-cell fields named in metadata.columns (plus `field` columns) from a table."""
    columns = entry.get("metadata", {}).get("columns", {})
    out = pd.DataFrame(index=frame.index)
    for field in FIELDS:
        if field in columns:
            out[field] = _field_values(frame, columns[field], field, source)
        elif field in frame.columns:
            out[field] = frame[field].astype(str)
    return out


def _attach(adata: ad.AnnData, cells: pd.DataFrame | None, entry: Mapping, source: str,
            notes: dict) -> ad.AnnData:
    """Join per-cell fields onto the matrix; drop or keep cells the annotation does not cover."""
    if cells is None:
        return adata
    fields = _fields_from(cells, entry, source)
    covered = adata.obs_names.isin(fields.index)
    notes["cells_in_annotation_not_in_matrix"] = int((~fields.index.isin(adata.obs_names)).sum())
    notes["cells_without_annotation"] = int((~covered).sum())
    policy = entry.get("layout", {}).get("unannotated_cells", "drop")
    if not covered.any():
        raise InputError(source, "annotation",
                         "no barcode of the annotation tables is in the count matrix",
                         "check barcode_column and that the tables belong to this matrix")
    if policy == "drop" and not covered.all():
        adata = adata[covered].copy()
        notes["cells_without_annotation_dropped"] = notes["cells_without_annotation"]
    obs = fields.reindex(adata.obs_names)
    for column in obs.columns:
        adata.obs[column] = obs[column].to_numpy()
    return adata


# ------------------------------------------------------------------------------- loaders


def _files(entry: Mapping, role: str) -> list[dict]:
    """Registry file entries of one role that the loader reads."""
    return [f for f in entry.get("files", []) if f["role"] == role and f.get("load", True)
            and "archive" not in f]


def _one(entry: Mapping, role: str, source: str) -> dict:
    """The single file of a role, or an error naming the entry."""
    files = _files(entry, role)
    if len(files) != 1:
        raise InputError(source, "files", f"expected exactly one file with role {role!r}, "
                         f"found {len(files)}", "fix the registry entry")
    return files[0]


def _existing(dataset: str, spec: Mapping, root: Path, source: str) -> Path:
    """Location of a file entry, which must exist."""
    path = file_location(dataset, spec, root)
    if not path.exists():
        raise InputError(source, f"files[{spec['name']}]", f"{path} does not exist",
                         "run the fetch step first (snakemake fetches it), or place the file "
                         "there by hand, or correct `path`")
    return path


def _library_table(groups: Mapping[str, object], layout: Mapping, source: str,
                   notes: dict) -> list[tuple[str, dict[str, str]]]:
    """Match library prefixes to sample_regex; exclude on purpose, fail on the unmatched."""
    regex = re.compile(layout.get("sample_regex", r"^(?P<sample>.+?)[_/.-]*$"))
    exclude = re.compile(layout["exclude_regex"]) if "exclude_regex" in layout else None
    matched, unmatched, excluded = [], [], []
    for prefix in sorted(groups):
        if exclude is not None and exclude.search(prefix):
            excluded.append(prefix)
            continue
        found = regex.search(prefix)
        if not found:
            unmatched.append(prefix)
            continue
        info = {k: v for k, v in found.groupdict().items() if v is not None}
        info.setdefault("sample", prefix.strip("_/.-") or "library")
        matched.append((prefix, info))
    if unmatched:
        raise InputError(source, "layout.sample_regex",
                         f"{len(unmatched)} librar{'y' if len(unmatched) == 1 else 'ies'} do not "
                         f"match {regex.pattern!r}: {unmatched[:5]}",
                         "adjust sample_regex, or list them in layout.exclude_regex to skip them")
    if not matched:
        raise InputError(source, "files", "no library found in the archive/directory",
                         "check that the file is the deposit's per-library archive")
    notes["libraries"] = len(matched)
    notes["libraries_excluded"] = excluded
    samples = [info["sample"] for _, info in matched]
    if len(set(samples)) != len(samples):
        raise InputError(source, "layout.sample_regex", "two libraries map to the same sample",
                         "make the `sample` group unique per library")
    return matched


def _tag_library(lib: ad.AnnData, info: Mapping[str, str]) -> ad.AnnData:
    """Prefix barcodes with the library's sample and copy its sample/donor/tissue into obs."""
    lib.obs_names = [f"{info['sample']}:{b}" for b in lib.obs_names]
    for field in ("sample", "donor", "tissue"):
        if field in info:
            lib.obs[field] = info[field]
    return lib


def _concat(parts: list[ad.AnnData]) -> ad.AnnData:
    """Concatenate libraries; genes missing from a library count as zero."""
    if len(parts) == 1:
        return parts[0]
    merged = ad.concat(parts, join="outer", merge="first", fill_value=0)
    merged.X = sp.csr_matrix(merged.X).astype(np.int32)
    return merged


def load_mex_per_sample(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """Per-library 10x MEX inside an archive (or a directory): donor/tissue/sample by regex."""
    source = f"dataset {dataset}"
    notes: dict = {}
    specs = _files(entry, "archive")
    if not specs:
        raise InputError(source, "files", "needs a file with role 'archive'",
                         "list the per-library tar/zip (or a directory `path`)")
    parts = []
    for spec in specs:
        path = _existing(dataset, spec, root, source)
        with _workdir(path) as work:
            archive = _Archive(path, work)
            groups = _mex_groups(archive.names())
            incomplete = {p: sorted(g) for p, g in groups.items()
                          if set(g) != {"barcodes", "features", "matrix"}}
            for prefix, info in _library_table(groups, entry.get("layout", {}),
                                               f"{source}/{spec['name']}", notes):
                if prefix in incomplete:
                    raise InputError(f"{source}/{spec['name']}", prefix,
                                     f"incomplete MEX (has {incomplete[prefix]})",
                                     "each library needs barcodes, features/genes and matrix")
                members = groups[prefix]
                local = archive.extract(sorted(members.values()))
                lib = read_mex(local[members["matrix"]], local[members["features"]],
                               local[members["barcodes"]], f"{path}:{members['matrix']}")
                parts.append(_tag_library(lib, info))
    adata = _concat(parts)
    adata.uns["neurokine_load"] = notes
    return adata


def load_mex_merged(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """One 10x MEX for all cells (files or inside an archive) + per-barcode annotation tables."""
    source = f"dataset {dataset}"
    notes: dict = {}
    roles = {f["role"] for f in _files(entry, "matrix") + _files(entry, "features")
             + _files(entry, "barcodes")}
    archive_specs = {f["name"]: f for f in entry.get("files", []) if f["role"] == "archive"}
    paths = {name: _existing(dataset, spec, root, source) for name, spec in archive_specs.items()}
    with contextlib.ExitStack() as stack:
        archives = {}
        for name, path in paths.items():
            archives[name] = _Archive(path, stack.enter_context(_workdir(path)))
        if {"matrix", "features", "barcodes"} <= roles:
            adata = read_mex(*(_existing(dataset, _one(entry, r, source), root, source)
                               for r in ("matrix", "features", "barcodes")), source=source)
        else:
            if len(archives) != 1:
                raise InputError(source, "files", "needs matrix+features+barcodes files or one "
                                 "archive holding them", "fix the registry entry")
            (name, archive), = archives.items()
            prefix = entry.get("layout", {}).get("member_prefix", "")
            groups = {p: g for p, g in _mex_groups(archive.names()).items()
                      if p == prefix and set(g) == {"barcodes", "features", "matrix"}}
            if not groups:
                raise InputError(f"{source}/{name}", "layout.member_prefix",
                                 f"no complete MEX under {prefix!r}",
                                 f"members include {archive.names()[:8]}")
            members = groups[prefix]
            local = archive.extract(sorted(members.values()))
            adata = read_mex(local[members["matrix"]], local[members["features"]],
                             local[members["barcodes"]], f"{paths[name]}:{members['matrix']}")
        cells = _read_annotations(dataset, entry, root, archives, source)
    adata = _attach(adata, cells, entry, source, notes)
    adata.uns["neurokine_load"] = notes
    return adata


def read_dense(path: Path, sep: str, chunk_rows: int = 1000, transpose: bool = False,
               source: str | None = None) -> ad.AnnData:
    """Dense genes x cells text table (gzip ok), streamed in row chunks into sparse counts."""
    source = source or str(path)
    with _open_text(path) as handle:
        header = handle.readline().rstrip("\n\r").split(sep)
        first = handle.readline().rstrip("\n\r").split(sep)
    header = [h.strip('"') for h in header]
    if len(first) == len(header) + 1:      # R write.csv/write.table without a row-name field
        columns = header
    elif len(first) == len(header):
        columns = header[1:]
    else:
        raise InputError(source, "header", f"{len(header)} header fields but {len(first)} in the "
                         "first row", f"check the separator (layout.sep, now {sep!r})")
    blocks, rows = [], []
    reader = pd.read_csv(path, sep=sep, header=None, skiprows=1, index_col=0,
                         chunksize=chunk_rows, dtype={0: str},
                         compression="gzip" if path.suffix == ".gz" else None)
    for i, chunk in enumerate(reader):
        values = chunk.to_numpy(dtype=np.float64, na_value=np.nan)
        require_counts(values, source, f"rows {i * chunk_rows + 1}-{i * chunk_rows + len(chunk)}")
        blocks.append(sp.csr_matrix(values.astype(np.int64)))
        rows.extend(chunk.index.astype(str))
    matrix = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, len(columns)))
    if matrix.shape[1] != len(columns):
        raise InputError(source, "columns", f"{matrix.shape[1]} values per row but "
                         f"{len(columns)} header names", "check the file")
    if transpose:
        cells, genes, counts = rows, columns, matrix
    else:
        cells, genes, counts = columns, rows, matrix.T
    var = pd.DataFrame({"gene_symbols": genes, "feature_types": "Gene Expression"},
                       index=pd.Index(genes, dtype=str))
    return ad.AnnData(X=_as_counts(counts, source),
                      obs=pd.DataFrame(index=pd.Index(cells, dtype=str)), var=var)


def load_dense_matrix(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """Dense genes x cells CSV/TXT: one file, or one per library inside an archive."""
    source = f"dataset {dataset}"
    layout = entry.get("layout", {})
    notes: dict = {}
    chunk, transpose = layout.get("chunk_rows", 1000), layout.get("transpose", False)
    matrices = _files(entry, "matrix")
    archive_specs = {f["name"]: f for f in entry.get("files", []) if f["role"] == "archive"}
    with contextlib.ExitStack() as stack:
        archives = {name: _Archive(path, stack.enter_context(_workdir(path)))
                    for name, path in ((n, _existing(dataset, s, root, source))
                                       for n, s in archive_specs.items())}
        if matrices:
            spec = _one(entry, "matrix", source)
            path = _existing(dataset, spec, root, source)
            adata = read_dense(path, _sep_for(layout, path), chunk, transpose, str(path))
        else:
            parts = []
            for name, archive in archives.items():
                members = {m: m for m in archive.names()
                           if not m.endswith(("/", ".json", ".png"))}
                for member, info in _library_table(members, layout, f"{source}/{name}", notes):
                    local = archive.extract([member])[member]
                    lib = read_dense(local, _sep_for(layout, Path(member)), chunk, transpose,
                                     f"{archive.path}:{member}")
                    parts.append(_tag_library(lib, info))
            adata = _concat(parts)
        cells = _read_annotations(dataset, entry, root, archives, source)
    adata = _attach(adata, cells, entry, source, notes)
    adata.uns["neurokine_load"] = notes
    return adata


def _h5ad_counts(adata: ad.AnnData, where: str, source: str) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """Pick the raw-count matrix of an h5ad and its var table."""
    def problem(matrix) -> InputError | None:
        try:
            require_counts(matrix, source, "X")
        except InputError as exc:
            return exc
        return None

    if where == "auto":
        x_problem = problem(adata.X)
        if x_problem is None:
            where = "X"
        elif adata.raw is not None and problem(adata.raw.X) is None:
            where = "raw.X"
        else:
            raise InputError(source, "X / raw.X",
                             f"neither X nor raw.X holds raw integer counts: X {x_problem.problem}"
                             f"{'' if adata.raw is not None else '; there is no raw.X'}",
                             "use a file with raw UMI counts, or name the layer holding them "
                             "with layout.counts (X, raw.X or layers/<name>)")
    if where == "X":
        matrix, var = adata.X, adata.var
    elif where == "raw.X":
        if adata.raw is None:
            raise InputError(source, "raw.X", "absent", "set layout.counts to X or layers/<name>")
        matrix, var = adata.raw.X, adata.raw.var
    else:
        layer = where.split("/", 1)[1]
        if layer not in adata.layers:
            raise InputError(source, f"layers/{layer}", "absent",
                             f"available layers: {list(adata.layers)}")
        matrix, var = adata.layers[layer], adata.var
    return _as_counts(sp.csr_matrix(matrix), f"{source} ({where})"), var.copy()


def _load_npy(path: Path, n_obs: int, source: str) -> np.ndarray:
    """A per-cell .npy array (never unpickled: object arrays are refused)."""
    try:
        values = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InputError(str(path), "array", "is a pickled object array, which is never loaded "
                         "from downloaded files (unpickling can run code)",
                         "convert it to a plain string/number array") from exc
    values = np.asarray(values).reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
    if len(values) != n_obs:
        raise InputError(str(path), "length", f"{len(values)} values for {n_obs} cells",
                         "the array must have one value per h5ad row") from None
    del source
    return values


def _canonical_text(values) -> np.ndarray:
    """Compare booleans, 0/1 and 'True'/'False' alike; everything else as stripped text."""
    text = pd.Series(np.asarray(values)).astype(str).str.strip()
    return text.replace({"1": "True", "0": "False", "true": "True", "false": "False",
                         "1.0": "True", "0.0": "False"}).to_numpy()


def load_h5ad(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """AnnData (incl. CELLxGENE schema: counts in raw.X, symbols in var.feature_name)."""
    source = f"dataset {dataset}"
    layout = entry.get("layout", {})
    spec = _one(entry, "h5ad", source)
    path = _existing(dataset, spec, root, source)
    try:
        full = ad.read_h5ad(path)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(str(path), "file", f"cannot be read as .h5ad ({exc})",
                         "re-download it; a truncated download is the usual cause") from exc
    counts, var = _h5ad_counts(full, layout.get("counts", "auto"), str(path))
    symbols_col = layout.get("gene_symbols")
    if symbols_col is None and "feature_name" in var.columns:
        symbols_col = "feature_name"   # CELLxGENE schema: var index is Ensembl
    if symbols_col is not None:
        if symbols_col not in var.columns:
            raise InputError(str(path), f"var.{symbols_col}", "column absent",
                             f"var columns: {list(var.columns)}")
        symbols = var[symbols_col].astype(str).to_numpy()
    else:
        symbols = var.index.astype(str).to_numpy()
    new_var = pd.DataFrame({"gene_symbols": symbols,
                            "feature_types": var.get("feature_types", "Gene Expression")},
                           index=pd.Index(var.index.astype(str)))
    adata = ad.AnnData(X=counts, obs=pd.DataFrame(index=full.obs_names.astype(str)), var=new_var)
    notes: dict = {"counts_from": layout.get("counts", "auto")}
    frame = full.obs.copy()
    arrays = layout.get("per_cell_arrays")
    if arrays:
        by_name = {f["name"]: f for f in entry.get("files", [])}
        for check in arrays.get("checks", []):
            array_path = _existing(dataset, by_name[check["array"]], root, source)
            values = _load_npy(array_path, full.n_obs, source)
            if check["obs_column"] not in frame.columns:
                raise InputError(str(path), f"obs.{check['obs_column']}", "column absent",
                                 "fix per_cell_arrays.checks")
            left = _canonical_text(values)
            right = _canonical_text(frame[check["obs_column"]].astype(str))
            mismatch = np.flatnonzero(left != right)
            if mismatch.size:
                raise InputError(
                    str(array_path), f"check against obs.{check['obs_column']}",
                    f"{mismatch.size} of {full.n_obs} cells disagree (first at row "
                    f"{mismatch[0]}: {left[mismatch[0]]!r} vs {right[mismatch[0]]!r}), so the "
                    "arrays are not in the h5ad's row order and cannot assign donors",
                    "do not use this dataset until the per-cell arrays are matched to the h5ad")
            notes[f"check_{check['array']}"] = "matches"
        index = _load_npy(_existing(dataset, by_name[arrays["library"]], root, source),
                          full.n_obs, source).astype(np.int64)
        libraries = {int(k): v for k, v in arrays["libraries"].items()}
        unknown = sorted(set(np.unique(index)) - set(libraries))
        if unknown:
            raise InputError(source, "layout.per_cell_arrays.libraries",
                             f"library indices {unknown} have no donor", "add them to the map")
        frame["donor"] = [libraries[i]["donor"] for i in index]
        frame["tissue"] = [libraries[i]["tissue"] for i in index]
        frame["sample"] = [libraries[i].get("sample", f"{libraries[i]['donor']}_"
                                            f"{libraries[i]['tissue']}") for i in index]
    fields = _fields_from(frame, entry, str(path))
    for column in fields.columns:
        adata.obs[column] = fields[column].to_numpy()
    adata.uns["neurokine_load"] = notes
    return adata


def load_tenx_h5(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """Cell Ranger filtered_feature_bc_matrix.h5 (one library; metadata from constants)."""
    import scanpy as sc  # heavy import, only for this loader

    source = f"dataset {dataset}"
    path = _existing(dataset, _one(entry, "h5", source), root, source)
    raw = sc.read_10x_h5(path, gex_only=False)
    var = pd.DataFrame({"gene_symbols": raw.var_names.astype(str),
                        "feature_types": raw.var.get("feature_types", "Gene Expression")},
                       index=pd.Index(raw.var["gene_ids"].astype(str)))
    adata = ad.AnnData(X=_as_counts(raw.X, str(path)),
                       obs=pd.DataFrame(index=raw.obs_names.astype(str)), var=var)
    adata.uns["neurokine_load"] = {}
    return adata


LOADERS = {
    "mex_per_sample": load_mex_per_sample,
    "mex_merged": load_mex_merged,
    "dense_matrix": load_dense_matrix,
    "h5ad": load_h5ad,
    "tenx_h5": load_tenx_h5,
    "cellxgene": lambda dataset, entry, root: _cellxgene(dataset, entry, root),
}


def _cellxgene(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """loader: cellxgene (neurokine.io.cellxgene; imported late, it imports this module)."""
    from neurokine.io.cellxgene import load_cellxgene

    return load_cellxgene(dataset, entry, root)


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
