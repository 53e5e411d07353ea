"""Therapy panel logic: observed signal per axis x disease, outcomes counted by outcome and weighted
by evidence level, populations kept apart, multi-axis and withdrawn drugs, paradox flags."""

from __future__ import annotations

import pandas as pd
import pytest

from neurokine.plot import therapy

DISEASES = ["MS", "NMOSD", "neurosarcoidosis", "ICANS"]


def results_frame(rows):
    base = {"dataset_id": "d", "status": "tested", "tissue": "CSF", "p_value": 0.01}
    return pd.DataFrame([{**base, **r} for r in rows])


def observed_row(axis, disease, direction):
    return {"axis": axis, "disease": disease, "observed_direction": direction, "observed_hedges_g": 3.0,
            "observed_fdr": 0.001, "observed_cell_type": "CD4_T_memory", "observed_module": "ligand",
            "observed_dataset": "d", "n_up": 1, "n_down": 0, "n_interactions_up": 4,
            "n_interactions_down": 0}


@pytest.fixture
def by_id(axes):
    return {a.id: a for a in axes}


@pytest.fixture
def records(by_id):
    return therapy.therapy_records(by_id)


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
    observed = pd.DataFrame([observed_row("TNF", "MS", "up")])
    table = therapy.therapy_table(by_id, observed, DISEASES, ["d"]).set_index(["axis", "disease"])
    ms = table.loc[("TNF", "MS")]
    assert ms["paradox"] and ms["outcome_summary"] == "harmful"
    assert "worsened disease although its signal is up here" in ms["paradox_reasons"]
    assert "beneficial in neurosarcoidosis" in ms["paradox_reasons"]
    assert "PMID:10449104" in ms["therapies"]  # lenercept trial
    assert "phase 2 trial" in ms["therapies"]  # its evidence level travels with it
    assert ms["n_interactions_up"] == 4 and ms["datasets"] == "d"
    assert not table.loc[("TNF", "NMOSD"), "paradox"]  # no trial, nothing to contradict


def test_a_paradox_needs_an_observed_signal(by_id):
    """IFN-beta flips between MS and NMOSD, but without a measured signal there is no paradox."""
    columns = ["dataset_id", "status", "tissue", "axis", "case", "module", "cell_type", "effect",
               "hedges_g", "p_value", "fdr"]
    empty = therapy.observed_signal(pd.DataFrame(columns=columns), 0.05)
    table = therapy.therapy_table(by_id, empty, DISEASES).set_index(["axis", "disease"])
    assert not table["paradox"].any()
    assert table.loc[("IFN_I", "NMOSD"), "observed_direction"] == "not measured"
    none = pd.DataFrame([observed_row("IFN_I", "NMOSD", "none")])
    assert not therapy.therapy_table(by_id, none, DISEASES).set_index(
        ["axis", "disease"]).loc[("IFN_I", "NMOSD"), "paradox"]
    up = pd.DataFrame([observed_row("IFN_I", "NMOSD", "up")])
    nmosd = therapy.therapy_table(by_id, up, DISEASES).set_index(["axis", "disease"]).loc[("IFN_I", "NMOSD")]
    assert nmosd["paradox"] and "adding is harmful here but beneficial in MS" in nmosd["paradox_reasons"]


def test_outcomes_are_counted_by_outcome_not_by_entry(by_id):
    table = therapy.therapy_table(by_id, pd.DataFrame(), DISEASES).set_index(["axis", "disease"])
    il1 = table.loc[("IL1", "ICANS")]  # retrospective series beneficial, phase 1 untested, mice apart
    assert (il1["n_beneficial"], il1["n_untested"], il1["n_entries"]) == (1, 1, 2)
    assert il1["outcome_counts"] == "beneficial 1, untested 1"
    assert il1["n_other_population"] == 1 and il1["other_population_counts"] == "beneficial 1"
    ifn = table.loc[("IFN_I", "MS")]
    assert ifn["outcome_counts"] == "beneficial 3, mixed 1" and ifn["strongest_evidence"] == "phase 3 RCT"


