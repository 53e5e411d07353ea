"""Pseudobulk donor-level values: log-CPM and signature scores on summed counts."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.stats.pseudobulk import (
    donor_values,
    expression,
    log_cpm,
    module_counts,
    signature_scores,
    tmm_factors,
)


def small_pseudobulk():
    counts = np.array([[10, 0, 90, 0], [5, 5, 40, 50], [0, 20, 20, 60]])
    obs = pd.DataFrame({"sample_id": ["s1", "s2", "s3"], "cell_type": "NK", "n_cells": [30, 40, 50],
                        "donor_id": ["p1", "p2", "p3"], "tissue": "CSF",
                        "disease": ["MS", "control", "control"], "dataset_id": "d"},
                       index=["s1|NK", "s2|NK", "s3|NK"])
    return ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=["A", "B", "C", "D"]))


def test_log_cpm_hand_computed():
    value = log_cpm(np.array([[10, 0, 90, 0]]))
    assert value[0, 0] == pytest.approx(np.log2(10.5 / 101 * 1e6))
    assert value[0, 1] == pytest.approx(np.log2(0.5 / 101 * 1e6))


def test_an_undetected_gene_reads_the_same_at_any_depth():
    """A half-depth library of the same composition has the same log-CPM, zeros included (a fixed
    offset would read the shallower library's zero 1 log2 unit higher)."""
    value = log_cpm(np.array([[200, 0, 1800], [100, 0, 900]]))
    np.testing.assert_allclose(value[0, 1], value[1, 1], atol=1e-12)
    np.testing.assert_allclose(value[0, 0], value[1, 0], atol=1e-12)
    assert log_cpm(np.array([[0, 0, 0]])).shape == (1, 3)  # an empty library stays finite
    assert np.isfinite(log_cpm(np.array([[0, 0, 0], [5, 0, 5]]))).all()


def test_signature_scores_average_log_cpm_and_report_coverage():
    pb = small_pseudobulk()
    long, coverage = signature_scores(pb, {"X.response": ["A", "C", "Z"], "Y.ligand": ["Z", "W"]}, 0.5)
    expected = expression(pb)[:, [0, 2]].mean(axis=1)  # TMM log-CPM within the cell type
    got = long[long["signature"] == "X.response"].sort_values("sample_id")["mean_score"].to_numpy()
    np.testing.assert_allclose(got, expected)
    cov = coverage.set_index("signature")
    assert cov.loc["X.response", "coverage"] == pytest.approx(2 / 3)
    assert cov.loc["Y.ligand", "status"] == "skipped" and "no gene" in cov.loc["Y.ligand", "reason"]
    assert set(long["signature"]) == {"X.response"}
    assert {"donor_id", "n_cells", "axis", "module"} <= set(long.columns)


def test_donor_values_hold_both_forms():
    pb = small_pseudobulk()
    long, _ = signature_scores(pb, {"X.response": ["A", "C"]}, 0.5)
    table = donor_values(long.assign(mean_score=0.1), long)
    assert sorted(table["measure"].unique()) == ["mean_cell_score", "pseudobulk_logcpm"]
    assert "value" in table.columns and len(table) == 2 * len(long)


def test_missing_obs_column_is_a_clear_error():
    pb = small_pseudobulk()
    pb.obs = pb.obs.drop(columns="donor_id")
    with pytest.raises(InputError, match="donor_id"):
        signature_scores(pb, {"X.response": ["A"]}, 0.5)


def test_module_counts_sum_the_raw_counts_of_each_signature_present_genes():
    pb = small_pseudobulk()
    table = module_counts(pb, {"X.response": ["A", "C", "Z"], "Y.ligand": ["Z", "W"], "B.ligand": ["B"]})
    got = table.set_index(["signature", "sample_id"])["module_counts"]
    assert got.loc[("X.response", "s1")] == 100 and got.loc[("X.response", "s3")] == 20
    assert got.loc[("B.ligand", "s2")] == 5
    assert "Y.ligand" not in set(table["signature"])  # no gene in the data: nothing to count


def composition_shift(n_genes=400, n_samples=6, boosted=(0, 1, 2), boost=60.0, seed=0):
    """Poisson libraries of one composition; in `boosted` samples 10 genes rise `boost`-fold and
    take library share from every other gene (a strong response program)."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(1.0, 1.0, n_genes)
    rows = []
    for i in range(n_samples):
        mean = base.copy()
        if i in boosted:
            mean[:10] *= boost
        rows.append(rng.poisson(mean / mean.sum() * 200_000))
    return np.array(rows)


def test_tmm_factors_follow_library_share_taken_by_a_strong_program():
    counts = composition_shift()
    factors = tmm_factors(counts)
    assert np.exp(np.mean(np.log(factors))) == pytest.approx(1.0)
    # the boosted libraries spend a share on 10 genes: the other genes read lower per library,
    # and TMM's factor says by how much (share left for the rest in boosted vs plain samples)
    rng = np.random.default_rng(0)
    base = rng.gamma(1.0, 1.0, 400)
    left = (base[10:].sum() / (base[10:].sum() + 60 * base[:10].sum())) / (base[10:].sum() / base.sum())
    assert factors[:3].mean() / factors[3:].mean() == pytest.approx(left, rel=0.03)
    assert np.allclose(tmm_factors(counts[[3, 4, 5]]), 1.0, atol=0.02)  # same composition: ~1


def test_tmm_expression_keeps_unchanged_genes_level_beside_a_strong_program():
    counts = composition_shift()
    obs = pd.DataFrame({"sample_id": [f"s{i}" for i in range(6)], "cell_type": "NK", "n_cells": 50,
                        "donor_id": [f"p{i}" for i in range(6)], "tissue": "CSF",
                        "disease": ["MS"] * 3 + ["control"] * 3, "dataset_id": "d"},
                       index=[f"s{i}|NK" for i in range(6)])
    pb = ad.AnnData(X=sp.csr_matrix(counts), obs=obs)
    unchanged = slice(10, None)
    shift_plain = (log_cpm(counts)[:3, unchanged].mean() - log_cpm(counts)[3:, unchanged].mean())
    shift_tmm = (expression(pb)[:3, unchanged].mean() - expression(pb)[3:, unchanged].mean())
    assert shift_plain < -0.5  # plain log-CPM: every other gene seems to fall
    assert abs(shift_tmm) < 0.1 * abs(shift_plain)


def test_tmm_factors_of_a_single_or_empty_library_are_one():
    assert tmm_factors(np.array([[1, 2, 3]])).tolist() == [1.0]
    assert np.isfinite(tmm_factors(np.array([[0, 0, 0], [1, 2, 3], [2, 1, 3]]))).all()
