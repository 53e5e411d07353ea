"""Sample x cell-type aggregation equals straightforward pandas group-bys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.io.prepare import normalize
from neurokine.scoring.aggregate import cell_counts, gene_detection, mean_scores, pseudobulk


@pytest.fixture(scope="module")
def prepared(small_cohort):
    adata = small_cohort[0][:1500].copy()
    return normalize(adata, 1e4)


def test_mean_scores_equal_groupby_means(prepared):
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.normal(size=(prepared.n_obs, 2)), columns=["A.response", "B.ligand"],
                          index=prepared.obs_names)
    table = mean_scores(prepared.obs, scores)
    expected = scores.groupby([prepared.obs["sample_id"].astype(str),
                               prepared.obs["cell_type"].astype(str)]).mean()
    row = table[(table["signature"] == "B.ligand")].set_index(["sample_id", "cell_type"])
    np.testing.assert_allclose(row["mean_score"].sort_index(),
                               expected["B.ligand"].sort_index().to_numpy())
    assert set(table["module"]) == {"response", "ligand"} and set(table["axis"]) == {"A", "B"}
    assert {"donor_id", "disease", "tissue", "dataset_id", "sex", "age"} <= set(table.columns)


def test_cell_counts_include_absent_types_as_zero(prepared):
    counts = cell_counts(prepared.obs, cell_types=["microglia"])
    assert (counts.loc[counts["cell_type"] == "microglia", "n_cells"] == 0).all()
    per_sample = counts.groupby("sample_id")["n_cells"].sum()
    assert (per_sample == prepared.obs["sample_id"].astype(str).value_counts().sort_index()).all()


def test_pseudobulk_sums_raw_counts(prepared):
    bulk = pseudobulk(prepared)
    assert bulk.X.sum() == prepared.layers["counts"].sum()
    first = bulk.obs.iloc[0]
    mask = ((prepared.obs["sample_id"] == first["sample_id"])
            & (prepared.obs["cell_type"] == first["cell_type"])).to_numpy()
    expected = np.asarray(prepared.layers["counts"][mask].sum(axis=0)).ravel()
    np.testing.assert_array_equal(sp.csr_matrix(bulk.X[0]).toarray().ravel(), expected)
    assert first["n_cells"] == mask.sum()


def test_gene_detection_fraction_and_mean(prepared):
    table = gene_detection(prepared, ["CD14", "CD14", "NOT_A_GENE"])
    assert set(table["gene"]) == {"CD14"}
    first = table.iloc[0]
    mask = ((prepared.obs["sample_id"] == first["sample_id"])
            & (prepared.obs["cell_type"] == first["cell_type"])).to_numpy()
    column = prepared.var_names.get_loc("CD14")
    counts = prepared.layers["counts"][mask][:, column].toarray().ravel()
    assert first["fraction_expressing"] == pytest.approx((counts > 0).mean())
    assert first["mean_expression"] == pytest.approx(prepared.X[mask][:, column].toarray().mean(), rel=1e-5)


def test_calibration_table_by_hand():
    from neurokine.scoring.aggregate import calibration_table

    groups = pd.DataFrame({"sample_id": ["s1", "s2"], "cell_type": ["T", "T"]})
    samples = pd.DataFrame({"sample_id": ["s1", "s2"], "disease": ["MS", "control"]})
    observed = np.array([[3.0], [0.5]])
    null = np.array([[[0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0]]])  # mean 1, sd 1
    table = calibration_table(groups, np.array([10, 20]), ["A.response"], observed, null, samples)
    first, second = table.iloc[0], table.iloc[1]
    assert (first["null_mean"], first["null_sd"], first["null_z"]) == (1.0, 1.0, 2.0)
    assert first["null_p_upper"] == 1 / 4 and first["null_p_lower"] == 1.0
    assert second["null_z"] == -0.5 and second["null_p_upper"] == 3 / 4
    assert (second["axis"], second["module"], second["disease"]) == ("A", "response", "control")


def test_calibration_counts_last_bit_differences_as_ties():
    from neurokine.scoring.aggregate import calibration_table

    groups = pd.DataFrame({"sample_id": ["s1"], "cell_type": ["T"]})
    samples = pd.DataFrame({"sample_id": ["s1"], "disease": ["MS"]})
    observed = np.array([[-0.3]])
    # Two nulls equal to the observed mean up to summation-order rounding, one clearly below.
    null = np.array([[[np.nextafter(-0.3, 0.0), np.nextafter(-0.3, -1.0), -0.9]]])
    row = calibration_table(groups, np.array([3]), ["A.ligand"], observed, null, samples).iloc[0]
    assert row["null_p_upper"] == 3 / 4  # both near-equal nulls count as at least as large
    assert row["null_p_lower"] == 1.0  # ...and as at most as large
