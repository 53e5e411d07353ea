"""Published cytokine-response references, read from installed packages at run time.

Two references are used, both shipped inside MIT-licensed PyPI wheels and never copied into this
repository:

* CytoSig (Jiang et al. 2021, PMID 34594031): the 43-cytokine response signature matrix
  (genes x cytokines), read from ``secactpy``'s ``data/CytoSig.tsv.gz``. Optional: the wheel is
  82 MB and declares numpy<2, so it is installed with ``--no-deps`` and never imported.
* Human Cytokine Dictionary (Oesinghaus et al. 2025, DOI 10.64898/2025.12.12.693897): the
  cytokine-induced programs (CIPs) per PBMC cell type and the cytokine -> receptor info table,
  read from ``hucira``'s packaged data (its loader functions download instead, so they are not
  used). Required.

Files are located through ``importlib.metadata`` so the packages themselves are never imported.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import importlib.metadata as md
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from neurokine.errors import InputError
from neurokine.io.files import sha256sum

log = logging.getLogger(__name__)

#: Reference key used in axis YAML `references:` for each loadable reference.
AXIS_KEYS: dict[str, str] = {"cytosig": "cytosig", "hcd": "hucira"}


@dataclasses.dataclass(frozen=True)
class ReferenceFile:
    """Where one reference data file lives inside an installed distribution."""

    reference: str
    package: str
    path: str
    citation: str
    optional: bool
    install_hint: str


FILES: dict[str, ReferenceFile] = {
    "cytosig": ReferenceFile(
        "cytosig", "secactpy", "secactpy/data/CytoSig.tsv.gz", "PMID:34594031", True,
        "pip install --no-deps secactpy==0.3.1 (optional; see resources/signatures/README.md)"),
    "hcd_cip": ReferenceFile(
        "hcd_cip", "hucira", "hucira/data/df_cips_genesets.csv",
        "DOI:10.64898/2025.12.12.693897", False, "pip install hucira==0.1.3 openpyxl==3.1.5"),
    "hcd_info": ReferenceFile(
        "hcd_info", "hucira",
        "hucira/data/20250125_cytokine_info_with_functional_classification_LV.xlsx",
        "DOI:10.64898/2025.12.12.693897", False, "pip install hucira==0.1.3 openpyxl==3.1.5"),
}

_REPORTED_MISSING: set[str] = set()


def _report_missing_once(reference: str, reason: str) -> None:
    """Log a missing optional reference a single time per process, so logs stay readable."""
    if reference not in _REPORTED_MISSING:
        _REPORTED_MISSING.add(reference)
        log.warning("optional reference %s is not available (%s); continuing without it. "
                    "Install with: %s", reference, reason, FILES[reference].install_hint)


def _record_sha256(dist: md.Distribution, path: str) -> str | None:
    """Return the sha256 that the wheel's RECORD lists for a file, as hex, if any."""
    for entry in dist.files or ():
        if str(entry) == path and entry.hash is not None and entry.hash.mode == "sha256":
            padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
            return base64.urlsafe_b64decode(padded).hex()
    return None


def _licence(dist: md.Distribution) -> str:
    """Short licence name from package metadata (expression, classifier or first line)."""
    meta = dist.metadata
    if meta.get("License-Expression"):
        return str(meta["License-Expression"])
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License :: OSI Approved :: "):
            return classifier.rsplit("::", 1)[1].strip().removesuffix(" License")
    first = (meta.get("License") or "unknown").strip().splitlines()[0]
    return first.removesuffix(" License")


def locate(reference: str) -> Path | None:
    """Path of a reference file inside its installed package, or None if the package is absent."""
    spec = FILES[reference]
    try:
        dist = md.distribution(spec.package)
    except md.PackageNotFoundError:
        if spec.optional:
            _report_missing_once(reference, f"package {spec.package} is not installed")
            return None
        raise InputError(f"package {spec.package}", reference, "required reference package is "
                         "not installed", spec.install_hint) from None
    path = Path(str(dist.locate_file(spec.path)))
    if not path.is_file():
        if spec.optional:
            _report_missing_once(reference, f"{spec.path} missing from {spec.package}")
            return None
        raise InputError(str(path), reference, "data file missing from the installed package",
                         f"reinstall: {spec.install_hint}")
    return path


