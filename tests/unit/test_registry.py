"""The dataset registry: schema validation, coverage of real deposits, ids and selection."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from neurokine.curated.cell_types import load_cell_types
from neurokine.curated.hierarchy import check_registry
from neurokine.errors import InputError
from neurokine.io.registry import (
    RESERVED_CELL_TYPES,
    cell_type_ids,
    load_registry,
    select_datasets,
)

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "config/datasets.yaml"
SCHEMA = REPO / "workflow/schemas/datasets.schema.yaml"


@pytest.fixture(scope="module")
def registry():
    return load_registry(REGISTRY, SCHEMA)


def _write(tmp_path: Path, record: dict) -> Path:
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path


def test_demo_entry_is_unchanged(registry):
    assert registry["demo_synthetic"] == {
        "title": "neurokine synthetic demo cohort (simulated CSF; not real patients)",
        "loader": "simulated", "tissue": ["CSF"],
        "citation": "neurokine simulator (neurokine.validation.simulate); parameters in "
                    "config.yaml: simulation",
        "licence": "MIT", "synthetic": True}


def test_at_least_nine_real_deposits_with_required_accessions(registry):
    real = {k: v for k, v in registry.items() if v["loader"] != "simulated"}
    assert len(real) >= 9
    accessions = {v.get("accession", "") for v in real.values()}
    for needed in ("GSE138266", "GSE163005", "figshare project 137667", "GSE269379",
                   "GSE194078", "GSE180759", "GSE133028", "GSE144744"):
        assert needed in accessions, needed
    assert "figshare 14356661" in accessions
    references = {r for v in real.values() for r in v.get("references", [])}
    assert "PMID:37414380" in references
    controls = {"GSE200164", "GSE134578", "GSE118257", "PRJNA544731 / UCSC Cell Browser 'ms'"}
    assert accessions & controls, "a control-CSF or brain reference is required"


def test_every_real_entry_documents_what_the_brief_requires(registry):
    for ds, entry in registry.items():
        if entry["loader"] == "simulated":
            continue
        assert entry["citation"] and entry["licence"] and entry["tissue"], ds
        assert entry.get("files"), ds
        for spec in entry["files"]:
            if "url" in spec:
                assert spec["url"].startswith("https://"), (ds, spec["name"])
        assert entry.get("disease_map") or entry["loader"] == "metadata_only", ds
        assert "control" in entry["disease_map"].values(), ds
        assert entry.get("caveats") or entry.get("unverified"), ds


def test_gse194078_is_never_called_nmosd(registry):
    entry = registry["kim2023_idd"]
    assert "NMOSD" not in entry["disease_map"].values()
    assert entry["disease_map"]["Ab-mediated IDD"] == "MOGAD_or_NMOSD"
    assert any("split" in c and "NOT" in c for c in entry["caveats"])
    assert sorted(entry["metadata"]["donor_table"].values()).count("Ab-mediated IDD") == 6


def test_shared_ms_donors_declared_both_ways(registry):
    four = {"MS19270", "MS49131", "MS58637", "MS71658"}
    heming = {d for s in registry["heming2021"]["shared_donors"] if s["with"] == "schafflick2020"
              for d in s["donors"]}
    geo = {d for s in registry["schafflick2020"]["shared_donors"] if s["with"] == "heming2021"
           for d in s["donors"]}
    assert heming == geo == four


def test_kaufmann_is_blood_only(registry):
    assert registry["kaufmann2021"]["tissue"] == ["blood"]
    assert registry["kaufmann2021"]["metadata"]["constants"]["tissue"] == "blood"


def test_selecting_metadata_only_dataset_is_a_clear_error(registry):
    with pytest.raises(InputError) as info:
        select_datasets(registry, ["demo_synthetic", "lu2025_icans"])
    message = str(info.value)
    assert "lu2025_icans" in message and "metadata-only" in message and "count matrix" in message
    assert "datasets[1]" in message


def test_unknown_and_unsafe_ids_in_selection(registry):
    with pytest.raises(InputError, match="not in the registry"):
        select_datasets(registry, ["nope"])
    for bad in ("../etc", "a;rm -rf", "x y", "1abc", "", "a/b", "$(id)"):
        with pytest.raises(InputError, match="not allowed"):
            select_datasets(registry, [bad])
    assert select_datasets(registry, ["heming2021", "schafflick2020"]) == ["heming2021",
                                                                             "schafflick2020"]


@pytest.mark.parametrize("bad_id", ["../escape", "a b", "x;ls", "évil", "_x"])
def test_unsafe_dataset_ids_in_registry_rejected(tmp_path, bad_id):
    record = {bad_id: {"title": "t", "loader": "simulated", "tissue": ["CSF"],
                       "citation": "c", "licence": "l"}}
    with pytest.raises(InputError) as info:
        load_registry(_write(tmp_path, record), SCHEMA)
    assert "dataset id" in str(info.value) and "letters, digits and underscores" in str(info.value)


def test_plain_http_url_rejected_by_schema(registry, tmp_path):
    record = {"heming2021": copy.deepcopy(registry["heming2021"])}
    record["heming2021"]["shared_donors"] = []
    record["heming2021"]["files"][0]["url"] = "http://ftp.ncbi.nlm.nih.gov/x.mtx.gz"
    with pytest.raises(InputError) as info:
        load_registry(_write(tmp_path, record), SCHEMA)
    assert "files.0" in str(info.value)


def test_bad_regex_and_dangling_references_rejected(registry, tmp_path):
    record = {"schafflick2020": copy.deepcopy(registry["schafflick2020"])}
    record["schafflick2020"]["shared_donors"] = []
    record["schafflick2020"]["layout"]["sample_regex"] = "(?P<sample>["
    with pytest.raises(InputError, match="sample_regex"):
        load_registry(_write(tmp_path, record), SCHEMA)
    record["schafflick2020"]["layout"]["sample_regex"] = "(?P<patient>x)"
    with pytest.raises(InputError, match="unknown named group"):
        load_registry(_write(tmp_path, record), SCHEMA)
    record["schafflick2020"]["layout"]["sample_regex"] = "(?P<sample>x)"
    record["schafflick2020"]["shared_donors"] = [{"with": "ghost", "donors": ["a"]}]
    with pytest.raises(InputError, match="ghost"):
        load_registry(_write(tmp_path, record), SCHEMA)


def test_loader_needs_its_files(tmp_path):
    record = {"x": {"title": "t", "loader": "mex_merged", "tissue": ["CSF"], "citation": "c",
                    "licence": "l", "disease_map": {"a": "control"},
                    "files": [{"name": "m.mtx.gz", "role": "matrix", "path": "/tmp/m"}]}}
    with pytest.raises(InputError, match="barcodes\\+features\\+matrix"):
        load_registry(_write(tmp_path, record), SCHEMA)


def test_user_dataset_with_local_path_validates(tmp_path):
    record = {"my_own_csf": {
        "title": "My CSF cohort", "loader": "h5ad", "tissue": ["CSF"], "citation": "unpublished",
        "licence": "internal",
        "files": [{"name": "cohort.h5ad", "role": "h5ad", "path": "/data/cohort.h5ad"}],
        "layout": {"counts": "auto"},
        "metadata": {"columns": {"donor": "patient", "disease": "diagnosis",
                                 "cell_type": "celltype"}, "constants": {"tissue": "CSF"}},
        "disease_map": {"healthy": "control", "RRMS": "MS"},
        "cell_types": {"map": {"CD14 Mono": "mono_classical"}, "annotate": "unmapped"}}}
    assert "my_own_csf" in load_registry(_write(tmp_path, record), SCHEMA)


def test_commented_user_example_in_registry_is_valid(tmp_path):
    text = REGISTRY.read_text()
    block = text[text.index("# my_own_csf:"):]
    example = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                        for line in block.splitlines())
    record = yaml.safe_load(example)
    record["my_own_csf"]["files"][0]["path"] = str(tmp_path / "cohort.h5ad")
    assert "my_own_csf" in load_registry(_write(tmp_path, record), SCHEMA)


def test_every_registry_cell_type_resolves_against_the_vocabulary_and_the_cell_ontology(registry):
    """The registry cannot drift: every id is a vocabulary id (no pending ids), every cl a live
    CL term that resolves to that id, and `other` only where the vocabulary has nothing."""
    vocabulary = load_cell_types(REPO / "resources/cell_types.yaml",
                                 REPO / "resources/schemas/cell_types.schema.yaml")
    assert set(cell_type_ids(registry)) - set(RESERVED_CELL_TYPES) <= set(vocabulary)
    assert check_registry(registry, vocabulary) == []
    # The five mappings that silently dropped cells before the hierarchy existed.
    maps = {ds: registry[ds]["cell_types"]["map"] for ds in
            ("heming2021", "kaufmann2021", "schirmer2019", "schafflick2020_h5ad")}
    assert maps["heming2021"]["CD4"]["id"] == "CD4_T"
    assert {maps["kaufmann2021"]["B"]["id"], maps["schirmer2019"]["B cells"]["id"],
            maps["schafflick2020_h5ad"]["B1"]["id"], maps["schafflick2020_h5ad"]["B2"]["id"]} \
        == {"B_cell"}


@pytest.mark.parametrize(("label", "target", "expected"), [
    ("Treg", {"id": "Treg", "cl": "CL:0000001"}, "CL:0000001"),              # wrong CL term
    ("Treg", {"id": "Treg", "cl": "CL:0000815"}, "resolves to T_cell"),       # too coarse
    ("CD4", {"id": "CD4_T_cells", "cl": "CL:0000624"}, "not a vocabulary id"),  # unknown id
    ("RBC", {"id": "other", "cl": "CL:0000236"}, "resolves to B_cell"),       # 'other' hides B
    ("NK", {"cl": "CL:0000003"}, "obsolete"),                                 # replaced term
    ("NK", {"cl": "CL:9999999"}, "unknown_cl_term"),                          # no such term
])
def test_registry_drift_is_reported(registry, label, target, expected):
    vocabulary = load_cell_types(REPO / "resources/cell_types.yaml",
                                 REPO / "resources/schemas/cell_types.schema.yaml")
    broken = copy.deepcopy(registry)
    broken["heming2021"]["cell_types"]["map"][label] = target
    problems = check_registry({"heming2021": broken["heming2021"]}, vocabulary)
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith(f"heming2021: {label!r}")


def test_local_http_urls_need_the_test_flag(registry, tmp_path):
    record = {"heming2021": copy.deepcopy(registry["heming2021"])}
    record["heming2021"]["shared_donors"] = []
    record["heming2021"]["files"][0]["url"] = "http://127.0.0.1:8123/x.mtx.gz"
    path = _write(tmp_path, record)
    with pytest.raises(InputError, match="allow_local_http"):
        load_registry(path, SCHEMA)
    assert "heming2021" in load_registry(path, SCHEMA, allow_local_http=True)
