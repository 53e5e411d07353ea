"""Therapy panel logic: observed signal per axis x disease and paradox flags from the resource."""

from __future__ import annotations

import pandas as pd
import pytest

from neurokine.plot import therapy

DISEASES = ["MS", "NMOSD", "neurosarcoidosis", "ICANS"]


def results_frame(rows):
    base = {"dataset_id": "d", "status": "tested", "tissue": "CSF", "p_value": 0.01}
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.fixture
def by_id(axes):
    return {a.id: a for a in axes}


def test_observed_direction_counts_only_significant_ligand_and_response_changes():
    frame = results_frame([
        {"axis": "TNF", "case": "MS", "module": "ligand", "cell_type": "CD4_T_memory", "effect": 1.0,
         "hedges_g": 3.0, "fdr": 0.001},
        {"axis": "TNF", "case": "MS", "module": "receptor", "cell_type": "Treg", "effect": -1.0,
         "hedges_g": -3.0, "fdr": 0.001},  # receptor changes do not define the cytokine signal
        {"axis": "IL6", "case": "MS", "module": "response", "cell_type": "B_naive", "effect": 0.2,
         "hedges_g": 0.5, "fdr": 0.6},
        {"axis": "IL6", "case": "NMOSD", "module": "response", "cell_type": "B_naive", "effect": 0.5,
         "hedges_g": 2.0, "fdr": 0.01},
        {"axis": "IL6", "case": "NMOSD", "module": "ligand", "cell_type": "mono_classical",
         "effect": -0.5, "hedges_g": -2.5, "fdr": 0.02},
    ])
    observed = therapy.observed_signal(frame, 0.05).set_index(["axis", "disease"])
    assert observed.loc[("TNF", "MS"), "observed_direction"] == "up"
    assert observed.loc[("TNF", "MS"), "observed_cell_type"] == "CD4_T_memory"
    assert observed.loc[("IL6", "MS"), "observed_direction"] == "none"
    assert observed.loc[("IL6", "NMOSD"), "observed_direction"] == "mixed"


def test_anti_tnf_in_ms_is_a_paradox_when_tnf_is_up(by_id):
    observed = pd.DataFrame([{"axis": "TNF", "disease": "MS", "observed_direction": "up",
                              "observed_hedges_g": 3.0, "observed_fdr": 0.001,
                              "observed_cell_type": "CD4_T_memory", "observed_module": "ligand",
                              "observed_dataset": "d", "n_up": 1, "n_down": 0,
                              "n_interactions_up": 4, "n_interactions_down": 0}])
    table = therapy.therapy_table(by_id, observed, DISEASES, ["d"]).set_index(["axis", "disease"])
    ms = table.loc[("TNF", "MS")]
    assert ms["paradox"] and ms["outcome_summary"] == "harmful"
    assert "worsened disease although its signal is up here" in ms["paradox_reasons"]
    assert "beneficial in neurosarcoidosis" in ms["paradox_reasons"]
    assert "PMID:10449104" in ms["therapies"]  # lenercept trial
    assert ms["n_interactions_up"] == 4 and ms["datasets"] == "d"
    assert table.loc[("TNF", "neurosarcoidosis"), "paradox"]  # the mirror image of the MS harm
    assert not table.loc[("TNF", "NMOSD"), "paradox"]  # no trial, nothing to contradict


def test_ifn_beta_flips_between_ms_and_nmosd(by_id):
    columns = ["dataset_id", "status", "tissue", "axis", "case", "module", "cell_type", "effect",
               "hedges_g", "p_value", "fdr"]
    empty = therapy.observed_signal(pd.DataFrame(columns=columns), 0.05)
    table = therapy.therapy_table(by_id, empty, DISEASES).set_index(["axis", "disease"])
    nmosd = table.loc[("IFN_I", "NMOSD")]
    assert nmosd["paradox"] and "adding is harmful here but beneficial in MS" in nmosd["paradox_reasons"]
    assert nmosd["observed_direction"] == "not measured"
    assert "beneficial in MS" not in table.loc[("IL6", "NMOSD"), "paradox_reasons"]


def test_outcome_summary():
    assert therapy.summarise_outcomes([]) == "none"
    assert therapy.summarise_outcomes(["beneficial", "harmful"]) == "mixed"
    assert therapy.summarise_outcomes(["failed", "untested"]) == "failed"
    assert therapy.summarise_outcomes(["beneficial", "mixed"]) == "beneficial"
