"""AnnData deposits, including the CELLxGENE schema (counts in raw.X, symbols in feature_name).

Optional per-cell .npy arrays from the authors assign donors when the h5ad lacks them; they
are checked element-wise against obs columns before anything is trusted, and never unpickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.loaders.annotations import fields_from
from neurokine.io.loaders.common import as_counts, existing, one_file
from neurokine.io.loaders.features import GENE_EXPRESSION

#: The fix offered when no raw counts are found where layout.counts points.
_FIX_COUNTS = ("use a file with raw UMI counts, or name the layer holding them with "
               "layout.counts (X, raw.X or layers/<name>)")


def _auto_counts(adata: ad.AnnData, source: str) -> tuple[sp.csr_matrix, pd.DataFrame, str]:
    """X if it holds raw counts, else raw.X; an error saying what is wrong with both."""
    try:
        return as_counts(adata.X, f"{source} (X)", "X"), adata.var, "X"
    except InputError as x_problem:
        if adata.raw is None:
            raise InputError(source, "X / raw.X", "neither X nor raw.X holds raw integer counts:"
                             f" X {x_problem.problem}; there is no raw.X", _FIX_COUNTS
                             ) from None
        try:
            return as_counts(adata.raw.X, f"{source} (raw.X)", "raw.X"), adata.raw.var, "raw.X"
        except InputError:
            raise InputError(source, "X / raw.X", "neither X nor raw.X holds raw integer counts:"
                             f" X {x_problem.problem}", _FIX_COUNTS) from None


def h5ad_counts(adata: ad.AnnData, where: str, source: str
                ) -> tuple[sp.csr_matrix, pd.DataFrame]:
    """The raw-count matrix of an h5ad (auto, X, raw.X or layers/<name>) and its var table."""
    if where == "auto":
        counts, var, _ = _auto_counts(adata, source)
        return counts, var.copy()
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
    return as_counts(matrix, f"{source} ({where})", where), var.copy()


def _symbols(var: pd.DataFrame, column: str | None, source: str) -> np.ndarray:
    """Gene symbols: layout.gene_symbols, else CELLxGENE's feature_name, else the var index."""
    if column is None and "feature_name" in var.columns:
        column = "feature_name"   # CELLxGENE schema: var index is Ensembl
    if column is None:
        return var.index.astype(str).to_numpy()
    if column not in var.columns:
        raise InputError(source, f"var.{column}", "column absent",
                         f"var columns: {list(var.columns)}")
    return var[column].astype(str).to_numpy()


def _load_npy(path: Path, n_obs: int) -> np.ndarray:
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
    return values


def _canonical_text(values: np.ndarray | pd.Series) -> np.ndarray:
    """Compare booleans, 0/1 and 'True'/'False' alike; everything else as stripped text."""
    text = pd.Series(np.asarray(values)).astype(str).str.strip()
    return text.replace({"1": "True", "0": "False", "true": "True", "false": "False",
                         "1.0": "True", "0.0": "False"}).to_numpy()


def _check_array(array_path: Path, obs: pd.DataFrame, column: str, h5ad: Path) -> None:
    """A per-cell array must equal an obs column cell by cell (proves the row order)."""
    if column not in obs.columns:
        raise InputError(str(h5ad), f"obs.{column}", "column absent",
                         "fix per_cell_arrays.checks")
    left = _canonical_text(_load_npy(array_path, len(obs)))
    right = _canonical_text(obs[column].astype(str))
    mismatch = np.flatnonzero(left != right)
    if mismatch.size:
        raise InputError(
            str(array_path), f"check against obs.{column}",
            f"{mismatch.size} of {len(obs)} cells disagree (first at row "
            f"{mismatch[0]}: {left[mismatch[0]]!r} vs {right[mismatch[0]]!r}), so the "
            "arrays are not in the h5ad's row order and cannot assign donors",
            "do not use this dataset until the per-cell arrays are matched to the h5ad")


def _library_fields(frame: pd.DataFrame, arrays: Mapping, files: Mapping[str, Path],
                    source: str) -> pd.DataFrame:
    """donor/tissue/sample per cell from the library-index array and the registry's map."""
    index = _load_npy(files[arrays["library"]], len(frame)).astype(np.int64)
    libraries = {int(k): v for k, v in arrays["libraries"].items()}
    unknown = sorted(set(np.unique(index)) - set(libraries))
    if unknown:
        raise InputError(source, "layout.per_cell_arrays.libraries",
                         f"library indices {unknown} have no donor", "add them to the map")
    frame = frame.copy()
    frame["donor"] = [libraries[i]["donor"] for i in index]
    frame["tissue"] = [libraries[i]["tissue"] for i in index]
    frame["sample"] = [libraries[i].get("sample", f"{libraries[i]['donor']}_"
                                        f"{libraries[i]['tissue']}") for i in index]
    return frame


def _with_arrays(dataset: str, entry: Mapping, root: Path, frame: pd.DataFrame, path: Path,
                 notes: dict) -> pd.DataFrame:
    """obs plus the fields the per-cell arrays give, after every array check has passed."""
    arrays = entry.get("layout", {}).get("per_cell_arrays")
    if not arrays:
        return frame
    source = f"dataset {dataset}"
    files = {f["name"]: existing(dataset, f, root, source) for f in entry.get("files", [])
             if f["name"] in {arrays["library"], *(c["array"] for c in arrays.get("checks", []))}}
    for check in arrays.get("checks", []):
        _check_array(files[check["array"]], frame, check["obs_column"], path)
        notes[f"check_{check['array']}"] = "matches"
    return _library_fields(frame, arrays, files, source)


def load_h5ad(dataset: str, entry: Mapping, root: Path) -> ad.AnnData:
    """AnnData (incl. CELLxGENE schema: counts in raw.X, symbols in var.feature_name)."""
    source = f"dataset {dataset}"
    layout = entry.get("layout", {})
    path = existing(dataset, one_file(entry, "h5ad", source), root, source)
    try:
        full = ad.read_h5ad(path)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(str(path), "file", f"cannot be read as .h5ad ({exc})",
                         "re-download it; a truncated download is the usual cause") from exc
    counts, var = h5ad_counts(full, layout.get("counts", "auto"), str(path))
    new_var = pd.DataFrame({"gene_symbols": _symbols(var, layout.get("gene_symbols"), str(path)),
                            "feature_types": var.get("feature_types", GENE_EXPRESSION)},
                           index=pd.Index(var.index.astype(str)))
    adata = ad.AnnData(X=counts, obs=pd.DataFrame(index=full.obs_names.astype(str)), var=new_var)
    notes: dict = {"counts_from": layout.get("counts", "auto")}
    frame = _with_arrays(dataset, entry, root, full.obs.copy(), path, notes)
    fields = fields_from(frame, entry, str(path))
    for column in fields.columns:
        adata.obs[column] = fields[column].to_numpy()
    adata.uns["neurokine_load"] = notes
    return adata
