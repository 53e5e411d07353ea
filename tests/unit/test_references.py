"""Published response references: loading, provenance, name and cell-type mapping, gene sets."""

from __future__ import annotations

import importlib.metadata as md
import logging

import pytest
from _resource_paths import AXES_DIR, AXIS_SCHEMA, CELL_TYPES, CELL_TYPES_SCHEMA

from neurokine.curated import ontology, references
from neurokine.curated.axes import load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.errors import InputError
from neurokine.io.files import sha256sum

needs_cytosig = pytest.mark.skipif(
    references.load_cytosig() is None,
    reason="optional CytoSig reference not installed (pip install --no-deps secactpy==0.3.1)")


@pytest.fixture(scope="module")
def vocabulary():
    return load_cell_types(CELL_TYPES, CELL_TYPES_SCHEMA)


@pytest.fixture(scope="module")
def axes(vocabulary):
    return load_axes(AXES_DIR, AXIS_SCHEMA, vocabulary)


def test_provenance_records_version_licence_and_a_real_hash():
    table = references.provenance().set_index("reference")
    hcd = table.loc["hcd_cip"]
    assert (hcd["package"], hcd["version"], hcd["licence"], hcd["status"]) == (
        "hucira", "0.1.3", "MIT", "loaded")
    path = references.locate("hcd_cip")
    assert hcd["sha256"] == sha256sum(path)
    assert table.loc["hcd_info", "citation"] == "DOI:10.64898/2025.12.12.693897"


def test_provenance_lists_the_ontology_releases_read():
    table = references.provenance().set_index("reference")
    versions = ontology.versions()
    for name in ("CL", "MONDO", "UBERON"):
        row = table.loc[f"{name} ontology"]
        assert row["status"] == "loaded" and len(row["sha256"]) == 64
        assert versions[name] in row["version"] and versions[name] in row["file"]
    assert table.loc["CL ontology", "citation"] == "PMID:27377652"


def test_hcd_cips_and_info_load_from_the_wheel():
    cips = references.load_hcd_cips()
    assert cips["CIP"].nunique() == 82 and cips["celltype"].nunique() == 12
    info = references.load_hcd_info().set_index("name")
    assert info.loc["IL-2", "receptor_complexes"] == (("IL2RA", "IL2RB", "IL2RG"),
                                                      ("IL2RB", "IL2RG"))
    assert info.loc["GM-CSF", "tested"]


@needs_cytosig
def test_cytosig_matrix_has_43_cytokines():
    matrix = references.load_cytosig()
    assert matrix.shape == (4881, 43)
    assert {"GMCSF", "TNFA", "IFN1", "IL6"} <= set(matrix.columns)
    assert references.provenance().set_index("reference").loc["cytosig", "licence"] == "MIT"


@needs_cytosig
def test_name_mapping_and_cytosig_gaps(axes):
    names = references.axis_reference_names(axes, "cytosig")
    assert names["GM_CSF"] == ("GMCSF",) and names["TNF"] == ("TNFA",)
    references.check_reference_names(axes)
    missing = set(references.missing_axes(axes, "cytosig"))
    # Jiang 2021's 43 cytokines lack IL-23, IL-7, BAFF/APRIL, CXCL13; IL-18/IL-33/CCL2 only in beta.
    assert {"IL23", "IL7_TSLP", "BAFF_APRIL", "CXCL13", "IL18", "IL33", "CCL2"} <= missing
    assert not {"GM_CSF", "IFN_I", "IL6", "TNF", "IL1", "IL17"} & missing


def test_hcd_gaps_are_the_chemokine_axes(axes):
    missing = set(references.missing_axes(axes, "hcd"))
    assert missing == {"CCL2", "CXCL13", "CXCL16_CXCR6", "CXCR3_ligands"}


def test_unknown_reference_name_is_named(axes):
    axis = next(a for a in axes if a.id == "IL10")
    axis.record["references"]["hucira"] = ["IL-10000"]
    try:
        with pytest.raises(InputError) as info:
            references.check_reference_names([axis])
        assert info.value.field == "IL10.references.hucira.0"
        assert info.value.source.endswith("IL10.yaml")
    finally:
        axis.record["references"]["hucira"] = ["IL-10"]


def test_hcd_receptor_complexes_agree_with_the_curated_ones(axes):
    info = references.load_hcd_info().set_index("name")
    for axis, names in references.axis_reference_names(axes, "hcd").items():
        curated = {frozenset(c) for c in next(a for a in axes if a.id == axis).receptor_complexes}
        for name in names:
            for complex_ in info.loc[name, "receptor_complexes"]:
                assert frozenset(complex_) in curated, (axis, name, complex_)


def test_cns_cell_types_are_flagged_out_of_reference(vocabulary):
    table = references.cell_type_reference_map(vocabulary)
    hcd = table[table["reference"] == "hcd"].set_index("cell_type")["status"]
    for cns in ("microglia", "astrocyte", "oligodendrocyte", "OPC", "neuron", "endothelial"):
        assert hcd[cns] == "out_of_reference"
    assert hcd["mono_classical"] == "matched"
    cyto = table[table["reference"] == "cytosig"]["status"]
    assert set(cyto) == {"cell_type_agnostic"}


@needs_cytosig
def test_cytosig_gene_sets_for_prerank(axes):
    sets = references.response_gene_sets(axes, "cytosig", top_n=25)
    ifn = sets["IFN_I.cytosig"]
    assert len(ifn) == 25 and ifn[0] == "IFIT3" and "IFI6" in ifn[:5]
    assert "IL23.cytosig" not in sets
    assert len(sets["IL1.cytosig"]) > 25  # union of the IL1A and IL1B signatures


def test_hcd_cip_gene_sets_per_cell_type():
    sets = references.response_gene_sets([], "hcd_cip", hcd_cell_type="CD14_Mono")
    assert sets and all(k.startswith("HCD_CIP.") for k in sets)
    assert all(len(v) >= 51 for v in sets.values())
    with pytest.raises(InputError):
        references.hcd_cip_gene_sets("microglia")


def test_missing_optional_reference_continues_and_says_so_once(monkeypatch, caplog):
    real = md.distribution

    def fake(name):
        if name == "secactpy":
            raise md.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(references.md, "distribution", fake)
    monkeypatch.setattr(references, "_REPORTED_MISSING", set())
    references.load_cytosig.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="neurokine.curated.references"):
            assert references.load_cytosig() is None
            references.load_cytosig.cache_clear()
            assert references.load_cytosig() is None
            assert references.response_gene_sets([], "cytosig") == {}
        warnings = [r for r in caplog.records if "cytosig" in r.getMessage()]
        assert len(warnings) == 1
        assert references.provenance().set_index("reference").loc["cytosig", "status"] == \
            "missing"
    finally:
        references.load_cytosig.cache_clear()


def test_missing_required_reference_fails_clearly(monkeypatch):
    def fake(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(references.md, "distribution", fake)
    with pytest.raises(InputError) as info:
        references.locate("hcd_cip")
    assert "hucira" in str(info.value) and "pip install" in str(info.value)
