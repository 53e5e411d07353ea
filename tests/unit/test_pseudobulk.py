"""Pseudobulk donor-level values: log-CPM and signature scores on summed counts."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.stats.pseudobulk import donor_values, log_cpm, signature_scores


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
    expected = log_cpm(pb.X)[:, [0, 2]].mean(axis=1)
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
