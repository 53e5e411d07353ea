"""Read, validate and query the dataset registry (config/datasets.yaml).

The registry is read at Snakefile parse time, so everything here is cheap: one YAML parse,
one JSON-Schema validation and a few regex compilations, no file-system walks.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import jsonschema

from neurokine.errors import InputError
from neurokine.io.files import read_yaml
from neurokine.settings import FetchSettings
from neurokine.workflow import paths

#: Dataset ids become directory and file names: letters, digits and underscores only.
DATASET_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Disease labels the workflow knows by name; others (COVID, MOGAD_or_NMOSD, ...) are kept as is.
CANONICAL_DISEASES: tuple[str, ...] = ("control", "MS", "NMOSD", "neurosarcoidosis", "ICANS")
#: Cell-type classes outside the vocabulary: author label mapped on purpose to a non-vocabulary
#: type / a doublet, an author label with no mapping, and a cell the annotator could not call.
OTHER, DOUBLET, UNMAPPED, UNASSIGNED = "other", "doublet", "unmapped", "unassigned"
RESERVED_CELL_TYPES: tuple[str, ...] = (OTHER, DOUBLET, UNMAPPED, UNASSIGNED)
#: Placeholder for a per-cell field the deposit does not provide.
UNKNOWN = "unknown"
#: Where fetched files live, relative to the working directory.
DOWNLOAD_ROOT = Path("resources/downloads")
#: Loaders whose files are fetched and read by neurokine.io.loaders.
FILE_LOADERS = ("mex_per_sample", "mex_merged", "h5ad", "dense_matrix", "tenx_h5", "cellxgene")


@dataclasses.dataclass(frozen=True)
class CellTypeTarget:
    """Where one author cell-type label goes: a vocabulary id (or reserved class) and/or a CL term.

    Without an id, the CL term decides (neurokine.curated.hierarchy: the finest vocabulary type
    at or above it).
    """

    id: str | None
    cl: str | None = None
    note: str | None = None


def check_dataset_id(dataset_id: object, source: str, field: str) -> str:
    """Return `dataset_id` if it is a safe identifier, else raise naming source and field."""
    if not isinstance(dataset_id, str) or not DATASET_ID.fullmatch(dataset_id):
        raise InputError(
            source, field, f"dataset id {dataset_id!r} is not allowed",
            "use letters, digits and underscores only, starting with a letter "
            "(ids become file names; '/', '..', spaces and shell characters are refused)")
    return dataset_id


def _schema_errors(record: object, schema: dict, source: str, schema_path: str) -> None:
    """Raise the first JSON-Schema error (deepest path first) as an InputError."""
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(record),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        first = errors[0]
        # oneOf failures hide the useful message in their context; surface the best one.
        best = jsonschema.exceptions.best_match([first]) if first.context else first
        field = ".".join(str(p) for p in best.absolute_path) or "(top level)"
        problem, fix = _plain_problem(best, first) or (best.message, f"see {schema_path}")
        raise InputError(source, field, problem, fix)


def _plain_problem(best: jsonschema.ValidationError, first: jsonschema.ValidationError
                   ) -> tuple[str, str] | None:
    """Plain-language problem and fix for the schema errors users meet most often."""
    path = [str(p) for p in best.absolute_path]
    if len(path) >= 2 and path[-2] == "files" and first.validator == "oneOf":
        given = sorted(set(best.instance) & {"url", "path", "manual", "archive", "member"}
                       if isinstance(best.instance, dict) else set())
        return (f"a file entry needs exactly one source, found {given or 'none'}",
                "give it a `url` (https://...), a local `path`, `manual: true` with a "
                "landing_page, or `archive` + `member`")
    if path and path[-1] == "url" and best.validator == "pattern":
        return (f"{best.instance!r} is not an https:// URL",
                "use the https:// address of the file (plain http is refused)")
    if path and path[-1] == "sha256" and best.validator == "pattern":
        return (f"{best.instance!r} is not a SHA-256 checksum (64 lower-case hex digits)",
                "paste the output of `sha256sum <file>`, or delete the key to record the "
                "checksum on first download")
    return None


def _compile(pattern: str, source: str, field: str, groups: Iterable[str] = ()) -> re.Pattern:
    """Compile a registry regex, naming the field when it is invalid."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InputError(source, field, f"invalid regular expression ({exc})",
                         "fix the pattern (Python re syntax)") from exc
    unknown = set(compiled.groupindex) - set(groups) if groups else set()
    if unknown:
        raise InputError(source, field, f"unknown named group(s) {sorted(unknown)}",
                         f"use only {sorted(groups)}")
    return compiled


