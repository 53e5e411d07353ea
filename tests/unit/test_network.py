"""Sender -> receiver networks: scores, candidate pairs, donor-level tests, evidence, recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _synthetic_tables import RECEIVER, SENDER, nodes_and_scores, synthetic_tables

from neurokine.errors import InputError
from neurokine.stats import compare, verdict
from neurokine.stats import network as nw
from neurokine.validation import evaluation


def test_complex_score_takes_min_over_subunits_and_max_over_alternatives():
    values = pd.DataFrame({"A": [1.0, 0.2], "B": [0.5, 3.0], "C": [0.1, 0.4]})
    # complex A+B is limited by its scarcer subunit; the alternative C wins only when larger
    assert nw.complex_score(values, [("A", "B"), ("C",)]).tolist() == [0.5, 0.4]
    # a complex with an unmeasured subunit cannot be judged and is skipped
    assert nw.complex_score(values, [("A", "MISSING"), ("C",)]).tolist() == [0.1, 0.4]
    assert np.isnan(nw.complex_score(values, [("MISSING",)])).all()


def test_node_scores_from_gene_detection(axes):
    il2 = next(a for a in axes if a.id == "IL2")  # receptor: IL2RA+IL2RB+IL2RG or IL2RB+IL2RG
    detection = pd.DataFrame([
        {"sample_id": "s1", "cell_type": "Treg", "gene": g, "mean_expression": m, "fraction_expressing": f}
        for g, m, f in (("IL2", 0.1, 0.05), ("IL2RA", 2.0, 0.9), ("IL2RB", 0.5, 0.3), ("IL2RG", 1.5, 0.8))])
    counts = pd.DataFrame([{"sample_id": "s1", "cell_type": "Treg", "n_cells": 40, "dataset_id": "d",
                            "donor_id": "p1", "tissue": "CSF", "disease": "MS", "age": 40}])
    nodes = nw.node_scores(detection, counts, [il2])
    row = nodes.iloc[0]
    assert (row["ligand_mean"], row["ligand_fraction"]) == (0.1, 0.05)
    # both complexes are limited by IL2RB (0.5); the max over them is therefore 0.5
    assert (row["receptor_mean"], row["receptor_fraction"]) == (0.5, 0.3)
    assert row["age"] == 40 and row["n_cells"] == 40


def test_node_scores_name_the_missing_column(axes):
    bad = pd.DataFrame({"sample_id": ["s"], "cell_type": ["x"], "gene": ["TNF"], "mean_expression": [1.0]})
    with pytest.raises(InputError, match="fraction_expressing"):
        nw.node_scores(bad, pd.DataFrame(), axes[:1], source="gene_detection.tsv")


MS = compare.Contrast("MS", "control")


def test_candidate_pairs_need_the_ligand_in_enough_cells_and_the_receptor_complex():
    nodes, _ = nodes_and_scores()
    pairs = nw.candidate_pairs(nodes, MS, min_ligand=0.5, min_receptor=0.1)
    assert set(pairs["axis"]) == {"TNF"} and set(pairs["sender"]) == {SENDER}
    assert len(pairs) == 3  # one sender to each of the three receivers, autocrine included
    assert nw.candidate_pairs(nodes, MS, min_ligand=0.5, min_receptor=0.7).empty


def test_a_ligand_induced_in_one_arm_qualifies_its_sender():
    # As CXCR3 ligands in Kang's monocytes: 1% of cells before IFN-beta, 93% after; the mean over
    # the arms (0.47) is below the threshold, the stimulated arm is far above it.
    nodes, _ = nodes_and_scores()
    il6 = (nodes["axis"] == "IL6") & (nodes["cell_type"] == RECEIVER)
    nodes.loc[il6, "ligand_fraction"] = np.where(nodes.loc[il6, "disease"] == "MS", 0.93, 0.01)
    pairs = nw.candidate_pairs(nodes, MS, min_ligand=0.5, min_receptor=0.1)
    induced = pairs[pairs["axis"] == "IL6"]
    assert set(induced["sender"]) == {RECEIVER} and len(induced) == 3
    row = induced.iloc[0]
    assert (row["ligand_fraction_case"], row["ligand_fraction_reference"]) == pytest.approx((0.93, 0.01))
    assert row["ligand_fraction"] == pytest.approx(0.93)
    assert nodes[il6].groupby("cell_type")["ligand_fraction"].mean().iloc[0] < 0.5  # pooled fails
    # the rule is per contrast: with the arms swapped it still qualifies, from the other arm
    swapped = nw.candidate_pairs(nodes, compare.Contrast("control", "MS"), 0.5, 0.1)
    assert swapped[swapped["axis"] == "IL6"]["ligand_fraction_reference"].iloc[0] == pytest.approx(0.93)


def test_a_receiver_missing_one_subunit_of_its_complex_is_not_a_receiver(axes):
    il2 = next(a for a in axes if a.id == "IL2")  # IL2RA+IL2RB+IL2RG or IL2RB+IL2RG
    rows = []
    for sample in ("s1", "s2"):
        for cell_type, genes in (("Treg", {"IL2RA": 0.9, "IL2RB": 0.6, "IL2RG": 0.8, "IL2": 0.7}),
                                 ("B_naive", {"IL2RA": 0.9, "IL2RB": 0.0, "IL2RG": 0.9, "IL2": 0.0})):
            rows += [{"sample_id": sample, "cell_type": cell_type, "gene": g, "mean_expression": f,
                      "fraction_expressing": f} for g, f in genes.items()]
    counts = pd.DataFrame([{"sample_id": s, "cell_type": c, "n_cells": 50, "dataset_id": "d",
                            "donor_id": s, "tissue": "CSF", "disease": d}
                           for s, d in (("s1", "MS"), ("s2", "control")) for c in ("Treg", "B_naive")])
    nodes = nw.node_scores(pd.DataFrame(rows), counts, [il2])
    pairs = nw.candidate_pairs(nodes, MS, min_ligand=0.1, min_receptor=0.1)
    assert pairs[["sender", "receiver"]].values.tolist() == [["Treg", "Treg"]]  # B cells lack IL2RB


def test_each_edge_says_whether_the_receivers_response_moves_with_it():
    network = synthetic_tables().network
    tested = network[network["status"] == "tested"].set_index("receiver")
    # the planted receiver's TNF response rises with the edge; the other receivers' does not
    assert tested.loc[RECEIVER, "response_support"] == "moves_with"
    assert tested.loc[RECEIVER, "supported"] == "yes"
    assert tested.loc[RECEIVER, "receiver_response_state"] == "up"
    for other in set(tested.index) - {RECEIVER}:
        assert tested.loc[other, "response_support"] == "unchanged"
        assert tested.loc[other, "supported"] == "no" and tested.loc[other, "fdr"] < 0.05
    assert set(network["response_support"].dropna()) <= {*verdict.RESPONSE_SUPPORT, ""}


def test_support_states_cover_against_and_untestable_responses():
    network = synthetic_tables().network
    edge = network[(network["status"] == "tested") & (network["receiver"] == RECEIVER)]
    keys = {"contrast": "MS_vs_control", "tissue": "CSF", "axis": "TNF", "cell_type": RECEIVER,
            "response_source": "toy"}
    for status, effect, expected in (("tested", -0.4, "moves_against"),
                                     ("not_tested", np.nan, "not_testable")):
        response = pd.DataFrame([{**keys, "response_status": status, "response_effect": effect,
                                  "response_fdr": 0.001}])
        annotated = verdict.annotate_receiver_response(edge, response, 0.05)
        assert annotated["response_support"].iloc[0] == expected
        assert annotated["supported"].iloc[0] == "no"
    # a receiver absent from the response layer cannot support its edge either
    annotated = verdict.annotate_receiver_response(edge, pd.DataFrame([{**keys, "cell_type": "other",
        "response_status": "tested", "response_effect": 1.0, "response_fdr": 0.001}]), 0.05)
    assert annotated["response_support"].iloc[0] == "not_testable"


def test_interaction_score_is_geometric_mean_and_counts_the_scarcer_side():
    nodes, _ = nodes_and_scores()
    pairs = nw.candidate_pairs(nodes, MS, 0.5, 0.1)
    scores = nw.interaction_scores(nodes, pairs)
    one = scores.iloc[0]
    sender = nodes[(nodes["sample_id"] == one["sample_id"]) & (nodes["cell_type"] == one["sender"])
                   & (nodes["axis"] == one["axis"])].iloc[0]
    receiver = nodes[(nodes["sample_id"] == one["sample_id"]) & (nodes["cell_type"] == one["receiver"])
                     & (nodes["axis"] == one["axis"])].iloc[0]
    assert one["interaction"] == pytest.approx(np.sqrt(sender["ligand_mean"] * receiver["receptor_mean"]))
    assert one["n_cells"] == min(sender["n_cells"], receiver["n_cells"])


def test_planted_sender_change_is_found_and_nulls_stay_quiet():
    network = synthetic_tables().network
    assert list(network.columns) == nw.NETWORK_COLUMNS
    tested = network[network["status"] == "tested"]
    assert len(tested) == 3
    assert (tested["sender"] == SENDER).all()
    assert (tested["fdr"] < 0.05).all() and (tested["effect"] > 0).all()
    # the donor, not the cell, is the unit: 6 donors per arm whatever the cell counts
    assert set(tested["n_donors_case"]) == {6} and set(tested["n_donors_reference"]) == {6}
    assert (tested["ligand_mean_case"] > 1.5 * tested["ligand_mean_reference"]).all()


def test_null_data_give_no_significant_interaction():
    nodes, _ = nodes_and_scores(seed=11)
    null = nodes.copy()
    sender = (null["axis"] == "TNF") & (null["cell_type"] == SENDER)
    null.loc[sender, "ligand_mean"] = 1.0 + np.random.default_rng(0).normal(0, 0.08, sender.sum())
    result = nw.compare_interactions(null, [compare.Contrast("MS", "control")], covariates=[],
                                     min_cells=10, min_donors=3, n_boot=50, seed=1, min_ligand=0.5,
                                     min_receptor=0.1)
    assert (result["status"] == "tested").sum() == 3
    assert not (result["fdr"] < 0.05).any()


def test_repeated_samples_of_one_donor_do_not_count_twice():
    nodes, _ = nodes_and_scores()
    visit = nodes.assign(sample_id=nodes["sample_id"] + "_visit2")
    result = nw.compare_interactions(pd.concat([nodes, visit]), [compare.Contrast("MS", "control")],
                                     covariates=[], min_cells=10, min_donors=3, n_boot=50, seed=1,
                                     min_ligand=0.5, min_receptor=0.1)
    tested = result[result["status"] == "tested"]
    assert set(tested["n_donors_case"]) == {6}


def test_too_few_donors_is_reported_not_tested():
    nodes, _ = nodes_and_scores(donors=2)
    result = nw.compare_interactions(nodes, [compare.Contrast("MS", "control")], covariates=[],
                                     min_cells=10, min_donors=3, n_boot=50, seed=1, min_ligand=0.5,
                                     min_receptor=0.1)
    assert (result["status"] == "not_tested").all()
    assert result["reason"].str.contains("min_donors_per_arm").all()


def test_evidence_agreement_shows_all_three_layers_for_the_planted_receiver():
    tables = synthetic_tables()
    evidence = nw.evidence_agreement(tables.nodes, tables.network, tables.tests,
                                     [compare.Contrast("MS", "control")], min_ligand=0.5,
                                     min_receptor=0.1, alpha=0.05)
    assert list(evidence.columns) == nw.EVIDENCE_COLUMNS
    row = evidence[(evidence["axis"] == "TNF") & (evidence["cell_type"] == RECEIVER)].iloc[0]
    assert row["receptor_present"] and row["response_changed"] and row["sender_identified"]
    assert row["top_sender"] == SENDER and row["directions_agree"] == "yes"
    assert row["n_evidence"] == 3 and row["evidence"] == "receptor + response + sender"
    quiet = evidence[evidence["axis"] == "IL6"]
    assert not quiet["sender_identified"].any() and (quiet["n_candidate_senders"] == 0).all()


def test_network_recovery_and_false_positives(axes):
    by_id = {a.id: a for a in axes}
    tables = synthetic_tables()
    truth = pd.DataFrame([{"disease": "MS", "axis": "TNF", "module": "ligand", "cell_type": SENDER,
                           "log2_fold_change": 1.0, "genes_moved": "TNF", "n_genes_moved": 1}])
    recovery = evaluation.network_recovery(truth, tables.network, by_id, 0.05)
    assert recovery.loc[0, "side"] == "sender" and recovery.loc[0, "recovered"]
    assert recovery.loc[0, "n_significant"] == 3
    assert evaluation.network_false_positives(truth, tables.network, by_id, 0.05).empty
    wrong = truth.assign(cell_type="B_naive")
    assert not evaluation.network_recovery(wrong, tables.network, by_id, 0.05).loc[0, "recovered"]
    assert len(evaluation.network_false_positives(wrong, tables.network, by_id, 0.05)) == 3


def test_the_pooled_sender_rule_averages_both_arms():
    nodes, _ = nodes_and_scores()
    il6 = (nodes["axis"] == "IL6") & (nodes["cell_type"] == RECEIVER)
    nodes.loc[il6, "ligand_fraction"] = np.where(nodes.loc[il6, "disease"] == "MS", 0.93, 0.01)
    pooled = nw.candidate_pairs(nodes, MS, 0.5, 0.1, sender_rule="pooled")
    assert "IL6" not in set(pooled["axis"]) and set(pooled["axis"]) == {"TNF"}
    tnf = pooled.iloc[0]
    assert tnf["ligand_fraction"] == pytest.approx((tnf["ligand_fraction_case"]
                                                    + tnf["ligand_fraction_reference"]) / 2)
    with pytest.raises(ValueError, match="sender_rule"):
        nw.candidate_pairs(nodes, MS, 0.5, 0.1, sender_rule="mean")


def test_a_receptor_complex_counts_only_cells_carrying_every_subunit(axes):
    """Half the B cells carry IL2RB, the other half IL2RG: the scarcest subunit is at 0.5, yet no
    cell holds the IL2RB+IL2RG complex. Tregs carry both chains in the same cells."""
    import scipy.sparse as sp

    from neurokine.scoring import detection

    il2 = next(a for a in axes if a.id == "IL2")
    genes = ["IL2", "IL2RA", "IL2RB", "IL2RG"]
    b_cells = [[0, 0, 1, 0], [0, 0, 0, 1]] * 10
    tregs = [[1, 1, 1, 1]] * 20
    matrix = sp.csr_matrix(np.array(b_cells + tregs, dtype=float))
    groups = pd.DataFrame({"sample_id": "s1", "cell_type": ["B_naive"] * 20 + ["Treg"] * 20})
    complexes = detection.group_detection(matrix, genes, groups, detection.axis_features([il2]))
    per_gene = pd.DataFrame([{"sample_id": "s1", "cell_type": c, "gene": g,
                              "mean_expression": float(matrix[rows][:, j].mean()),
                              "fraction_expressing": float((matrix[rows][:, j] > 0).mean())}
                             for c, rows in (("B_naive", slice(0, 20)), ("Treg", slice(20, 40)))
                             for j, g in enumerate(genes)])
    counts = pd.DataFrame([{"sample_id": "s1", "cell_type": c, "n_cells": 20, "dataset_id": "d",
                            "donor_id": "p1", "tissue": "CSF", "disease": "MS"} for c in ("B_naive", "Treg")])
    scarcest = nw.node_scores(per_gene, counts, [il2]).set_index("cell_type")["receptor_fraction"]
    together = nw.node_scores(per_gene, counts, [il2], complexes=complexes).set_index("cell_type")[
        "receptor_fraction"]
    assert scarcest["B_naive"] == 0.5 and together["B_naive"] == 0.0
    assert scarcest["Treg"] == pytest.approx(1.0) and together["Treg"] == pytest.approx(1.0)
