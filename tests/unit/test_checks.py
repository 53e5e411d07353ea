"""neurokine.io.checks: what is refused, what only warns, and that valid input passes.

The refusals are exercised end to end by tests/workflow/test_bad_input.py; here the
boundaries: a single-donor group among usable ones only warns (its contrasts become
not-tested rows, see test_compare.py), marker annotation makes empty author cell types
acceptable, and a few feature ids among symbols are fine.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _resource_paths import ALLOWLIST, AXES_DIR, AXIS_SCHEMA, CELL_TYPES, CELL_TYPES_SCHEMA

from neurokine.curated.cell_types import load_cell_types
from neurokine.errors import InputError
from neurokine.io.checks import check_curated, check_deposit, check_harmonized_data
from neurokine.io.harmonize import harmonize

VOCABULARY = load_cell_types(CELL_TYPES, CELL_TYPES_SCHEMA)
ENTRY = {
    "title": "t", "loader": "h5ad", "tissue": ["CSF"], "citation": "c", "licence": "l",
    "metadata": {"columns": {"donor": "donor", "sample": "sample", "disease": "disease",
                             "cell_type": "cell_type"}, "constants": {"tissue": "CSF"}},
    "disease_map": {"healthy": "control", "RRMS": "MS", "NMO": "NMOSD"},
    "cell_types": {"map": {"Mono": "mono_classical"}, "annotate": "none"},
}


def loaded(donors: dict[str, list[str]], genes: list[str] | None = None,
           cell_type: str = "Mono") -> ad.AnnData:
    """A loader-style AnnData (author fields) with 10 cells per donor."""
    rows = [(d, g) for g, ds in donors.items() for d in ds for _ in range(10)]
    obs = pd.DataFrame({"donor": [d for d, _ in rows], "sample": [d for d, _ in rows],
                        "disease": [g for _, g in rows], "cell_type": cell_type},
                       index=[f"c{i}" for i in range(len(rows))])
    genes = genes or ["CD14", "LYZ", "TNF", "IL6"]
    x = sp.csr_matrix(np.random.default_rng(0).poisson(2, (len(rows), len(genes))).astype(np.int32))
    var = pd.DataFrame({"gene_symbols": genes, "feature_types": "Gene Expression"}, index=genes)
    return ad.AnnData(X=x, obs=obs, var=var)


def run_checks(raw: ad.AnnData, entry: dict = ENTRY) -> list[str]:
    check_deposit(raw, "ds", entry, "src.h5ad")
    adata, report = harmonize(raw, "ds", entry, VOCABULARY)
    return check_harmonized_data(adata, report, "ds", entry, "src.h5ad")


def test_valid_deposit_passes_without_warnings():
    raw = loaded({"healthy": ["P1", "P2"], "RRMS": ["P3", "P4"]})
    assert run_checks(raw) == []


def test_single_donor_group_beside_usable_ones_only_warns():
    raw = loaded({"healthy": ["P1", "P2", "P3"], "RRMS": ["P4", "P5"], "NMO": ["P6"]})
    warnings = run_checks(raw)
    assert warnings == ["disease group 'NMOSD' has a single donor: its contrasts are reported "
                        "as not tested"]


def test_single_donor_in_every_group_makes_a_descriptive_run_with_a_warning():
    raw = loaded({"healthy": ["P1"], "RRMS": ["P2"]})
    (warning,) = run_checks(raw)
    assert "no disease group has two donors (donors per group: MS: 1, control: 1)" in warning
    assert "descriptive run" in warning and "metadata.columns.donor" in warning


def test_placeholder_unknown_disease_is_not_an_unknown_label():
    # No disease information at all (e.g. a donor table still to fill) stays a warning in the
    # label report; a label the deposit has but the registry does not map is refused.
    raw = loaded({"healthy": ["P1", "P2"], "RRMS": ["P3", "P4"], "unknown": ["P5"]})
    assert run_checks(raw) == []
    raw = loaded({"healthy": ["P1", "P2"], "RRMS": ["P3", "P4"], "PPMS": ["P5"]})
    with pytest.raises(InputError, match=r"'PPMS'.*not in the registry's disease_map"):
        run_checks(raw)


def test_empty_cell_types_are_accepted_when_markers_call_them():
    raw = loaded({"healthy": ["P1", "P2"], "RRMS": ["P3", "P4"]}, cell_type="")
    with pytest.raises(InputError, match="empty cell_type label"):
        check_deposit(raw, "ds", ENTRY, "src.h5ad")
    annotated = {**ENTRY, "cell_types": {"map": {}, "annotate": "unmapped"}}
    check_deposit(raw, "ds", annotated, "src.h5ad")


def test_a_few_feature_ids_among_symbols_are_fine():
    genes = ["CD14", "LYZ", "TNF", "ENSG00000000003"]
    check_deposit(loaded({"healthy": ["P1", "P2"]}, genes), "ds", ENTRY, "src.h5ad")
    ids = [f"ENSG{i:011d}" for i in range(3)] + ["TNF"]
    with pytest.raises(InputError, match="3 of 4 genes are Ensembl ids"):
        check_deposit(loaded({"healthy": ["P1", "P2"]}, ids), "ds", ENTRY, "src.h5ad")


@pytest.mark.parametrize("label", ["a\tb", "x" * 121, "<b>T</b>"])
def test_labels_with_markup_control_characters_or_excess_length_are_refused(label):
    raw = loaded({"healthy": ["P1", label], "RRMS": ["P3", "P4"]})
    with pytest.raises(InputError, match=r"obs\.donor_id"):
        run_checks(raw)


def test_shipped_curated_resources_pass_and_every_gene_is_listed():
    table = check_curated(AXES_DIR, AXIS_SCHEMA, CELL_TYPES, CELL_TYPES_SCHEMA, ALLOWLIST)
    assert {"TNF.yaml", "cell_types.yaml"} <= set(table["file"])
    assert ("TNF.ligands.0.genes.0", "TNF") in set(zip(table["field"], table["gene"], strict=True))
    assert table["universe"].nunique() == 1 and "allow-list" in table["universe"].iloc[0]