def _check_entry(ds: str, entry: dict, all_ids: set[str], source: str) -> None:
    """Cross-field checks JSON-Schema cannot express."""
    where = f"{ds}"
    names = [f["name"] for f in entry.get("files", [])]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(source, f"{where}.files", f"duplicate file name(s) {dupes}",
                         "give every file of a dataset a unique name")
    for i, spec in enumerate(entry.get("files", [])):
        if "archive" in spec and spec["archive"] not in names:
            raise InputError(source, f"{where}.files.{i}.archive",
                             f"refers to {spec['archive']!r}, which is not a file of this entry",
                             "name one of the entry's files")
    layout = entry.get("layout", {})
    for key in ("sample_regex", "exclude_regex"):
        if key in layout:
            _compile(layout[key], source, f"{where}.layout.{key}",
                     ("sample", "donor", "tissue") if key == "sample_regex" else ())
    meta = entry.get("metadata", {})
    if "donor_regex" in meta:
        rx = _compile(meta["donor_regex"], source, f"{where}.metadata.donor_regex", ("donor",))
        if "donor" not in rx.groupindex:
            raise InputError(source, f"{where}.metadata.donor_regex", "has no (?P<donor>...) group",
                             "add a named group `donor`")
    for i, rule in enumerate(meta.get("disease_from_donor", [])):
        _compile(rule["pattern"], source, f"{where}.metadata.disease_from_donor.{i}.pattern")
    for i, rule in enumerate(entry.get("cell_types", {}).get("patterns", [])):
        _compile(rule["pattern"], source, f"{where}.cell_types.patterns.{i}.pattern")
    for i, shared in enumerate(entry.get("shared_donors", [])):
        for key in ("with", "keep_in"):
            if key in shared and shared[key] not in all_ids:
                raise InputError(source, f"{where}.shared_donors.{i}.{key}",
                                 f"unknown dataset id {shared[key]!r}",
                                 "name a dataset of this registry")
    loader = entry["loader"]
    roles = {f["role"] for f in entry.get("files", []) if f.get("load", True)}
    required = {
        "mex_per_sample": [{"archive"}],
        "mex_merged": [{"matrix", "features", "barcodes"}, {"archive"}],
        "h5ad": [{"h5ad"}],
        "dense_matrix": [{"matrix"}, {"archive"}],
        "tenx_h5": [{"h5"}],
        "cellxgene": [{"h5ad"}],
        "metadata_only": [{"cell_metadata"}],
    }.get(loader)
    if required and not any(need <= roles for need in required):
        options = " or ".join("+".join(sorted(need)) for need in required)
        raise InputError(source, f"{where}.files",
                         f"loader {loader!r} needs file role(s) {options}",
                         "add the missing file entries (role: ...) or change the loader")
    if loader == "simulated" and not entry.get("synthetic", False):
        raise InputError(source, f"{where}.synthetic", "a simulated dataset must be flagged synthetic",
                         "add `synthetic: true`, so every table, figure and report built from it "
                         "says it is not real patients")
    if loader == "metadata_only" and "status_note" not in entry:
        raise InputError(source, f"{where}.status_note", "missing for a metadata_only dataset",
                         "say why it cannot be loaded and what is needed")
    disease_map = entry.get("disease_map", {})
    # A CELLxGENE file names each cell's disease by MONDO id; other deposits need the map.
    if loader in FILE_LOADERS and loader != "cellxgene" and not disease_map \
            and "disease" not in meta.get("constants", {}):
        raise InputError(source, f"{where}.disease_map", "missing",
                         "map each author disease label to control, MS, NMOSD, "
                         "neurosarcoidosis, ICANS or another identifier")


