"""Donor-level statistics agree with scipy/statsmodels and hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from neurokine import stats


def test_bh_matches_hand_computed_reference():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted: .005 .01 .03 .04 -> *4/rank: .02 .02 .04 .04 (already monotone)
    np.testing.assert_allclose(stats.bh_fdr(p)[:4], [0.02, 0.04, 0.04, 0.02])
    assert np.isnan(stats.bh_fdr(p)[4])


def test_bh_matches_statsmodels():
    p = np.random.default_rng(1).uniform(size=200) ** 3
    np.testing.assert_allclose(stats.bh_fdr(p), multipletests(p, method="fdr_bh")[1])


def test_ols_without_covariates_is_students_t_test():
    rng = np.random.default_rng(2)
    case, ref = rng.normal(1, 1, (6, 3)), rng.normal(0, 1, (5, 3))
    design = np.column_stack([np.ones(11), np.r_[np.ones(6), np.zeros(5)]])
    fit = stats.ols(design, np.vstack([case, ref]), coef=1)
    expected = sps.ttest_ind(case, ref, axis=0)
    np.testing.assert_allclose(fit["t"], expected.statistic)
    np.testing.assert_allclose(fit["p"], expected.pvalue)
    np.testing.assert_allclose(fit["estimate"], case.mean(0) - ref.mean(0))


def test_ols_with_covariate_matches_statsmodels():
    rng = np.random.default_rng(3)
    n = 14
    design = np.column_stack([np.ones(n), np.r_[np.ones(7), np.zeros(7)], rng.normal(size=n)])
    y = design @ np.array([0.2, 0.7, 0.4]) + rng.normal(scale=0.5, size=n)
    fit = stats.ols(design, y[:, None], coef=1)
    reference = sm.OLS(y, design).fit()
    assert fit["estimate"][0] == pytest.approx(reference.params[1])
    assert fit["se"][0] == pytest.approx(reference.bse[1])
    assert fit["p"][0] == pytest.approx(reference.pvalues[1])
    low, high = stats.t_interval(fit["estimate"], fit["se"], int(fit["df"][0]))
    np.testing.assert_allclose([low[0], high[0]], reference.conf_int()[1])


def test_rank_deficient_design_raises():
    design = np.column_stack([np.ones(6), np.r_[np.ones(3), np.zeros(3)], np.r_[np.ones(3), np.zeros(3)]])
    with pytest.raises(np.linalg.LinAlgError):
        stats.ols(design, np.ones((6, 1)), coef=1)


def test_hedges_g_hand_computed():
    case, ref = np.array([[2.0], [4.0], [6.0]]), np.array([[1.0], [2.0], [3.0]])
    pooled_sd = np.sqrt((2 * 4.0 + 2 * 1.0) / 4)
    expected = (4.0 - 2.0) / pooled_sd * (1 - 3 / (4 * 6 - 9))
    assert stats.hedges_g(case, ref)[0] == pytest.approx(expected)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(4)
    groups = np.r_[np.ones(6, bool), np.zeros(6, bool)]
    design = np.column_stack([np.ones(12), groups.astype(float)])
    y = (groups * 1.0 + rng.normal(scale=0.3, size=12))[:, None]
    first = stats.bootstrap_interval(design, y, 1, groups, 500, seed=9)
    second = stats.bootstrap_interval(design, y, 1, groups, 500, seed=9)
    assert first == second
    estimate = y[groups].mean() - y[~groups].mean()
    assert first[0][0] < estimate < first[1][0]


def test_stable_seed_is_reproducible_and_key_dependent():
    assert stats.stable_seed(1, "MS", "CSF") == stats.stable_seed(1, "MS", "CSF")
    assert stats.stable_seed(1, "MS", "CSF") != stats.stable_seed(1, "NMOSD", "CSF")
