"""Cell Ontology, MONDO, UBERON, PATO and HsapDv, read offline from cellxgene-ontology-guide.

The package (pinned in requirements.txt) ships each ontology as versioned, compressed JSON with,
per term, its label, synonyms, every ancestor with its distance (is_a and part_of), and whether
it is deprecated and by what it was replaced. This module is the project's one reader of it:
ask here for labels, synonyms and ancestry; never copy an ontology tree into the project.

Each ontology is decoded once per process (functools.cache) and only when first asked for, so
importing this module costs nothing at Snakefile parse time. The versions used are those of the
newest CELLxGENE schema the installed package supports; `versions()` reports them for the
report's provenance.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from importlib import metadata

#: The ontologies neurokine reads, by the package's names.
ONTOLOGIES: tuple[str, ...] = ("CL", "MONDO", "UBERON", "PATO", "HsapDv")
#: An ontology term id: prefix, colon, local id (CL:0000084, MONDO:0005301, HsapDv:0000087).
TERM_ID = re.compile(r"^(?P<prefix>[A-Za-z]+):(?P<local>[A-Za-z0-9_]+)$")
#: The package's distribution name (its version is part of the provenance).
PACKAGE = "cellxgene-ontology-guide"
#: Publications of the ontologies (PATO and HsapDv have none to cite beyond their release).
CITATIONS: dict[str, str] = {"CL": "PMID:27377652", "MONDO": "PMID:41052288",
                             "UBERON": "PMID:22293552", "PATO": "", "HsapDv": ""}


@dataclasses.dataclass(frozen=True)
class NameMatch:
    """Terms whose label or synonym equals a normalized name: how it matched and which ids."""

    kind: str  # "name" (a term's label) or "synonym"
    term_ids: tuple[str, ...]


def normalize_name(text: str) -> str:
    """Lower-case, one space between words, `X+`/`X-` after a marker read as X-positive/-negative."""
    text = re.sub(r"[\s_]+", " ", str(text).strip().lower())
    text = re.sub(r"(?<=[a-z0-9])\+(?=[\s,/]|$)", "-positive", text)
    return re.sub(r"(?<=[a-z0-9])-(?=[\s,/]|$)", "-negative", text)


def name_variants(text: str) -> list[str]:
    """A normalized name and its singular (last word without a plural ending), in that order."""
    name = normalize_name(text)
    variants = [name]
    head, _, last = name.rpartition(" ")
    for plural, singular in (("ies", "y"), ("s", "")):
        if last.endswith(plural) and len(last) > len(plural) + 2:
            variants.append(f"{head} {last[: -len(plural)] + singular}".strip())
            break
    return variants


class Ontology:
    """One ontology: term lookup, ancestry, deprecation and name search."""

    def __init__(self, name: str, version: str, terms: Mapping[str, Mapping]) -> None:
        self.name, self.version, self._terms = name, version, terms
        self._index: tuple[dict[str, set[str]], dict[str, set[str]]] | None = None

    def __contains__(self, term_id: object) -> bool:
        return isinstance(term_id, str) and term_id in self._terms

    def __len__(self) -> int:
        return len(self._terms)

    def label(self, term_id: str) -> str:
        """The term's label ('' for an id not in the ontology)."""
        return str(self._terms.get(term_id, {}).get("label", ""))

    def synonyms(self, term_id: str) -> tuple[str, ...]:
        """The term's synonyms."""
        return tuple(self._terms.get(term_id, {}).get("synonyms", ()))

    def ancestors(self, term_id: str, include_self: bool = False) -> dict[str, int]:
        """Every ancestor with its distance (1 = parent); the term itself at 0 if asked."""
        found = dict(self._terms.get(term_id, {}).get("ancestors", {}))
        if include_self and term_id in self._terms:
            found[term_id] = 0
        return found

    def is_a(self, term_id: str, ancestor: str) -> bool:
        """Whether `ancestor` is the term itself or one of its ancestors."""
        return term_id == ancestor or ancestor in self._terms.get(term_id, {}).get("ancestors", {})

    def is_deprecated(self, term_id: str) -> bool:
        """Whether the term is obsolete."""
        return bool(self._terms.get(term_id, {}).get("deprecated", False))

    def current(self, term_id: str) -> str | None:
        """The live term for an id: itself, or its replacement chain's end; None if obsolete
        without a replacement in this ontology, or unknown."""
        seen = set()
        while term_id in self._terms and term_id not in seen:
            if not self.is_deprecated(term_id):
                return term_id
            seen.add(term_id)
            term_id = self._terms[term_id].get("replaced_by") or ""
        return None

    def find_name(self, text: str) -> NameMatch | None:
        """Live terms whose label (preferred) or synonym equals the text, after normalization."""
        labels, synonyms = self._name_index()
        for variant in name_variants(text):
            if variant in labels:
                return NameMatch("name", tuple(sorted(labels[variant])))
            if variant in synonyms:
                return NameMatch("synonym", tuple(sorted(synonyms[variant])))
        return None

    def _name_index(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Normalized label -> ids and normalized synonym -> ids, over live terms (built once)."""
        if self._index is not None:
            return self._index
        labels: dict[str, set[str]] = {}
        synonyms: dict[str, set[str]] = {}
        for term_id, term in self._terms.items():
            if term.get("deprecated"):
                continue
            labels.setdefault(normalize_name(term.get("label", "")), set()).add(term_id)
            for synonym in term.get("synonyms", ()):
                synonyms.setdefault(normalize_name(synonym), set()).add(term_id)
        self._index = (labels, synonyms)
        return self._index


@functools.cache
def _schema():
    """The newest CELLxGENE schema the installed package supports (its ontology versions)."""
    from cellxgene_ontology_guide.supported_versions import CXGSchema

    return CXGSchema()


@functools.cache
def ontology(name: str) -> Ontology:
    """One ontology (CL, MONDO, UBERON, PATO, HsapDv), decoded once per process."""
    if name not in ONTOLOGIES:
        raise ValueError(f"unknown ontology {name!r}; neurokine reads {ONTOLOGIES}")
    schema = _schema()
    return Ontology(name, str(schema.supported_ontologies[name]["version"]), schema.ontology(name))


def prefix(term_id: str) -> str | None:
    """The ontology prefix of a term id ('CL' for CL:0000084), or None if it is not an id."""
    match = TERM_ID.match(str(term_id))
    return match["prefix"] if match else None


def versions() -> dict[str, str]:
    """The package version, its CELLxGENE schema version and every ontology version read."""
    schema = _schema()
    found = {PACKAGE: metadata.version(PACKAGE), "CELLxGENE schema": str(schema.version)}
    found.update({name: str(schema.supported_ontologies[name]["version"]) for name in ONTOLOGIES})
    return found


def provenance() -> list[dict[str, str]]:
    """One row per ontology read: package, release, data file and its SHA-256 (report table)."""
    from neurokine.io.files import sha256sum

    schema = _schema()
    dist = metadata.distribution(PACKAGE)
    rows = []
    for name in ONTOLOGIES:
        release = str(schema.supported_ontologies[name]["version"])
        file = f"cellxgene_ontology_guide/data/{name}-ontology-{release}.json.zst"
        path = dist.locate_file(file)
        rows.append({"reference": f"{name} ontology", "package": PACKAGE,
                     "version": f"{dist.version} ({name} {release})", "file": file,
                     "sha256": sha256sum(path) if path.is_file() else "",
                     "licence": dist.metadata.get("License-Expression") or "MIT (package)",
                     "citation": CITATIONS[name],
                     "status": "loaded" if path.is_file() else "missing"})
    return rows


__all__ = ["ONTOLOGIES", "NameMatch", "Ontology", "name_variants", "normalize_name", "ontology",
           "prefix", "provenance", "versions"]
