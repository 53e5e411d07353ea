"""Load and validate the cell-type vocabulary (resources/cell_types.yaml) and its lineages.

Every type has a Cell Ontology id and a `lineage`, itself a vocabulary id. Loading checks the
file's own consistency only (cheap, no ontology read: the Snakefile loads it at parse time);
neurokine.curated.hierarchy checks every CL id, parent and lineage against the Cell Ontology.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path

import jsonschema

from neurokine.curated import shipped
from neurokine.curated.gene_universe import GeneUniverse, check_genes
from neurokine.curated.ontology import normalize_name
from neurokine.errors import InputError
from neurokine.io.files import read_yaml


@dataclasses.dataclass(frozen=True)
class CellType:
    """One vocabulary entry: id, Cell Ontology term, lineage (a vocabulary id) and markers."""

    id: str
    label: str
    ontology_id: str
    lineage: str
    markers: tuple[str, ...]
    negative_markers: tuple[str, ...]
    compartments: tuple[str, ...]
    parent: str | None = None
    hcd_cip: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()

    @property
    def lineage_only(self) -> bool:
        """A lineage term without markers: reached through CL, never annotated or simulated."""
        return not self.markers


def load_cell_types(path: str | Path | None = None, schema_path: str | Path | None = None,
                    gene_universe: GeneUniverse | None = None) -> dict[str, CellType]:
    """Read and validate the vocabulary (default: the shipped one); return it keyed by id in file
    order."""
    path = path if path is not None else shipped.cell_types_file()
    record = read_yaml(path)
    schema = read_yaml(schema_path if schema_path is not None else shipped.cell_types_schema())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(record),
                    key=lambda e: list(e.absolute_path))
    if errors:
        field = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise InputError(str(path), field, errors[0].message,
                         "see resources/schemas/cell_types.schema.yaml")
    vocabulary: dict[str, CellType] = {}
    for i, entry in enumerate(record["cell_types"]):
        if entry["id"] in vocabulary:
            raise InputError(str(path), f"cell_types.{i}.id", f"duplicate id {entry['id']!r}",
                             "give every cell type a unique id")
        vocabulary[entry["id"]] = CellType(
            id=entry["id"], label=entry["label"], ontology_id=entry["ontology_id"],
            lineage=entry["lineage"], markers=tuple(entry.get("markers", [])),
            negative_markers=tuple(entry.get("negative_markers", [])),
            compartments=tuple(entry["compartments"]),
            parent=entry.get("parent"),
            hcd_cip=tuple(entry.get("references", {}).get("hcd_cip", [])),
            synonyms=tuple(entry.get("synonyms", [])),
        )
        if not entry.get("markers") and entry["lineage"] != entry["id"]:
            raise InputError(str(path), f"cell_types.{i}({entry['id']}).markers", "missing",
                             "list marker genes; only a lineage term (lineage: its own id) may "
                             "go without")
        if gene_universe is not None:
            markers = entry.get("markers", []) + entry.get("negative_markers", [])
            check_genes(gene_universe, str(path),
                        [(f"cell_types.{i}({entry['id']}).markers", g) for g in markers])
    names: dict[str, str] = {}
    for i, ctype in enumerate(vocabulary.values()):
        for name in (ctype.id, *ctype.synonyms):
            key = normalize_name(name)
            if names.setdefault(key, ctype.id) != ctype.id:
                raise InputError(str(path), f"cell_types.{i}({ctype.id}).synonyms",
                                 f"{name!r} also names {names[key]!r}",
                                 "give every id and synonym to one type only")
        if ctype.parent is not None and ctype.parent not in vocabulary:
            raise InputError(str(path), f"cell_types.{i}({ctype.id}).parent",
                             f"unknown parent {ctype.parent!r}", "use an id of this vocabulary")
        lineage = vocabulary.get(ctype.lineage)
        if lineage is None or lineage.lineage != lineage.id:
            problem = (f"unknown lineage {ctype.lineage!r}" if lineage is None else
                       f"lineage {ctype.lineage!r} is not a lineage term (its own lineage is "
                       f"{lineage.lineage!r})")
            raise InputError(str(path), f"cell_types.{i}({ctype.id}).lineage", problem,
                             "name a vocabulary id whose lineage is itself")
    return vocabulary


def lineage_of(cell_type: str, vocabulary: Mapping[str, CellType] | None = None) -> str:
    """The lineage id of a vocabulary id (the shipped vocabulary by default); reserved classes
    (other, doublet, unmapped, unassigned) are their own lineage."""
    from neurokine.io.registry import RESERVED_CELL_TYPES

    vocabulary = vocabulary if vocabulary is not None else _shipped()
    if cell_type in vocabulary:
        return vocabulary[cell_type].lineage
    if cell_type in RESERVED_CELL_TYPES:
        return cell_type
    raise InputError("cell-type vocabulary", cell_type, "is not a vocabulary id",
                     f"use one of {sorted(vocabulary)} or a reserved class "
                     f"{list(RESERVED_CELL_TYPES)}")


#: Cell-type levels of analysis (config `cell_type_levels`): each cell's own vocabulary type, or
#: the lineage it belongs to, where deposits labelled at different resolutions meet.
FINE, LINEAGE = "fine", "lineage"
LEVELS: tuple[str, ...] = (FINE, LINEAGE)


def at_level(cell_type: str, level: str, vocabulary: Mapping[str, CellType] | None = None
             ) -> str | None:
    """The type a cell of `cell_type` counts as at a level (None: the label is too coarse for it).

    A lineage-only term (a coarse author label such as "B cells") says nothing finer, so its
    cells join the lineage level only; reserved classes stay themselves at both levels.
    """
    if level == LINEAGE:
        return lineage_of(cell_type, vocabulary)
    if level != FINE:
        raise ValueError(f"unknown cell-type level {level!r}; use one of {list(LEVELS)}")
    vocabulary = vocabulary if vocabulary is not None else _shipped()
    known = vocabulary.get(cell_type)
    return None if known is not None and known.lineage_only else cell_type


def lineages(vocabulary: Mapping[str, CellType]) -> list[str]:
    """The lineage terms of a vocabulary, in file order."""
    return [c.id for c in vocabulary.values() if c.lineage == c.id]


@functools.cache
def _shipped() -> dict[str, CellType]:
    """The shipped vocabulary, read once per process."""
    return load_cell_types()
