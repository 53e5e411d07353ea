"""The cell-type hierarchy against the Cell Ontology, and label resolution onto the vocabulary.

Every fact is checked against the CL release shipped by the pinned cellxgene-ontology-guide,
never against a list copied into the test.
"""

from __future__ import annotations

import dataclasses

import pytest

from neurokine.curated import ontology
from neurokine.curated.cell_types import lineage_of, lineages
from neurokine.curated.hierarchy import CellTypeResolver, check_hierarchy
from neurokine.errors import InputError

#: The lineages the issue names, by vocabulary id, with the CL class each must carry.
LINEAGES = {"T_cell": "T cell", "CD4_T": "CD4-positive, alpha-beta T cell",
            "CD8_T": "CD8-positive, alpha-beta T cell", "NK": "natural killer cell",
            "B_cell": "B cell", "ASC": "antibody secreting cell", "monocyte": "monocyte",
            "DC": "dendritic cell", "granulocyte": "granulocyte", "macrophage": "macrophage",
            "astrocyte": "astrocyte", "oligodendrocyte": "oligodendrocyte", "neuron": "neuron",
            "endothelial": "endothelial cell", "perivascular": "perivascular cell"}


@pytest.fixture(scope="module")
def cl():
    return ontology.ontology("CL")


@pytest.fixture(scope="module")
def resolver(vocabulary):
    return CellTypeResolver(vocabulary)


def test_the_vocabulary_agrees_with_the_cell_ontology(vocabulary, cl):
    # CL ids live and unique, labels equal CL's, parents and lineages follow CL ancestry.
    assert check_hierarchy(vocabulary, cl) == []


def test_every_named_lineage_is_a_vocabulary_term_with_its_cl_class(vocabulary, cl):
    assert set(LINEAGES) <= set(lineages(vocabulary))
    for cid, name in LINEAGES.items():
        assert cl.label(vocabulary[cid].ontology_id) == name, cid


@pytest.mark.parametrize(("cell_type", "lineage"), [
    ("CD4_T_naive", "CD4_T"), ("Treg", "CD4_T"), ("Tfh", "CD4_T"), ("CD8_T", "CD8_T"),
    ("MAIT", "T_cell"), ("gdT", "T_cell"), ("NK_CD56bright", "NK"), ("B_memory", "B_cell"),
    ("plasmablast", "ASC"), ("plasma_cell", "ASC"), ("mono_intermediate", "monocyte"),
    ("pDC", "DC"), ("neutrophil", "granulocyte"), ("microglia", "macrophage"),
    ("BAM", "macrophage"), ("neuron_inhibitory", "neuron"), ("VSMC", "perivascular"),
    ("B_cell", "B_cell"), ("other", "other"), ("unmapped", "unmapped"),
])
def test_lineage_of_maps_any_vocabulary_id(cell_type, lineage):
    assert lineage_of(cell_type) == lineage


def test_lineage_of_refuses_an_unknown_id():
    with pytest.raises(InputError, match="CD4_T_cells"):
        lineage_of("CD4_T_cells")


def test_every_cl_class_between_a_type_and_its_lineage_lands_in_that_lineage(vocabulary, cl,
                                                                              resolver):
    """Nothing is lost for being coarse: e.g. 'alpha-beta T cell' or 'mature B cell' resolve to
    a type of the right lineage, never to other or unmapped."""
    checked = 0
    for ctype in vocabulary.values():
        top = vocabulary[ctype.lineage].ontology_id
        for term in cl.ancestors(ctype.ontology_id, include_self=True):
            if cl.is_a(term, top):
                found = resolver.from_term(term)
                assert found.mapped, (ctype.id, term, found)
                assert lineage_of(found.cell_type, vocabulary) == ctype.lineage, (ctype.id, term)
                checked += 1
    assert checked > len(vocabulary)


@pytest.mark.parametrize(("label", "cell_type", "resolved_by"), [
    ("B cells", "B_cell", "vocabulary_id"),                # Kang 2018's coarse labels
    ("CD4 T cells", "CD4_T", "vocabulary_synonym"),
    ("CD8 T cells", "CD8_T", "vocabulary_synonym"),
    ("FCGR3A+ Monocytes", "mono_nonclassical", "vocabulary_synonym"),
    ("NK cells", "NK", "cl_synonym"),
    ("Dendritic cells", "DC", "cl_name"),
    ("naive B cell", "B_naive", "cl_name"),
    ("CD16+ Monocytes", "mono_nonclassical", "vocabulary_synonym"),
    ("CD14+, CD16+ monocytes", "monocyte", "cl_name"),     # a CL class under monocyte only
    ("Tregs", "Treg", "vocabulary_id"),
    ("CL:0000905", "CD4_T_memory", "cl_id"),               # effector memory CD4: finer than us
    ("CL:0000881", "BAM", "cl_id"),                        # perivascular macrophage
    ("CL:0000980", "plasmablast", "cl_id"),
    ("CL:0000815", "T_cell", "cl_id"),                     # regulatory T cell, CD4 not stated
    ("Erythrocytes", "other", "cl_name"),                  # known, outside the vocabulary
    ("Megakaryocytes", "other", "cl_name"),
    ("CL:9999999", "unmapped", "cl_id"),                   # no such term
    ("weirdCluster", "unmapped", ""),
])
def test_labels_resolve_to_the_finest_vocabulary_type(resolver, label, cell_type, resolved_by):
    found = resolver.from_label(label)
    assert (found.cell_type, found.resolved_by) == (cell_type, resolved_by), found


def test_obsolete_terms_follow_their_replacement_and_say_so(resolver, cl):
    obsolete = next(t for t in ("CL:0000804", "CL:0000812") if cl.is_deprecated(t))
    found = resolver.from_term(obsolete)
    assert found.mapped and found.term_id == cl.current(obsolete) and obsolete in found.note
    assert found.cell_type == resolver.from_term(found.term_id).cell_type


def test_a_graph_with_two_nearest_candidates_prefers_the_nearer_one(vocabulary, cl, resolver):
    # CL places the plasmablast under both B cell (distance 3) and antibody secreting cell (1).
    term = vocabulary["plasmablast"].ontology_id
    assert cl.is_a(term, vocabulary["B_cell"].ontology_id)
    assert cl.is_a(term, vocabulary["ASC"].ontology_id)
    assert resolver.finest(term, lineage_only=True) == "ASC"


@pytest.mark.parametrize(("edit", "expected"), [
    ({"lineage": "T_cell"}, "lineage T_cell but CL ancestry gives CD4_T"),
    ({"parent": "CD4_T_memory"}, "is not a CL ancestor"),
    ({"label": "T helper 17"}, "differs from CL's"),
    ({"ontology_id": "CL:0000003"}, "is obsolete"),
    ({"ontology_id": "CL:9999999"}, "is not in the Cell Ontology"),
    ({"ontology_id": "CL:0000624"}, "is also the CL id of"),
])
def test_hierarchy_errors_are_named(vocabulary, cl, edit, expected):
    broken = dict(vocabulary)
    broken["Th17"] = dataclasses.replace(vocabulary["Th17"], **edit)
    problems = check_hierarchy(broken, cl)
    assert any("Th17" in p and expected in p for p in problems), problems


def test_ontology_versions_are_reported():
    found = ontology.versions()
    assert {"cellxgene-ontology-guide", "CL", "MONDO", "UBERON"} <= set(found)
    assert all(found.values())