def test_pulmonary_and_cutaneous_sarcoidosis_stay_apart_from_neurosarcoidosis(by_id, records):
    table = therapy.therapy_table(by_id, pd.DataFrame(), DISEASES).set_index(["axis", "disease"])
    gm = table.loc[("GM_CSF", "neurosarcoidosis")]  # namilumab, chronic pulmonary sarcoidosis
    assert gm["n_entries"] == 0 and gm["outcome_summary"] == "none"
    assert gm["other_population_counts"] == "failed 1" and "pulmonary" in gm["other_population_therapies"]
    tnf = table.loc[("TNF", "neurosarcoidosis")]  # infliximab series in the CNS disease, golimumab not
    assert tnf["outcome_counts"] == "beneficial 3" and "golimumab" in tnf["other_population_therapies"]
    neuro = records[(records["disease"] == "neurosarcoidosis") & records["in_disease"]]
    assert set(neuro["drug"]) == {"infliximab"}


def test_evidence_weight_decides_the_summary():
    frame = pd.DataFrame({"outcome": ["beneficial", "harmful", "harmful"],
                          "evidence_weight": [1.0, 0.3, 0.2], "withdrawn": [False] * 3})
    assert therapy.summarise_outcomes(frame) == "beneficial"  # one RCT outweighs two case reports
    assert therapy.summarise_outcomes(frame.assign(evidence_weight=[0.8, 0.4, 0.4])) == "mixed"
    assert therapy.summarise_outcomes(frame.iloc[:0]) == "none"
    assert therapy.summarise_outcomes(frame.assign(withdrawn=True)) == "beneficial (drug withdrawn)"


def test_jak_inhibitor_is_credited_to_every_axis_it_blocks(by_id, records):
    tofacitinib = records[records["drug"] == "tofacitinib"]
    uses_jak1_or_jak3 = {a.id for a in by_id.values() if {"JAK1", "JAK3"} & {
        g for group in a.record.get("signalling", []) for g in group["genes"]}}
    assert set(tofacitinib["axis"]) == uses_jak1_or_jak3  # the curated signalling decides
    assert tofacitinib["multi_axis"].all() and set(tofacitinib["home_axis"]) == {"IFNG"}
    assert not tofacitinib["in_disease"].any()  # cutaneous/multiorgan sarcoidosis, not CNS
    p40 = records[records["drug"] == "ustekinumab"]
    assert set(p40["axis"]) == {"IL12", "IL23"} and p40["multi_axis"].all()
    assert len(records[(records["drug"] == "ustekinumab") & (records["axis"] == "IL23")]) == 2  # counted once


def test_daclizumab_shows_as_withdrawn_with_reason_and_citation(by_id):
    table = therapy.therapy_table(by_id, pd.DataFrame(), DISEASES).set_index(["axis", "disease"])
    il2 = table.loc[("IL2", "MS")]
    assert "withdrawn 2018" in il2["withdrawn_drugs"] and "encephalitis" in il2["withdrawn_drugs"]
    assert "PMID:30027106" in il2["withdrawn_drugs"]
    assert il2["outcome_summary"] == "beneficial (drug withdrawn)"
    assert il2["n_harmful"] == 1  # the post-marketing encephalitis reports


def test_also_blocks_must_name_another_axis(tmp_path, repo):
    import shutil

    import yaml

    from neurokine.curated.axes import load_axes
    from neurokine.errors import InputError

    axes_dir = tmp_path / "axes"
    shutil.copytree(repo / "resources/signatures/axes", axes_dir)
    record = yaml.safe_load((axes_dir / "IL12.yaml").read_text())
    record["therapies"][0]["also_blocks"] = ["IL99"]
    (axes_dir / "IL12.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    with pytest.raises(InputError) as err:
        load_axes(axes_dir, repo / "resources/schemas/axis.schema.yaml")
    assert err.value.field == "IL12.therapies.0.also_blocks.0" and "IL99" in str(err.value)
