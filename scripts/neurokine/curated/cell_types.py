"""Load and validate the cell-type vocabulary (resources/cell_types.yaml)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jsonschema

from neurokine.curated import shipped
from neurokine.curated.gene_universe import GeneUniverse, check_genes
from neurokine.errors import InputError
from neurokine.io.files import read_yaml


@dataclasses.dataclass(frozen=True)
class CellType:
    """One vocabulary entry: id, Cell Ontology term and marker genes."""

    id: str
    label: str
    ontology_id: str
    lineage: str
    markers: tuple[str, ...]
    negative_markers: tuple[str, ...]
    compartments: tuple[str, ...]
    parent: str | None = None
    hcd_cip: tuple[str, ...] = ()


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
            lineage=entry["lineage"], markers=tuple(entry["markers"]),
            negative_markers=tuple(entry.get("negative_markers", [])),
            compartments=tuple(entry["compartments"]),
            parent=entry.get("parent"),
            hcd_cip=tuple(entry.get("references", {}).get("hcd_cip", [])),
        )
        if gene_universe is not None:
            markers = entry["markers"] + entry.get("negative_markers", [])
            check_genes(gene_universe, str(path),
                        [(f"cell_types.{i}({entry['id']}).markers", g) for g in markers])
    for i, ctype in enumerate(vocabulary.values()):
        if ctype.parent is not None and ctype.parent not in vocabulary:
            raise InputError(str(path), f"cell_types.{i}({ctype.id}).parent",
                             f"unknown parent {ctype.parent!r}", "use an id of this vocabulary")
    return vocabulary
