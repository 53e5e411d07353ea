"""Load and validate the curated cytokine-axis resource and turn it into gene sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import jsonschema

from neurokine.curated import shipped
from neurokine.curated.gene_universe import GeneUniverse, check_genes
from neurokine.errors import InputError
from neurokine.io.files import read_yaml

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
    source: str = ""

    @property
    def ligand_complexes(self) -> tuple[tuple[str, ...], ...]:
        """Alternative ligands as subunit tuples: a heteromer group is one complex."""
        complexes: list[tuple[str, ...]] = []
        for group in self.record.get("ligands", []):
            if group.get("heteromer", False):
                complexes.append(tuple(group["genes"]))
            else:
                complexes.extend((g,) for g in group["genes"])
        return tuple(dict.fromkeys(complexes))

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


def _schema_problem(error: jsonschema.ValidationError) -> tuple[list[str], str]:
    """Turn a jsonschema error into (field path, plain-language problem)."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        return [*path, unknown[0]], f"unknown key {unknown[0]!r}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing and missing[0] == "citations":
            return [*path, "citations"], "missing citation"
        return [*path, missing[0]], f"missing required key {missing[0]!r}"
    if path and path[-1] == "citations" and error.validator == "minItems":
        return path, "missing citation (the list is empty)"
    if len(path) >= 2 and path[-2] == "citations" and error.validator == "pattern":
        return path, f"malformed citation {error.instance!r} (use PMID:, DOI:, NCT, GEO: or PMC:)"
    return path, error.message


def _validate(record: object, schema: dict, source: Path) -> None:
    """Validate one axis record, naming the file, the axis and the field on failure."""
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(record),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        path, problem = _schema_problem(errors[0])
        axis_id = record.get("id") if isinstance(record, dict) else None
        axis_id = axis_id if isinstance(axis_id, str) else source.stem
        field = ".".join([axis_id, *path]) if path else f"{axis_id} (top level)"
        raise InputError(str(source), field, problem,
                         "see resources/schemas/axis.schema.yaml for allowed keys and values")


def _gene_fields(record: dict) -> list[tuple[str, str]]:
    """Every (field path, gene symbol) of one axis record, in file order."""
    fields = []
    for key in ("ligands", "signalling", "response"):
        for i, group in enumerate(record.get(key, [])):
            fields += [(f"{record['id']}.{key}.{i}.genes.{j}", g)
                       for j, g in enumerate(group["genes"])]
    for i, receptor in enumerate(record["receptors"]):
        fields += [(f"{record['id']}.receptors.{i}.subunits.{j}", g)
                   for j, g in enumerate(receptor["subunits"])]
    return fields


def load_axes(axes_dir: str | Path | None = None, schema_path: str | Path | None = None,
              cell_types: Iterable[str] | None = None,
              gene_universe: GeneUniverse | None = None) -> list[Axis]:
    """Read, validate and return all axes in a directory (default: the shipped ones), sorted by id.

    With ``cell_types`` every producer/responder must be a vocabulary id; with ``gene_universe``
    every gene symbol must belong to it (see neurokine.curated.gene_universe.build_universe).
    """
    axes_dir = Path(axes_dir) if axes_dir is not None else shipped.axes_dir()
    schema = read_yaml(schema_path if schema_path is not None else shipped.axis_schema())
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
            raise InputError(str(path), f"{record['id']}.id",
                             f"duplicates axis {record['id']!r} of {seen[record['id']]}",
                             "give every axis a unique id")
        if record["id"] != path.stem:
            raise InputError(str(path), f"{record['id']}.id",
                             f"id {record['id']!r} differs from the file name {path.stem!r}",
                             "name the file <id>.yaml so ids stay stable and findable")
        seen[record["id"]] = path.name
        if known_types is not None:
            for role in ("producers", "responders"):
                for i, fact in enumerate(record[role]):
                    if fact["cell_type"] not in known_types:
                        raise InputError(
                            str(path), f"{record['id']}.{role}.{i}.cell_type",
                            f"unknown cell type {fact['cell_type']!r}",
                            "use an id from resources/cell_types.yaml or add the type there")
        if gene_universe is not None:
            check_genes(gene_universe, str(path), _gene_fields(record))
        axes.append(Axis(
            id=record["id"], name=record["name"],
            ligands=_group_genes(record["ligands"]),
            receptor_complexes=tuple(tuple(r["subunits"]) for r in record["receptors"]),
            response=_group_genes(record["response"]),
            record=record,
            source=str(path),
        ))
    _check_also_blocks(axes)
    return sorted(axes, key=lambda a: a.id)


def _check_also_blocks(axes: Iterable[Axis]) -> None:
    """A multi-axis therapy may only name axes that exist (and not its own)."""
    ids = {a.id for a in axes}
    for axis in axes:
        for i, therapy in enumerate(axis.record.get("therapies", [])):
            for j, other in enumerate(therapy.get("also_blocks", [])):
                if other not in ids or other == axis.id:
                    raise InputError(axis.source, f"{axis.id}.therapies.{i}.also_blocks.{j}",
                                     f"{other!r} is {'this axis' if other == axis.id else 'no axis'}",
                                     "list the ids of the other axes the drug blocks")


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