def provenance() -> pd.DataFrame:
    """One row per reference file: package, version, file, sha256, licence, citation, status;
    the ontologies (CL, MONDO, UBERON, PATO, HsapDv) with their releases come last."""
    from neurokine.curated import ontology

    rows = []
    for key, spec in FILES.items():
        row = {"reference": key, "package": spec.package, "version": "", "file": spec.path,
               "sha256": "", "licence": "", "citation": spec.citation, "status": "missing"}
        try:
            dist = md.distribution(spec.package)
        except md.PackageNotFoundError:
            rows.append(row)
            continue
        row.update(version=dist.version, licence=_licence(dist))
        path = Path(str(dist.locate_file(spec.path)))
        if path.is_file():
            digest = sha256sum(path)
            recorded = _record_sha256(dist, spec.path)
            if recorded is not None and recorded != digest:
                raise InputError(str(path), "sha256", f"file hash {digest} differs from the "
                                 f"wheel RECORD {recorded}", f"reinstall: {spec.install_hint}")
            row.update(sha256=digest, status="loaded")
        rows.append(row)
    return pd.DataFrame([*rows, *ontology.provenance()])


@functools.lru_cache(maxsize=1)
def load_cytosig() -> pd.DataFrame | None:
    """CytoSig 43-cytokine response matrix (genes x cytokines), or None when not installed."""
    path = locate("cytosig")
    if path is None:
        return None
    matrix = pd.read_csv(path, sep="\t", index_col=0)
    matrix.index = matrix.index.astype(str)
    return matrix


@functools.lru_cache(maxsize=1)
def load_hcd_cips() -> pd.DataFrame:
    """Human Cytokine Dictionary CIP gene sets: columns gene, CIP, effect_size, celltype."""
    path = locate("hcd_cip")
    assert path is not None  # required reference: locate raises instead of returning None
    frame = pd.read_csv(path, usecols=["gene", "CIP", "effect_size", "celltype"])
    return frame.astype({"gene": str, "CIP": str, "celltype": str})


def _split_genes(cell: object) -> list[str]:
    """Split a 'A, B; C' gene cell of the HCD info table into symbols."""
    if not isinstance(cell, str):
        return []
    return [g for g in re.split(r"[,;]\s*", cell.strip()) if g]


@functools.lru_cache(maxsize=1)
def load_hcd_info() -> pd.DataFrame:
    """HCD cytokine info: name, ligand genes, receptor complexes (tuple of tuples), tested flag."""
    path = locate("hcd_info")
    assert path is not None
    raw = pd.read_excel(path, sheet_name="all_cytokines")
    receptors = [tuple(tuple(_split_genes(c)) for c in str(cell).split(";") if _split_genes(c))
                 if isinstance(cell, str) else () for cell in raw["receptor gene"]]
    return pd.DataFrame({
        "name": raw["name"].astype(str),
        "ligand_genes": [tuple(_split_genes(c)) for c in raw["gene"]],
        "receptor_complexes": receptors,
        "tested": raw["parse_cytokine"].astype(bool),
    })


def reference_genes(reference: str) -> frozenset[str] | None:
    """All gene symbols a reference names (None if an optional reference is missing)."""
    if reference == "cytosig":
        matrix = load_cytosig()
        return None if matrix is None else frozenset(matrix.index)
    if reference == "hcd_cip":
        return frozenset(load_hcd_cips()["gene"])
    if reference == "hcd_info":
        info = load_hcd_info()
        genes = {g for genes in info["ligand_genes"] for g in genes}
        genes |= {g for cplxs in info["receptor_complexes"] for c in cplxs for g in c}
        return frozenset(genes)
    raise KeyError(reference)


def reference_cytokines(reference: str) -> frozenset[str] | None:
    """Cytokine names a reference measured (CytoSig columns; HCD tested cytokines)."""
    if reference == "cytosig":
        matrix = load_cytosig()
        return None if matrix is None else frozenset(matrix.columns)
    if reference == "hcd":
        info = load_hcd_info()
        return frozenset(info.loc[info["tested"], "name"])
    raise KeyError(reference)


def axis_reference_names(axes: Iterable, reference: str) -> dict[str, tuple[str, ...]]:
    """Map axis id -> the names the curated YAML gives it in one reference (may be empty)."""
    key = AXIS_KEYS[reference]
    return {a.id: tuple(a.record.get("references", {}).get(key, [])) for a in axes}


def check_reference_names(axes: Iterable) -> None:
    """Fail, naming file, axis and field, if an axis names a cytokine the reference lacks."""
    axes = list(axes)
    for reference, key in AXIS_KEYS.items():
        known = reference_cytokines(reference)
        if known is None:
            continue
        for axis in axes:
            for i, name in enumerate(axis.record.get("references", {}).get(key, [])):
                if name not in known:
                    raise InputError(
                        getattr(axis, "source", "") or axis.id, f"{axis.id}.references.{key}.{i}",
                        f"{name!r} is not a cytokine of the installed {reference} reference",
                        f"use one of: {', '.join(sorted(known))}")


