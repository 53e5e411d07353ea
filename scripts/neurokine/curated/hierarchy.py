"""Resolve Cell Ontology terms and author labels onto the vocabulary; check its hierarchy.

Resolution rule. A CL term resolves to the finest vocabulary term that is the term itself or
one of its CL ancestors: of the vocabulary terms at or above it, those with no other such term
below them; when several remain (CL is a graph: a plasmablast is both a B cell and an antibody
secreting cell), the nearest by CL distance, then a marker-bearing term before a lineage-only
one, then file order. So a coarse label is never lost for being coarse: "B cells" (CL:0000236)
lands on the lineage term B_cell, an effector-memory CD4 T cell on CD4_T_memory. A CL term with
no vocabulary term above it (an erythrocyte, a hepatocyte) is known but outside the vocabulary:
it becomes `other`. An obsolete term follows its replacement; one without a replacement, or an
id the ontology does not have, is `unmapped` and reported with its name.

An author label reaches CL (in this order) as: a vocabulary id (`Treg`, `OPCs`) or one of the
vocabulary's author-label synonyms (`CD4 T cells`), a CL id written
as the label, or a CL name or synonym after normalization (case, spacing, plural, `CD14+` read
as `CD14-positive`; neurokine.curated.ontology.normalize_name). A name shared by several CL
terms that resolve differently is reported as ambiguous, not guessed.

The lineage of a vocabulary type is the same rule restricted to lineage terms;
`check_hierarchy` verifies the vocabulary file against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from neurokine.curated.cell_types import CellType
from neurokine.curated.ontology import Ontology, name_variants, normalize_name, ontology, prefix
from neurokine.io.registry import OTHER, UNMAPPED

#: How a label was resolved (labels.tsv column `resolved_by`).
VOCABULARY_ID, VOCABULARY_SYNONYM = "vocabulary_id", "vocabulary_synonym"
CL_ID, CL_NAME, CL_SYNONYM = "cl_id", "cl_name", "cl_synonym"


@dataclasses.dataclass(frozen=True)
class Resolution:
    """Where one label or CL term lands: vocabulary id (or other/unmapped), the CL term reached,
    how, and a status for the label report."""

    cell_type: str
    term_id: str
    resolved_by: str
    status: str
    note: str = ""

    @property
    def mapped(self) -> bool:
        """Whether it landed on a vocabulary type."""
        return self.status == "mapped"


class CellTypeResolver:
    """Resolution of CL terms and labels onto one vocabulary (results cached per instance)."""

    def __init__(self, vocabulary: Mapping[str, CellType], cl: Ontology | None = None) -> None:
        self.vocabulary = vocabulary
        self.cl = cl if cl is not None else ontology("CL")
        self._by_term = {c.ontology_id: c.id for c in vocabulary.values()}
        self._order = {cid: i for i, cid in enumerate(vocabulary)}
        self._names = {normalize_name(name): (c.id, how) for c in vocabulary.values()
                       for name, how in ((c.id, VOCABULARY_ID),
                                         *((s, VOCABULARY_SYNONYM) for s in c.synonyms))}
        self._cache: dict[tuple[str, str], Resolution] = {}

    def finest(self, term_id: str, lineage_only: bool = False) -> str | None:
        """The finest vocabulary id at or above a live CL term (among lineage terms if asked)."""
        ancestry = self.cl.ancestors(term_id, include_self=True)
        found = {self._by_term[t]: d for t, d in ancestry.items() if t in self._by_term}
        if lineage_only:
            found = {c: d for c, d in found.items() if self.vocabulary[c].lineage == c}
        if not found:
            return None
        terms = {c: self.vocabulary[c].ontology_id for c in found}
        # Keep the most specific: drop any candidate that is a CL ancestor of another one.
        specific = [c for c in found
                    if not any(o != c and self.cl.is_a(terms[o], terms[c]) for o in found)]
        return min(specific, key=lambda c: (found[c], self.vocabulary[c].lineage_only,
                                            self._order[c]))

    def from_term(self, term_id: str, resolved_by: str = CL_ID) -> Resolution:
        """Resolve a CL term id (obsolete terms through their replacement)."""
        key = (term_id, resolved_by)
        if key not in self._cache:
            self._cache[key] = self._from_term(term_id, resolved_by)
        return self._cache[key]

    def _from_term(self, term_id: str, resolved_by: str) -> Resolution:
        if prefix(term_id) != "CL":
            return Resolution(UNMAPPED, term_id, resolved_by, "not_a_cl_term",
                              "a cell type needs a Cell Ontology (CL:nnnnnnn) id")
        if term_id not in self.cl:
            return Resolution(UNMAPPED, term_id, resolved_by, "unknown_cl_term",
                              f"not in the Cell Ontology {self.cl.version}")
        live = self.cl.current(term_id)
        if live is None:
            return Resolution(UNMAPPED, term_id, resolved_by, "obsolete_cl_term",
                              f"{self.cl.label(term_id)!r} is obsolete, with no replacement")
        note = "" if live == term_id else f"obsolete {term_id}, replaced by {live}"
        found = self.finest(live)
        if found is None:
            return Resolution(OTHER, live, resolved_by, "outside_vocabulary",
                              "; ".join(filter(None, [note, "no vocabulary type at or above "
                                                      "this term"])))
        return Resolution(found, live, resolved_by, "mapped", note)

    def from_label(self, label: str) -> Resolution:
        """Resolve an author label: vocabulary id, CL id, then CL name or synonym."""
        for variant in name_variants(label):
            if variant in self._names:
                cid, how = self._names[variant]
                return Resolution(cid, self.vocabulary[cid].ontology_id, how, "mapped")
        if prefix(label.strip()) == "CL":
            return self.from_term(label.strip(), CL_ID)
        match = self.cl.find_name(label)
        if match is None:
            return Resolution(UNMAPPED, "", "", "unmapped_label",
                              "no vocabulary id, CL id, CL name or CL synonym matches")
        how = CL_NAME if match.kind == "name" else CL_SYNONYM
        results = {t: self.from_term(t, how) for t in match.term_ids}
        landed = {r.cell_type for r in results.values()}
        if len(landed) > 1:
            options = ", ".join(f"{t} {self.cl.label(t)!r} -> {r.cell_type}"
                                for t, r in results.items())
            return Resolution(UNMAPPED, ";".join(match.term_ids), how, "ambiguous_cl_name",
                              f"the name fits several CL terms: {options}; map it in the registry")
        return results[match.term_ids[0]]

    def term_name(self, term_id: str) -> str:
        """Names of the CL term(s) reached (';'-joined like the ids)."""
        return ";".join(self.cl.label(t) for t in term_id.split(";") if t)


def check_hierarchy(vocabulary: Mapping[str, CellType], cl: Ontology | None = None) -> list[str]:
    """Every way the vocabulary disagrees with the Cell Ontology (empty when it agrees)."""
    cl = cl if cl is not None else ontology("CL")
    resolver = CellTypeResolver(vocabulary, cl)
    problems = []
    seen: dict[str, str] = {}
    for ctype in vocabulary.values():
        where, term = ctype.id, ctype.ontology_id
        if term in seen:
            problems.append(f"{where}: {term} is also the CL id of {seen[term]}")
        seen[term] = where
        if term not in cl:
            problems.append(f"{where}: {term} is not in the Cell Ontology {cl.version}")
            continue
        if cl.is_deprecated(term):
            problems.append(f"{where}: {term} is obsolete (replaced by {cl.current(term)})")
            continue
        if ctype.label != cl.label(term):
            problems.append(f"{where}: label {ctype.label!r} differs from CL's {cl.label(term)!r}")
        if ctype.parent is not None:
            parent_term = vocabulary[ctype.parent].ontology_id
            if parent_term == term or not cl.is_a(term, parent_term):
                problems.append(f"{where}: parent {ctype.parent} ({parent_term}) is not a CL "
                                f"ancestor of {term}")
        expected = resolver.finest(term, lineage_only=True)
        if ctype.lineage != expected:
            problems.append(f"{where}: lineage {ctype.lineage} but CL ancestry gives {expected}")
    return problems


def check_registry(registry: Mapping[str, Mapping], vocabulary: Mapping[str, CellType],
                   cl: Ontology | None = None) -> list[str]:
    """Every registry cell-type target that does not resolve as written (empty when all do).

    An id must be a vocabulary id or reserved class; a `cl` must be a live CL term; with both,
    the CL term must resolve to that id, and a reserved `other` must name a CL term the
    vocabulary has nothing at or above (else the cells would be dropped for no reason).
    """
    from neurokine.io.registry import RESERVED_CELL_TYPES, cell_type_rules

    resolver = CellTypeResolver(vocabulary, cl)
    problems = []
    for ds, entry in registry.items():
        exact, patterns = cell_type_rules(entry)
        for label, target in [*exact.items(), *((p.pattern, t) for p, t in patterns)]:
            where = f"{ds}: {label!r} -> {target.id or target.cl}"
            if target.id is not None and target.id not in vocabulary \
                    and target.id not in RESERVED_CELL_TYPES:
                problems.append(f"{where}: {target.id!r} is not a vocabulary id")
                continue
            if target.cl is None:
                continue
            found = resolver.from_term(target.cl)
            if found.status not in ("mapped", "outside_vocabulary") or found.term_id != target.cl:
                problems.append(f"{where}: {target.cl} is {found.status} ({found.note})"
                                if found.note else f"{where}: {target.cl} is {found.status}")
            elif target.id is not None and found.cell_type != target.id:
                problems.append(f"{where}: {target.cl} ({resolver.cl.label(target.cl)!r}) "
                                f"resolves to {found.cell_type}, not {target.id}")
    return problems


def lineage_table(vocabulary: Mapping[str, CellType]) -> list[dict[str, str]]:
    """One row per vocabulary id: its CL id and its lineage with the lineage's CL id."""
    return [{"cell_type": c.id, "ontology_id": c.ontology_id, "lineage": c.lineage,
             "lineage_ontology_id": vocabulary[c.lineage].ontology_id}
            for c in vocabulary.values()]


__all__ = ["CL_ID", "CL_NAME", "CL_SYNONYM", "VOCABULARY_ID", "VOCABULARY_SYNONYM",
           "CellTypeResolver", "Resolution", "check_hierarchy", "check_registry", "lineage_table"]