def load_registry(path: str | Path, schema_path: str | Path,
                  allow_local_http: bool = False) -> dict[str, dict]:
    """Read and validate the registry; return {dataset id: entry} in file order."""
    source = str(path)
    record = read_yaml(path)
    if not isinstance(record, dict) or not record:
        raise InputError(source, "(top level)", "is not a mapping of dataset ids to entries",
                         "see config/datasets.yaml for the format")
    # Ids are checked before the schema so a `../x` key gets a message about ids, not regexes.
    for ds in record:
        check_dataset_id(ds, source, f"{ds!r} (dataset id)")
    _schema_errors(record, read_yaml(schema_path), source, str(schema_path))
    for ds, entry in record.items():
        _check_entry(ds, entry, set(record), source)
        for i, spec in enumerate(entry.get("files", [])):
            if spec.get("url", "").startswith("http://") and not allow_local_http:
                raise InputError(source, f"{ds}.files.{i}.url",
                                 f"plain http URL {spec['url']!r} is refused",
                                 "use https (http to localhost is for tests, with "
                                 "fetch.allow_local_http: true)")
    return record


def select_datasets(registry: Mapping[str, dict], ids: Iterable[object],
                    source: str = "config", field: str = "datasets") -> list[str]:
    """Check that every requested id exists and is loadable; return them in request order."""
    selected = []
    for i, ds in enumerate(ids):
        check_dataset_id(ds, source, f"{field}[{i}]")
        if ds not in registry:
            raise InputError(source, f"{field}[{i}]", f"dataset {ds!r} is not in the registry",
                             f"choose from {sorted(registry)} or add an entry to the registry")
        entry = registry[ds]
        if entry["loader"] == "metadata_only":
            raise InputError(
                source, f"{field}[{i}]",
                f"dataset {ds!r} is metadata-only and cannot be analysed: "
                f"{' '.join(entry['status_note'].split()).rstrip('.')}",
                f"remove {ds!r} from {field}, or add its count files to the registry entry "
                "and change its loader")
        selected.append(ds)
    return selected


def is_synthetic(entry: Mapping) -> bool:
    """Whether a dataset's tables, figures and report must say it is synthetic (simulated data;
    the registry refuses a simulated entry that is not flagged `synthetic: true`)."""
    return bool(entry.get("synthetic", False))


def dataset_groups(entry: Mapping, simulation_groups: Iterable[str] = ()) -> set[str]:
    """Canonical disease groups a registry entry can contain (the simulated groups for the demo;
    for a CELLxGENE file, whose diseases are only known once it is read, every canonical group
    its MONDO terms can resolve to, plus any disease_map override)."""
    if entry.get("loader") == "simulated":
        return set(simulation_groups)
    if entry.get("loader") == "cellxgene":
        return set(CANONICAL_DISEASES) | set(entry.get("disease_map", {}).values())
    return set(entry.get("disease_map", {}).values())


def download_dir(dataset_id: str, root: str | Path = DOWNLOAD_ROOT) -> Path:
    """Directory holding the fetched files of one dataset."""
    return Path(root) / dataset_id


def fetched_files(entry: Mapping) -> list[dict]:
    """File entries that end up in resources/downloads/<id>/ (URL or manual placement)."""
    return [f for f in entry.get("files", []) if "url" in f or f.get("manual")]


def local_files(entry: Mapping) -> list[dict]:
    """File entries pointing at the user's own local files or directories."""
    return [f for f in entry.get("files", []) if "path" in f]


def needs_fetch(entry: Mapping) -> bool:
    """True when the dataset has any file fetched (or placed by hand) under resources/downloads."""
    return bool(fetched_files(entry))


def file_location(dataset_id: str, spec: Mapping, root: str | Path = DOWNLOAD_ROOT) -> Path:
    """Where the loader reads a file entry from: its local `path` or the download directory."""
    if "path" in spec:
        return Path(spec["path"])
    return download_dir(dataset_id, root) / spec["name"]


def _target(value: object) -> CellTypeTarget:
    """Normalise a cell-type map value (string or {id, cl, note}) to a CellTypeTarget."""
    if isinstance(value, str):
        return CellTypeTarget(id=value)
    assert isinstance(value, dict)
    return CellTypeTarget(id=value.get("id"), cl=value.get("cl"), note=value.get("note"))


def cell_type_rules(entry: Mapping) -> tuple[dict[str, CellTypeTarget],
                                             list[tuple[re.Pattern, CellTypeTarget]]]:
    """Exact author-label map and ordered regex rules of one entry."""
    spec = entry.get("cell_types", {})
    exact = {str(k): _target(v) for k, v in spec.get("map", {}).items()}
    patterns = [(re.compile(r["pattern"]), _target(r["to"])) for r in spec.get("patterns", [])]
    return exact, patterns


