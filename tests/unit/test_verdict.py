"""Evidence verdicts: each verdict arises from its layers, and each layer can fail it.

The synthetic tables plant a TNF ligand rise in CD4_T_memory (the sender) and a TNF response rise
in mono_classical (a receiver); IL6 is null.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _synthetic_tables import RECEIVER, SENDER, synthetic_tables

from neurokine.settings import Contrast
from neurokine.stats import verdict

CONTRASTS = [Contrast("MS", "control")]
OPTIONS = {"alpha": 0.05, "min_ligand": 0.5, "min_receptor": 0.1, "min_cells": 10, "min_agreement": 0.75}


def values_of(tables):
    return tables.donor_scores.rename(columns={"mean_score": "value"}).assign(measure="mean_cell_score")


def verdicts(tables, **changes):
    inputs = {"nodes": tables.nodes, "tests": tables.tests, "network": tables.network,
              "donor_values": values_of(tables), **changes}
    response = inputs.pop("response", None)
    return verdict.evidence_verdicts(inputs["nodes"], inputs["tests"], inputs["network"],
                                     inputs["donor_values"], CONTRASTS, response=response, **OPTIONS)


def row(table, axis, cell_type):
    return table[(table["axis"] == axis) & (table["cell_type"] == cell_type)].iloc[0]


@pytest.fixture(scope="module")
def tables():
    return synthetic_tables()


def test_the_planted_signal_is_supported_and_its_parts_are_partial(tables):
    table = verdicts(tables)
    assert list(table.columns) == verdict.VERDICT_COLUMNS
    supported = row(table, "TNF", RECEIVER)
    assert supported["verdict"] == "supported" and supported["direction"] == "up"
    assert supported["top_sender"] == SENDER
    assert supported["n_donors_agreeing"] == supported["n_donors_compared"]
    assert supported["agreement_design"].startswith("unpaired")
    partial = row(table, "TNF", "B_naive")  # the sender's ligand rose, this receiver did not respond
    assert partial["verdict"] == "partial" and "response did not change" in partial["reason"]
    assert partial["layers_missing"] == "response, donors"
    assert (table.loc[table["axis"] == "IL6", "verdict"] == "no_change").all()


def test_opposite_ligand_and_response_contradict(tables):
    response = verdict.response_from_module_tests(tables.tests)
    flip = (response["axis"] == "TNF") & (response["cell_type"] == RECEIVER)
    response.loc[flip, "response_effect"] *= -1
    flipped = row(verdicts(tables, response=response), "TNF", RECEIVER)
    assert flipped["verdict"] == "contradicted"
    assert flipped["reason"] == f"ligand up in {SENDER} but response down"


def test_a_response_without_its_receptor_contradicts(tables):
    nodes = tables.nodes.copy()
    nodes.loc[(nodes["axis"] == "TNF") & (nodes["cell_type"] == RECEIVER), "receptor_fraction"] = 0.02
    lost = row(verdicts(tables, nodes=nodes), "TNF", RECEIVER)
    assert lost["receptor_state"] == "absent" and lost["verdict"] == "contradicted"
    assert "receptor complex is detected in only 0.02" in lost["reason"]


def test_donors_who_do_not_follow_the_mean_weaken_or_contradict(tables):
    values = values_of(tables)
    target = (values["signature"] == "TNF.response") & (values["cell_type"] == RECEIVER) & (
        values["disease"] == "MS")
    donors = sorted(values.loc[target, "donor_id"].unique())
    # Two of six case donors fall far below the reference: the mean stays up (one donor is huge)
    # but only 4/6 follow -> partial; with five below -> contradicted.
    for n_down, expected in ((2, "partial"), (5, "contradicted")):
        changed = values.copy()
        low = target & changed["donor_id"].isin(donors[:n_down])
        changed.loc[low, "value"] = -1.0
        changed.loc[target & (changed["donor_id"] == donors[-1]), "value"] = 50.0
        result = row(verdicts(tables, donor_values=changed), "TNF", RECEIVER)
        assert result["verdict"] == expected, result["reason"]
        assert result["n_donors_agreeing"] == 6 - n_down


def test_not_testable_says_why(tables):
    tests = tables.tests[~((tables.tests["axis"] == "IL6") & (tables.tests["module"] == "response"))]
    table = verdicts(tables, tests=tests)
    il6 = table[table["axis"] == "IL6"]
    assert (il6["verdict"] == "not_testable").all()
    assert il6["reason"].str.contains("no response module").all()
    nodes = tables.nodes.copy()
    nodes.loc[nodes["axis"] == "TNF", "receptor_fraction"] = np.nan
    unmeasured = row(verdicts(tables, nodes=nodes), "TNF", RECEIVER)
    assert unmeasured["verdict"] == "not_testable" and "receptor complex not measured" in unmeasured["reason"]


def test_donor_agreement_paired_and_unpaired():
    base = {"dataset_id": "d", "tissue": "CSF", "cell_type": "NK", "signature": "A.response", "n_cells": 50}
    contrast = Contrast("stim", "ctrl")
    paired = pd.DataFrame([{**base, "donor_id": f"p{i}", "disease": arm, "sample_id": f"p{i}{arm}",
                            "value": v} for i, (a, b) in enumerate([(0, 1), (0, 2), (0, -1)])
                           for arm, v in (("ctrl", a), ("stim", b))])
    tests = pd.DataFrame([{"contrast": "stim_vs_ctrl", "tissue": "CSF", "cell_type": "NK",
                           "signature": "A.response", "status": "tested", "effect": 0.7}])
    out = verdict.donor_agreement(paired, tests, contrast, min_cells=10).iloc[0]
    assert (out["n_donors_agreeing"], out["n_donors_compared"]) == (2, 3)
    assert out["agreement_design"].startswith("paired")
    unpaired = pd.DataFrame([{**base, "donor_id": f"{arm}{i}", "disease": arm, "sample_id": f"{arm}{i}",
                              "value": v} for arm, vals in (("ctrl", [0, 1, 2]), ("stim", [3, 1, 0.5, 5]))
                             for i, v in enumerate(vals)])
    out = verdict.donor_agreement(unpaired, tests, contrast, min_cells=10).iloc[0]
    # reference median 1: case donors 3 and 5 are above it, 1 ties (does not count), 0.5 below
    assert (out["n_donors_agreeing"], out["n_donors_compared"]) == (2, 4)
    assert out["agreement_design"].startswith("unpaired")


def test_a_level_column_is_carried_as_a_key(tables):
    def levelled(frame):
        return pd.concat([frame.assign(level="fine"), frame.assign(level="lineage")], ignore_index=True)

    table = verdict.evidence_verdicts(levelled(tables.nodes), levelled(tables.tests),
                                      levelled(tables.network), levelled(values_of(tables)), CONTRASTS,
                                      **OPTIONS)
    assert "level" in table.columns and list(table.columns).index("level") == 5
    plain = verdicts(tables)
    for level in ("fine", "lineage"):
        mine = table[table["level"] == level].drop(columns="level").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine[["axis", "cell_type", "verdict", "reason"]],
                                      plain[["axis", "cell_type", "verdict", "reason"]])
    assert set(verdict.verdict_counts(table)["level"]) == {"fine", "lineage"}


def test_an_activity_table_replaces_or_joins_the_response_layer(tables):
    module = verdict.response_from_module_tests(tables.tests)
    tested = module[module["response_status"] == "tested"]
    activity = pd.DataFrame({"contrast": tested["contrast"], "tissue": tested["tissue"],
                             "cell_type": tested["cell_type"], "axis": tested["axis"],
                             "activity": tested["response_effect"] * 3, "se": 0.1,
                             "p_value": tested["response_p_value"], "fdr": tested["response_fdr"]})
    replaced = verdicts(tables, response=verdict.response_from_activity(activity))
    assert row(replaced, "TNF", RECEIVER)["verdict"] == "supported"
    assert row(replaced, "TNF", RECEIVER)["response_source"] == "joint activity"
    opposite = activity.assign(activity=-activity["activity"])
    joined = verdict.combine_responses(module, verdict.response_from_activity(opposite), 0.05, mode="agree")
    disagreeing = row(verdicts(tables, response=joined), "TNF", RECEIVER)
    assert disagreeing["verdict"] == "not_testable"
    assert "up by response module test" in disagreeing["reason"]
    assert "down by joint activity" in disagreeing["reason"]
    preferred = verdict.combine_responses(module, verdict.response_from_activity(opposite), 0.05,
                                          mode="prefer")
    assert row(verdicts(tables, response=preferred), "TNF", RECEIVER)["verdict"] == "supported"


def test_a_response_its_joint_activity_does_not_share_is_unspecific(tables):
    """The workflow's layer (verdict.response_layer): the module test, confirmed by the activity."""
    module = verdict.response_from_module_tests(tables.tests)
    tested = module[module["response_status"] == "tested"]
    base = pd.DataFrame({"contrast": tested["contrast"], "tissue": tested["tissue"], "level": "fine",
                         "cell_type": tested["cell_type"], "axis": tested["axis"],
                         "activity": tested["response_effect"], "se": 0.1,
                         "p_value": tested["response_p_value"], "fdr": tested["response_fdr"]})
    confirmed = verdict.response_layer(tables.tests, base, 0.05)
    mine = row(verdicts(tables, response=confirmed), "TNF", RECEIVER)
    assert mine["verdict"] == "supported" and mine["response_confirmation"] == "confirmed"
    # IFN-beta moves IFN-gamma's module through shared genes; its joint activity stays flat
    flat = base.assign(p_value=np.where(base["axis"] == "TNF", 0.4, base["p_value"]))
    unspecific = verdict.response_layer(tables.tests, flat, 0.05)
    mine = row(verdicts(tables, response=unspecific), "TNF", RECEIVER)
    assert mine["response_state"] == "unspecific" and mine["verdict"] == "partial"
    assert "joint activity did not (p 0.4)" in mine["reason"] and "response" in mine["layers_missing"]
    edges = verdict.annotate_receiver_response(tables.network, unspecific, 0.05)
    assert set(edges.loc[edges["receiver"] == RECEIVER, "response_support"]) == {"unspecific"}
    assert (edges["supported"] != "yes").all()
    # the activity alone stands in where no module was tested
    missing = tables.tests[~((tables.tests["axis"] == "TNF") & (tables.tests["module"] == "response"))]
    alone = verdict.response_layer(missing, base, 0.05)
    assert set(alone.loc[alone["axis"] == "TNF", "response_source"]) == {"joint activity"}
