"""The curated axis resource: coverage, provenance and validation failures that name the place."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from _resource_paths import ALLOWLIST, AXES_DIR, AXIS_SCHEMA, CELL_TYPES, CELL_TYPES_SCHEMA

from neurokine.curated import references
from neurokine.curated.axes import all_genes, gene_sets, load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.curated.gene_universe import build_universe, load_allowlist
from neurokine.errors import InputError

#: Every axis of section 1 of the fact base (cytokine_axes.md), by its stable id.
REQUIRED_AXES = {
    "GM_CSF", "IL17", "IL22", "IL23", "IL12", "IFNG", "TNF", "LT_LIGHT", "IL6", "OSM_LIF", "IL1",
    "IL18", "IL33", "IL2", "IL7_TSLP", "IL15", "IL21", "IL10", "TGFB", "IFN_I", "BAFF_APRIL",
    "CXCL13", "CCL2", "CXCR3_ligands", "CXCL16_CXCR6", "IL8_GCSF", "IL4_IL13", "IL27",
}


@pytest.fixture(scope="module")
def vocabulary():
    return load_cell_types(CELL_TYPES, CELL_TYPES_SCHEMA)


@pytest.fixture(scope="module")
def universe():
    # Only required references: validation must not depend on the optional CytoSig package.
    return build_universe(ALLOWLIST, include_optional=False)


@pytest.fixture(scope="module")
def axes(vocabulary, universe):
    return load_axes(AXES_DIR, AXIS_SCHEMA, vocabulary, universe)


def test_resource_covers_every_fact_base_axis(axes):
    ids = {a.id for a in axes}
    assert ids >= REQUIRED_AXES, sorted(REQUIRED_AXES - ids)
    assert len(axes) >= 28


def test_every_axis_has_receptors_ligands_and_a_disease_or_homeostatic_note(axes):
    for axis in axes:
        assert axis.ligands and axis.receptor_complexes, axis.id
        # IL-33 is the one homeostatic axis with no disease entry; it must say so in its summary.
        assert axis.record["diseases"] or "homeostatic" in axis.record["summary"], axis.id


def test_response_modules_are_scoreable_where_a_reference_exists(axes):
    sizes = {a.id: len(a.response) for a in axes if a.record.get("references", {}).get("cytosig")}
    assert sizes and all(8 <= n <= 20 for n in sizes.values()), sizes


def test_gene_sets_leave_out_empty_modules_and_keep_heteromers(axes):
    sets = gene_sets(axes)
    assert "CXCL13.response" not in sets and "CXCL13.receptor" in sets
    il23 = next(a for a in axes if a.id == "IL23")
    assert ("IL23A", "IL12B") in il23.ligand_complexes
    il17 = next(a for a in axes if a.id == "IL17")
    assert il17.ligand_complexes == (("IL17A",), ("IL17F",))
    assert set(all_genes(axes)) >= {"IL2RA", "TNFRSF1B", "SMAD3"}


def test_cytosig_derived_genes_really_rank_in_the_stated_top_n(axes):
    matrix = references.load_cytosig()
    if matrix is None:
        pytest.skip("optional CytoSig reference (secactpy) not installed; cannot re-check ranks")
    ranks = matrix.rank(ascending=False)
    checked = 0
    for axis in axes:
        for group in axis.record["response"]:
            spec = group.get("derived_from")
            if spec is None:
                continue
            for gene in group["genes"]:
                best = min(ranks.at[gene, s] for s in spec["signatures"])
                assert best <= spec["top_n"], (axis.id, gene, best)
                checked += 1
    assert checked > 100


def test_allowlist_only_holds_symbols_that_no_required_reference_names():
    required = references.reference_genes("hcd_cip") | references.reference_genes("hcd_info")
    redundant = sorted(set(load_allowlist(ALLOWLIST)) & required)
    assert not redundant, f"remove from the allow-list, a reference has them: {redundant}"


# ---- validation failures name the file, the axis and the field ------------------------------

def _copy_with(tmp_path: Path, axis_id: str, edit) -> Path:
    """Copy the resource and apply `edit` to one axis record."""
    target = tmp_path / "axes"
    shutil.copytree(AXES_DIR, target)
    path = target / f"{axis_id}.yaml"
    record = yaml.safe_load(path.read_text())
    edit(record)
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return target


def _error(target: Path, vocabulary, universe) -> InputError:
    with pytest.raises(InputError) as info:
        load_axes(target, AXIS_SCHEMA, vocabulary, universe)
    return info.value


def test_unknown_key_is_named(tmp_path, vocabulary, universe):
    target = _copy_with(tmp_path, "IL17", lambda r: r["producers"][0].update(colour="red"))
    err = _error(target, vocabulary, universe)
    assert err.source.endswith("IL17.yaml")
    assert err.field == "IL17.producers.0.colour"
    assert "unknown key 'colour'" in str(err)


def test_missing_citation_is_named(tmp_path, vocabulary, universe):
    target = _copy_with(tmp_path, "TNF", lambda r: r["response"][0].pop("citations"))
    err = _error(target, vocabulary, universe)
    assert err.source.endswith("TNF.yaml")
    assert err.field == "TNF.response.0.citations"
    assert "missing citation" in str(err)


def test_empty_citation_list_is_named(tmp_path, vocabulary, universe):
    target = _copy_with(tmp_path, "IL6", lambda r: r["therapies"][1].update(citations=[]))
    err = _error(target, vocabulary, universe)
    assert (err.field, err.source.endswith("IL6.yaml")) == ("IL6.therapies.1.citations", True)
    assert "missing citation" in str(err)


def test_unknown_cell_type_is_named(tmp_path, vocabulary, universe):
    target = _copy_with(tmp_path, "GM_CSF",
                        lambda r: r["responders"][1].update(cell_type="Th99"))
    err = _error(target, vocabulary, universe)
    assert err.source.endswith("GM_CSF.yaml")
    assert err.field == "GM_CSF.responders.1.cell_type"
    assert "Th99" in str(err)


def test_gene_outside_every_reference_universe_is_named(tmp_path, vocabulary, universe):
    target = _copy_with(tmp_path, "IL2",
                        lambda r: r["response"][0]["genes"].append("NOTAGENE7"))
    err = _error(target, vocabulary, universe)
    assert err.source.endswith("IL2.yaml")
    assert err.field.startswith("IL2.response.0.genes.")
    assert "NOTAGENE7" in str(err) and "hcd_cip(hucira" in str(err)


def test_outdated_symbol_is_rejected(tmp_path, vocabulary, universe):
    # FAM46C was renamed TENT5C by HGNC; only current symbols pass (pattern-valid, not in universe).
    target = _copy_with(tmp_path, "IL21", lambda r: r["signalling"][0]["genes"].append("FAM46C"))
    assert "FAM46C" in str(_error(target, vocabulary, universe))


def test_id_must_match_file_name(tmp_path, vocabulary, universe):
    target = _copy_with(tmp_path, "IL10", lambda r: r.update(id="IL10b"))
    err = _error(target, vocabulary, universe)
    assert err.field == "IL10b.id" and err.source.endswith("IL10.yaml")


def test_malformed_allowlist_line_is_named(tmp_path):
    bad = tmp_path / "allow.tsv"
    bad.write_text("symbol\treason\tcitation\nGFAP\tastrocyte marker\tsee a paper\n")
    with pytest.raises(InputError) as info:
        load_allowlist(bad)
    assert info.value.field == "line 2.citation"
