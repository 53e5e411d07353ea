"""Donor-aware response enrichment: pseudobulk moderated-t ranking, then gseapy prerank."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.stats import enrichment
from neurokine.stats.compare import Contrast

GENES = [f"G{i:03d}" for i in range(300)]
PLANTED = GENES[:20]


def pseudobulk(lfc=1.5, n=5, seed=0, paired=False):
    """Pseudobulk counts for one cell type, PLANTED genes up by `lfc` (log2) in MS donors."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(3, 1, size=len(GENES))
    rows, obs = [], []
    donors = [(f"p{i}", "MS" if i < n else "control") for i in range(2 * n)]
    if paired:
        donors = [(f"p{i}", d) for i in range(n) for d in ("MS", "control")]
    donor_effect = {d: rng.normal(0, 0.2, size=len(GENES)) for d, _ in donors}
    for donor, disease in donors:
        mu = base * np.exp(donor_effect[donor])
        if disease == "MS":
            mu[:20] *= 2**lfc
        rows.append(rng.poisson(rng.gamma(10, mu / 10)))
        obs.append({"sample_id": f"{donor}_{disease}", "cell_type": "NK", "n_cells": 100,
                    "donor_id": donor, "tissue": "CSF", "disease": disease, "dataset_id": "d"})
    obs = pd.DataFrame(obs)
    obs.index = obs["sample_id"] + "|NK"
    return ad.AnnData(X=sp.csr_matrix(np.array(rows)), obs=obs, var=pd.DataFrame(index=GENES))


def sets():
    rng = np.random.default_rng(1)
    return {"IFN_I.response": ("curated", "IFN_I", PLANTED),
            "TNF.response": ("curated", "TNF", list(rng.choice(GENES[20:], 20, replace=False))),
            "TINY.response": ("curated", "TINY", [*GENES[:3], "NOT_A_GENE"])}


def test_planted_genes_rank_first():
    rankings, skipped = enrichment.gene_rankings(pseudobulk(), Contrast("MS", "control"), covariates=[],
                                                 min_cells=10, min_donors=3)
    assert not skipped
    ranking, base = rankings[("CSF", "NK")]
    assert len(set(ranking.index[:20]) & set(PLANTED)) >= 15
    assert base["n_donors_case"] == 5 and ranking.is_monotonic_decreasing


def test_prerank_finds_the_planted_set_and_skips_tiny_sets():
    ranking, _ = enrichment.gene_rankings(pseudobulk(), Contrast("MS", "control"), covariates=[],
                                          min_cells=10, min_donors=3)[0][("CSF", "NK")]
    table, _used = enrichment.prerank(ranking, sets(), permutations=200, seed=3, min_size=5, max_size=500)
    table = table.set_index("gene_set")
    assert table.loc["IFN_I.response", "nes"] > 1.5 and table.loc["IFN_I.response", "fdr"] < 0.05
    assert table.loc["TNF.response", "fdr"] > 0.05
    assert table.loc["TINY.response", "status"] == "not_tested"
    assert "3 of its genes" in table.loc["TINY.response", "reason"]
    again, _ = enrichment.prerank(ranking, sets(), permutations=200, seed=3, min_size=5, max_size=500)
    pd.testing.assert_frame_equal(table.reset_index(), again)


def test_permutation_p_and_fdr_never_print_zero():
    """200 permutations cannot support p below 1/201: the planted set sits at the floor, not at 0."""
    ranking, _ = enrichment.gene_rankings(pseudobulk(), Contrast("MS", "control"), covariates=[],
                                          min_cells=10, min_donors=3)[0][("CSF", "NK")]
    table, _ = enrichment.prerank(ranking, sets(), permutations=200, seed=3, min_size=5, max_size=500)
    tested = table[table["status"] == "tested"]
    assert (tested["p_floor"] == 1 / 201).all()
    assert (tested["nom_p_value"] >= 1 / 201).all() and (tested["fdr"] >= 1 / 201).all()
    assert tested.set_index("gene_set").loc["IFN_I.response", "nom_p_value"] == 1 / 201


def test_response_enrichment_table_and_paired_design():
    pb = pseudobulk(paired=True, n=4)
    table = enrichment.response_enrichment(
        pb, [Contrast("MS", "control")], [], {}, covariates=[], min_cells=10, min_donors=3,
        permutations=100, min_size=5, max_size=500, seed=1)
    assert list(table.columns) == enrichment.ENRICHMENT_COLUMNS
    assert table.empty or (table["n_donors_case"] == 4).all()


def test_too_few_donors_is_not_tested_with_reason():
    table = enrichment.response_enrichment(
        pseudobulk(n=2), [Contrast("MS", "control")], [], {}, covariates=[], min_cells=10,
        min_donors=3, permutations=100, min_size=5, max_size=500, seed=1)
    assert (table["status"] == "not_tested").all()
    assert table["reason"].str.contains("min_donors_per_arm is 3").all()


def test_curated_response_sets_come_from_the_axes(axes):
    gene_sets = enrichment.response_gene_sets(axes)
    assert gene_sets["IFN_I.response"][0] == "curated"
    ifn = next(a for a in axes if a.id == "IFN_I")
    assert gene_sets["IFN_I.response"][2] == list(ifn.response)
    hcd = enrichment.response_gene_sets(axes, ["CD14_Mono"])
    assert any(v[0] == "hcd_cip" for v in hcd.values())


def test_expressed_gene_filter():
    counts = np.array([[0, 5, 10], [0, 6, 0], [1, 7, 0]])
    np.testing.assert_array_equal(enrichment.expressed_genes(counts, 5, 2), [1])
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(enrichment.expressed_genes(counts, 5, 1), [1])


def test_an_optional_reference_leaves_curated_q_values_unchanged(monkeypatch):
    rng = np.random.default_rng(2)
    extra = {f"REF{i}": ("cytosig", f"REF{i}", list(rng.choice(GENES, 25, replace=False)))
             for i in range(6)}
    curated = {k: v for k, v in sets().items() if k != "TINY.response"}
    tables = {}
    for name, gene_sets in (("curated only", curated), ("with reference", {**curated, **extra})):
        monkeypatch.setattr(enrichment, "response_gene_sets", lambda *a, gs=gene_sets, **k: gs)
        tables[name] = enrichment.response_enrichment(
            pseudobulk(), [Contrast("MS", "control")], [], {}, covariates=[], min_cells=10,
            min_donors=3, permutations=100, min_size=5, max_size=500, seed=1)
    alone, both = tables["curated only"], tables["with reference"]
    assert set(both["resource"]) == {"curated", "cytosig"}
    assert both.groupby("resource")["fdr_family"].nunique().eq(1).all()
    assert both["fdr_family"].nunique() == 2
    pd.testing.assert_frame_equal(alone, both[both["resource"] == "curated"].reset_index(drop=True))