def cell_type_ids(registry: Mapping[str, dict]) -> dict[str, set[str]]:
    """Every non-reserved target id used by the registry, with the datasets using it."""
    used: dict[str, set[str]] = {}
    for ds, entry in registry.items():
        exact, patterns = cell_type_rules(entry)
        for target in [*exact.values(), *(t for _, t in patterns)]:
            if target.id is not None and target.id not in RESERVED_CELL_TYPES:
                used.setdefault(target.id, set()).add(ds)
    return used


# ------------------------------------------------------------------ Snakemake rule support


class WorkflowDatasets:
    """Parse-time helpers for workflow/rules/{fetch,load}.smk (no Snakemake import here).

    Created once per Snakefile parse from the validated config; every method is a dictionary
    lookup, so input/param/resource functions stay cheap even when each cluster job re-parses.
    """

    def __init__(self, config: Mapping, fetch: FetchSettings, schema_path: str | Path,
                 registry_path: str | Path) -> None:
        self.registry_path = Path(registry_path)
        self.registry = load_registry(self.registry_path, schema_path,
                                      allow_local_http=fetch.allow_local_http)
        self.selected = select_datasets(self.registry, config["datasets"])
        self.root = Path(fetch.downloads)

    def entry(self, dataset: str) -> dict:
        """Registry entry of a dataset (error if the id is unknown or unsafe)."""
        check_dataset_id(dataset, "wildcards", "dataset")
        if dataset not in self.registry:
            raise InputError(str(self.registry_path), dataset, "not in the registry",
                             "add an entry or fix the requested file name")
        return self.registry[dataset]

    def manifest(self, dataset: str) -> str:
        """Path of the fetch manifest written by rule fetch_dataset (`{dataset}` as a wildcard)."""
        return paths.MANIFEST.format(downloads=self.root, dataset=dataset)

    def fetch_targets(self) -> list[str]:
        """Manifests of every selected dataset that has files to fetch."""
        return [self.manifest(ds) for ds in self.selected if needs_fetch(self.registry[ds])]

    def load_targets(self) -> list[str]:
        """Harmonized AnnData of every selected dataset read by a file loader."""
        return [paths.LOADED.format(dataset=ds) for ds in self.selected
                if self.registry[ds]["loader"] in FILE_LOADERS]

    def load_inputs(self, wildcards) -> dict[str, list[str]]:
        """Inputs of rule load_dataset: the fetch manifest and/or the user's local files."""
        entry = self.entry(wildcards.dataset)
        if entry["loader"] not in FILE_LOADERS:
            raise InputError(str(self.registry_path), f"{wildcards.dataset}.loader",
                             f"{entry['loader']!r} datasets are not loaded from files",
                             "request results/loaded/<id>.h5ad only for file-based datasets")
        inputs: dict[str, list[str]] = {}
        if needs_fetch(entry):
            inputs["manifest"] = [self.manifest(wildcards.dataset)]
        local = [str(file_location(wildcards.dataset, f)) for f in local_files(entry)
                 if f.get("load", True)]
        if local:
            inputs["local"] = local
        return inputs

    def entry_param(self, wildcards) -> dict:
        """The registry entry as a rule param (a changed entry reruns the rule)."""
        return self.entry(wildcards.dataset)

    def deposit_mb(self, dataset: str) -> float:
        """Size (MB) of a dataset's files: on disk when present, else the registry's `size`."""
        entry = self.entry(dataset)
        size = 0
        for spec in entry.get("files", []):
            path = file_location(dataset, spec, self.root)
            if path.is_file():
                size += path.stat().st_size
            elif path.is_dir():  # a user's directory of per-library outputs
                size += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            elif "size" in spec:
                size += spec["size"]
        return size / 2**20

    def load_mem_mb(self, wildcards, attempt) -> int:
        """Memory for load_dataset: ~8x the deposit files (compressed), >= 2 GB, x attempt (the
        workflow caps it at config max_mem_mb)."""
        return int(max(2000, 8 * self.deposit_mb(wildcards.dataset)) * attempt)