def coverage_table(axes: Iterable) -> pd.DataFrame:
    """Axis x reference table: the mapped names and whether the reference covers the axis."""
    axes = list(axes)
    rows = []
    for reference in AXIS_KEYS:
        known = reference_cytokines(reference)
        names = axis_reference_names(axes, reference)
        for axis in axes:
            mapped = names[axis.id]
            status = ("reference_missing" if known is None
                      else "covered" if mapped and all(n in known for n in mapped)
                      else "not_covered")
            rows.append({"axis": axis.id, "reference": reference, "names": ";".join(mapped),
                         "status": status})
    return pd.DataFrame(rows)


def missing_axes(axes: Iterable, reference: str) -> list[str]:
    """Sorted ids of the axes a reference does not cover."""
    table = coverage_table(axes)
    sub = table[(table["reference"] == reference) & (table["status"] != "covered")]
    return sorted(sub["axis"])


def cell_type_reference_map(vocabulary: Mapping) -> pd.DataFrame:
    """Vocabulary x reference: matched reference labels, or flags for out-of-reference types."""
    hcd_types = set(load_hcd_cips()["celltype"])
    rows = []
    for cid, ctype in vocabulary.items():
        labels = tuple(getattr(ctype, "hcd_cip", ()))
        unknown = [lab for lab in labels if lab not in hcd_types]
        if unknown:
            raise InputError("resources/cell_types.yaml", f"{cid}.references.hcd_cip",
                             f"unknown HCD cell type(s) {unknown}",
                             f"use one of: {', '.join(sorted(hcd_types))}")
        rows.append({"cell_type": cid, "reference": "hcd", "labels": ";".join(labels),
                     "status": "matched" if labels else "out_of_reference"})
        # CytoSig signatures were learned from bulk profiles of many cell types, so no cell type
        # is matched and none is excluded; the report states this instead of a match.
        rows.append({"cell_type": cid, "reference": "cytosig", "labels": "",
                     "status": "cell_type_agnostic"})
    return pd.DataFrame(rows)


def cytosig_gene_sets(axes: Iterable, top_n: int = 100) -> dict[str, list[str]]:
    """Per axis, the union of the top_n positively weighted genes of its CytoSig signatures."""
    matrix = load_cytosig()
    if matrix is None:
        return {}
    sets: dict[str, list[str]] = {}
    for axis, names in axis_reference_names(axes, "cytosig").items():
        if not names:
            continue
        best = matrix[list(names)].max(axis=1)
        best = best[best > 0].sort_values(ascending=False, kind="mergesort")
        picked = set()
        for name in names:
            column = matrix[name]
            column = column[column > 0].sort_values(ascending=False, kind="mergesort")
            picked.update(column.index[:top_n])
        sets[f"{axis}.cytosig"] = [g for g in best.index if g in picked]
    return sets


def hcd_cip_gene_sets(hcd_cell_type: str) -> dict[str, list[str]]:
    """HCD cytokine-induced programs measured in one HCD cell type, genes by effect size."""
    cips = load_hcd_cips()
    sub = cips[cips["celltype"] == hcd_cell_type]
    if sub.empty:
        raise InputError("hucira df_cips_genesets.csv", "celltype",
                         f"no CIP programs for cell type {hcd_cell_type!r}",
                         f"use one of: {', '.join(sorted(cips['celltype'].unique()))}")
    ordered = sub.sort_values(["CIP", "effect_size", "gene"], ascending=[True, False, True],
                              kind="mergesort")
    return {f"HCD_CIP.{cip}": list(group["gene"]) for cip, group in ordered.groupby("CIP")}


def response_gene_sets(axes: Iterable, reference: str, *, top_n: int = 100,
                       hcd_cell_type: str | None = None) -> dict[str, list[str]]:
    """Gene sets for gseapy prerank from one reference ({} if an optional one is missing).

    ``cytosig`` gives one set per covered axis (``<AXIS>.cytosig``). ``hcd_cip`` gives the CIP
    programs of one HCD cell type: the packaged HCD data do not say which cytokine induces which
    CIP, so these sets are programs, not axes.
    """
    if reference == "cytosig":
        return cytosig_gene_sets(axes, top_n=top_n)
    if reference == "hcd_cip":
        if hcd_cell_type is None:
            raise InputError("response_gene_sets", "hcd_cell_type", "required for hcd_cip",
                             "pass an HCD cell type from cell_type_reference_map")
        return hcd_cip_gene_sets(hcd_cell_type)
    raise InputError("response_gene_sets", "reference", f"unknown reference {reference!r}",
                     "use 'cytosig' or 'hcd_cip'")
