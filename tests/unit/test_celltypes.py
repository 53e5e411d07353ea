"""The cell-type vocabulary: stable legacy ids, CNS coverage, CL ids, markers and failures."""

from __future__ import annotations

import pytest
import yaml
from _resource_paths import ALLOWLIST, CELL_TYPES, CELL_TYPES_SCHEMA

from neurokine.curated.cell_types import load_cell_types
from neurokine.curated.gene_universe import build_universe
from neurokine.errors import InputError

#: The original ids and CL terms; the demo simulator depends on the ids, so they must never change.
#: Treg's term moved (v0.3.0) from the generic 'regulatory T cell' (CL:0000815), which CL does not
#: place under CD4 T cells, to the CD4+CD25+ one, so its lineage follows from CL ancestry.
LEGACY = {
    "CD4_T_naive": "CL:0000895", "CD4_T_memory": "CL:0000897", "Treg": "CL:0000792",
    "CD8_T": "CL:0000625", "NK": "CL:0000623", "B_naive": "CL:0000788",
    "B_memory": "CL:0000787", "plasmablast": "CL:0000980", "mono_classical": "CL:0000860",
    "mono_nonclassical": "CL:0000875", "mDC": "CL:0000782", "pDC": "CL:0000784",
}
#: Types the issue requires beyond the legacy ones (CSF, blood and CNS parenchyma).
REQUIRED_NEW = {"NK_CD56bright", "gdT", "MAIT", "plasma_cell", "mono_intermediate",
                "neutrophil", "microglia", "BAM", "astrocyte", "oligodendrocyte", "OPC",
                "neuron", "endothelial", "pericyte", "VSMC"}


@pytest.fixture(scope="module")
def universe():
    return build_universe(ALLOWLIST, include_optional=False)


@pytest.fixture(scope="module")
def vocabulary(universe):
    return load_cell_types(CELL_TYPES, CELL_TYPES_SCHEMA, universe)


def test_legacy_ids_keep_their_order_and_terms(vocabulary):
    assert list(vocabulary)[:12] == list(LEGACY)
    assert {k: vocabulary[k].ontology_id for k in LEGACY} == LEGACY


def test_required_types_are_present_with_unique_terms(vocabulary):
    assert set(vocabulary) >= REQUIRED_NEW
    terms = [c.ontology_id for c in vocabulary.values()]
    assert len(terms) == len(set(terms))
    cns = {c.id for c in vocabulary.values() if c.compartments == ("CNS",)}
    assert {"microglia", "astrocyte", "oligodendrocyte", "OPC", "neuron"} <= cns


def test_parents_and_reference_labels_load(vocabulary):
    assert vocabulary["Tfh"].parent == "CD4_T"
    assert vocabulary["mono_classical"].hcd_cip == ("CD14_Mono",)
    assert vocabulary["microglia"].hcd_cip == ()


def _write(tmp_path, edit):
    record = yaml.safe_load(CELL_TYPES.read_text())
    edit(record)
    path = tmp_path / "cell_types.yaml"
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path


def test_duplicate_id_is_named(tmp_path):
    path = _write(tmp_path, lambda r: r["cell_types"].append(dict(r["cell_types"][0])))
    with pytest.raises(InputError) as info:
        load_cell_types(path, CELL_TYPES_SCHEMA)
    assert "duplicate id 'CD4_T_naive'" in str(info.value)


def test_unknown_key_and_bad_term_are_named(tmp_path):
    path = _write(tmp_path, lambda r: r["cell_types"][3].update(ontology_id="CL:12"))
    with pytest.raises(InputError) as info:
        load_cell_types(path, CELL_TYPES_SCHEMA)
    assert info.value.field == "cell_types.3.ontology_id"


def test_unknown_parent_is_named(tmp_path):
    path = _write(tmp_path, lambda r: r["cell_types"][13].update(parent="CD4_T_effector"))
    with pytest.raises(InputError) as info:
        load_cell_types(path, CELL_TYPES_SCHEMA)
    assert "CD4_T_effector" in str(info.value) and "parent" in info.value.field


def test_marker_outside_the_gene_universe_is_named(tmp_path, universe):
    path = _write(tmp_path, lambda r: r["cell_types"][24]["markers"].append("NOTAGENE3"))
    with pytest.raises(InputError) as info:
        load_cell_types(path, CELL_TYPES_SCHEMA, universe)
    assert "NOTAGENE3" in str(info.value) and "markers" in info.value.field
