"""Load and validate the curated cytokine-axis resource and turn it into gene sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import jsonschema

from neurokine.errors import InputError
from neurokine.io import read_yaml

#: The gene modules scored for every axis, in reporting order.
MODULES: tuple[str, ...] = ("ligand", "receptor", "response")


@dataclasses.dataclass(frozen=True)
class Axis:
    """One cytokine axis as curated in resources/signatures/axes/<id>.yaml."""

    id: str
    name: str
    ligands: tuple[str, ...]
    receptor_complexes: tuple[tuple[str, ...], ...]
    response: tuple[str, ...]
    record: dict

    @property
    def receptor_genes(self) -> tuple[str, ...]:
        """All receptor subunits, deduplicated in first-seen order."""
        return tuple(dict.fromkeys(g for complex_ in self.receptor_complexes for g in complex_))

    def module_genes(self, module: str) -> tuple[str, ...]:
        """Genes of one module: ligand, receptor or response."""
        return {"ligand": self.ligands, "receptor": self.receptor_genes,
                "response": self.response}[module]


def _group_genes(groups: Iterable[dict]) -> tuple[str, ...]:
    """Flatten gene groups into unique genes, keeping curated order."""
    return tuple(dict.fromkeys(g for group in groups for g in group["genes"]))


def _validate(record: object, schema: dict, source: Path) -> None:
    """Validate one axis record against the schema, naming the field on failure."""
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(record),
                    key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise InputError(str(source), field, first.message,
                         "see workflow/schemas/axis.schema.yaml for allowed keys and values")


def load_axes(axes_dir: str | Path, schema_path: str | Path,
              cell_types: Iterable[str] | None = None) -> list[Axis]:
    """Read, validate and return all axes in a directory, sorted by id."""
    axes_dir = Path(axes_dir)
    schema = read_yaml(schema_path)
    files = sorted(axes_dir.glob("*.yaml"))
    if not files:
        raise InputError(str(axes_dir), "directory", "contains no axis *.yaml files",
                         "point config key 'signatures' at resources/signatures/axes")
    known_types = set(cell_types) if cell_types is not None else None
    axes, seen = [], {}
    for path in files:
        record = read_yaml(path)
        _validate(record, schema, path)
        if record["id"] in seen:
            raise InputError(str(path), "id", f"duplicates axis {record['id']!r} of {seen[record['id']]}",
                             "give every axis a unique id")
        seen[record["id"]] = path.name
        if known_types is not None:
            for role in ("producers", "responders"):
                for i, fact in enumerate(record[role]):
                    if fact["cell_type"] not in known_types:
                        raise InputError(
                            str(path), f"{record['id']}.{role}.{i}.cell_type",
                            f"unknown cell type {fact['cell_type']!r}",
                            "use an id from resources/cell_types.yaml or add the type there")
        axes.append(Axis(
            id=record["id"], name=record["name"],
            ligands=_group_genes(record["ligands"]),
            receptor_complexes=tuple(tuple(r["subunits"]) for r in record["receptors"]),
            response=_group_genes(record["response"]),
            record=record,
        ))
    return sorted(axes, key=lambda a: a.id)


def signature_id(axis_id: str, module: str) -> str:
    """Stable identifier of one scored gene set, e.g. 'TNF.response'."""
    return f"{axis_id}.{module}"


def gene_sets(axes: Iterable[Axis]) -> dict[str, tuple[str, ...]]:
    """Map every signature id (axis.module) to its genes; empty modules are left out."""
    sets = {}
    for axis in axes:
        for module in MODULES:
            genes = axis.module_genes(module)
            if genes:
                sets[signature_id(axis.id, module)] = genes
    return sets


def all_genes(axes: Iterable[Axis]) -> list[str]:
    """Every gene named by any axis (ligand, receptor, signalling or response), sorted."""
    genes: set[str] = set()
    for axis in axes:
        for key in ("ligands", "signalling", "response"):
            genes.update(_group_genes(axis.record.get(key, [])))
        genes.update(axis.receptor_genes)
    return sorted(genes)
