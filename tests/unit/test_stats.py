"""Donor-level statistics agree with scipy/statsmodels and hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from neurokine.seeds import sub_seed
from neurokine.stats import models


def test_bh_matches_hand_computed_reference():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted: .005 .01 .03 .04 -> *4/rank: .02 .02 .04 .04 (already monotone)
    np.testing.assert_allclose(models.bh_fdr(p)[:4], [0.02, 0.04, 0.04, 0.02])
    assert np.isnan(models.bh_fdr(p)[4])


def test_bh_matches_statsmodels():
    p = np.random.default_rng(1).uniform(size=200) ** 3
    np.testing.assert_allclose(models.bh_fdr(p), multipletests(p, method="fdr_bh")[1])


def unmoderated(design: np.ndarray, response: np.ndarray, coef: int) -> dict[str, np.ndarray]:
    """The compare stage's model without a prior: estimate, SE, t, df and p of one coefficient."""
    fit = models.fit_linear(design, response)
    test = models.moderated_t(fit.beta[coef], fit.unscaled[coef, coef], fit.sigma2, fit.df,
                              models.Prior.none())
    return {**test, "estimate": fit.beta[coef]}


def hedges_g(case: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Textbook bias-corrected standardized mean difference (Hedges & Olkin 1985), per column."""
    n1, n0 = case.shape[0], reference.shape[0]
    pooled = ((n1 - 1) * case.var(axis=0, ddof=1) + (n0 - 1) * reference.var(axis=0, ddof=1)) / (n1 + n0 - 2)
    return (case.mean(axis=0) - reference.mean(axis=0)) / np.sqrt(pooled) * (1 - 3 / (4 * (n1 + n0) - 9))


def test_model_without_covariates_is_students_t_test():
    rng = np.random.default_rng(2)
    case, ref = rng.normal(1, 1, (6, 3)), rng.normal(0, 1, (5, 3))
    design = np.column_stack([np.ones(11), np.r_[np.ones(6), np.zeros(5)]])
    fit = unmoderated(design, np.vstack([case, ref]), coef=1)
    expected = sps.ttest_ind(case, ref, axis=0)
    np.testing.assert_allclose(fit["t"], expected.statistic)
    np.testing.assert_allclose(fit["p"], expected.pvalue)
    np.testing.assert_allclose(fit["estimate"], case.mean(0) - ref.mean(0))


def test_model_with_covariate_matches_statsmodels():
    rng = np.random.default_rng(3)
    n = 14
    design = np.column_stack([np.ones(n), np.r_[np.ones(7), np.zeros(7)], rng.normal(size=n)])
    y = design @ np.array([0.2, 0.7, 0.4]) + rng.normal(scale=0.5, size=n)
    fit = unmoderated(design, y[:, None], coef=1)
    reference = sm.OLS(y, design).fit()
    assert fit["estimate"][0] == pytest.approx(reference.params[1])
    assert fit["se"][0] == pytest.approx(reference.bse[1])
    assert fit["p"][0] == pytest.approx(reference.pvalues[1])
    low, high = models.t_interval(fit["estimate"], fit["se"], int(fit["df"][0]))
    np.testing.assert_allclose([low[0], high[0]], reference.conf_int()[1])


def test_rank_deficient_design_raises():
    design = np.column_stack([np.ones(6), np.r_[np.ones(3), np.zeros(3)], np.r_[np.ones(3), np.zeros(3)]])
    with pytest.raises(np.linalg.LinAlgError):
        models.fit_linear(design, np.ones((6, 1)))


def test_hedges_g_hand_computed():
    case, ref = np.array([[2.0], [4.0], [6.0]]), np.array([[1.0], [2.0], [3.0]])
    pooled_sd = np.sqrt((2 * 4.0 + 2 * 1.0) / 4)
    expected = (4.0 - 2.0) / pooled_sd * (1 - 3 / (4 * 6 - 9))
    assert hedges_g(case, ref)[0] == pytest.approx(expected)


def test_stable_seed_is_reproducible_and_key_dependent():
    assert sub_seed(1, "MS", "CSF") == sub_seed(1, "MS", "CSF")
    assert sub_seed(1, "MS", "CSF") != sub_seed(1, "NMOSD", "CSF")


# --- empirical Bayes moderation (limma's squeezeVar, Smyth 2004) -------------------------------


def test_squeeze_var_matches_published_limma_values():
    # R limma::squeezeVar(c(0.5, 1.3, 7.8), df=3), as recorded in the inmoose project's test
    # suite (a Python port of limma checked against R): df.prior 2.830777, var.prior 1.676927.
    out = models.squeeze_var(np.array([0.5, 1.3, 7.8]), 3)
    assert out["df_prior"] == pytest.approx(2.830777, abs=1e-6)
    assert out["var_prior"] == pytest.approx(1.676927, abs=1e-6)
    np.testing.assert_allclose(out["var_post"], [1.071385, 1.482994, 4.827317], atol=1e-6)


def test_fit_f_dist_hand_computed_moments():
    # By hand: e = log s2 - digamma(d/2) + log(d/2); the excess variance of e over
    # trigamma(d/2) is trigamma(d0/2), and s0^2 = exp(mean(e) + digamma(d0/2) - log(d0/2)).
    from scipy import optimize, special

    s2, d = np.array([0.2, 0.5, 0.9, 3.0, 0.05]), 4.0
    e = np.log(s2) - special.digamma(d / 2) + np.log(d / 2)
    excess = e.var(ddof=1) - special.polygamma(1, d / 2)
    half_d0 = optimize.brentq(lambda y: special.polygamma(1, y) - excess, 1e-6, 1e6)
    s0 = np.exp(e.mean() + special.digamma(half_d0) - np.log(half_d0))
    prior = models.fit_f_dist(s2, d)
    assert prior.df == pytest.approx(2 * half_d0, rel=1e-9)
    assert prior.var == pytest.approx(s0, rel=1e-9)


def test_fit_f_dist_recovers_simulated_prior():
    rng = np.random.default_rng(11)
    d, d0, s0 = 6, 12.0, 0.3
    s2 = s0 * rng.f(d, d0, size=20000)  # s2 | sigma2 ~ sigma2 chi2_d/d with sigma2 ~ s0 d0/chi2_d0
    prior = models.fit_f_dist(s2, d)
    assert prior.df == pytest.approx(d0, rel=0.15)
    assert prior.var == pytest.approx(s0, rel=0.03)


def test_equal_variances_give_infinite_prior_df_and_no_prior_for_few():
    prior = models.fit_f_dist(np.full(10, 0.4), 5)
    assert prior.df == np.inf and prior.var == pytest.approx(0.4)
    assert models.fit_f_dist(np.array([0.4, 0.5]), 5).df == 0  # fewer than 3 usable: no moderation
    np.testing.assert_allclose(models.posterior_var(np.array([1.0, 2.0]), 3, models.Prior(0.5, np.inf)), 0.5)


def test_trigamma_inverse_round_trips():
    from scipy import special

    for x in (1e-6, 0.01, 1.0, 50.0, 1e5):
        assert special.polygamma(1, models.trigamma_inverse(x)) == pytest.approx(x, rel=1e-10)
    with pytest.raises(ValueError):
        models.trigamma_inverse(0.0)


def test_moderated_t_without_prior_is_students_t():
    rng = np.random.default_rng(5)
    case, ref = rng.normal(0.5, 1, (5, 4)), rng.normal(0, 1, (5, 4))
    design = np.column_stack([np.ones(10), np.r_[np.ones(5), np.zeros(5)]])
    fit = models.fit_linear(design, np.vstack([case, ref]))
    mod = models.moderated_t(fit.beta[1], fit.unscaled[1, 1], fit.sigma2, fit.df, models.Prior.none())
    expected = sps.ttest_ind(case, ref, axis=0)
    np.testing.assert_allclose(mod["t"], expected.statistic)
    np.testing.assert_allclose(mod["p"], expected.pvalue)


def test_moderated_t_uses_posterior_variance_and_summed_df():
    prior = models.Prior(var=0.5, df=4.0)
    mod = models.moderated_t(np.array([1.0]), 0.4, np.array([2.0]), 8, prior)
    s2_post = (4 * 0.5 + 8 * 2.0) / 12
    assert mod["se"][0] == pytest.approx(np.sqrt(0.4 * s2_post))
    assert mod["df"][0] == 12
    assert mod["p"][0] == pytest.approx(2 * sps.t.sf(1.0 / np.sqrt(0.4 * s2_post), 12))
    capped = models.moderated_t(np.array([1.0]), 0.4, np.array([2.0]), 8, models.Prior(0.5, np.inf),
                                df_cap=40)
    assert capped["df"][0] == 40


# --- exact permutation p-values ----------------------------------------------------------------


def two_groups(case, ref):
    y = np.r_[case, ref].astype(float)[:, None]
    labels = np.r_[np.ones(len(case), bool), np.zeros(len(ref), bool)]
    design = np.column_stack([np.ones(len(y)), labels.astype(float)])
    return design, y, labels


def test_exact_permutation_hand_checkable_extreme_split():
    # case 3,4,5 vs reference 0,1,2: of the C(6,3) = 20 labellings only this one and its mirror
    # image reach |mean difference| = 3, so p = 2/20.
    design, y, labels = two_groups([3, 4, 5], [0, 1, 2])
    perm = models.permutation_test(design, y, 1, labels, max_labellings=1000, seed=0)
    assert perm.method == "exact" and perm.n_labellings == 20
    assert perm.p[0] == pytest.approx(2 / 20)
    assert perm.floor == pytest.approx(2 / 20)


def test_exact_permutation_hand_count_with_middle_split():
    # case 1,2,6 vs reference 3,4,5: case sum S = 9, |mean difference| = |2S - 21| / 3 = 1.
    # A split is as extreme when S <= 9 or S >= 12. The 20 three-element subsets of 1..6 have
    # sums 6:1, 7:1, 8:2, 9:3, 10:3, 11:3, 12:3, 13:2, 14:1, 15:1, so 7 + 7 = 14 of 20 qualify.
    design, y, labels = two_groups([1, 2, 6], [3, 4, 5])
    perm = models.permutation_test(design, y, 1, labels, max_labellings=1000, seed=0)
    assert perm.p[0] == pytest.approx(14 / 20)


def test_exact_permutation_agrees_with_scipy():
    rng = np.random.default_rng(8)
    case, ref = rng.normal(1, 1, 5), rng.normal(0, 1, 6)
    design, y, labels = two_groups(case, ref)
    ours = models.permutation_test(design, y, 1, labels, max_labellings=10_000, seed=0)
    theirs = sps.permutation_test((case, ref), lambda a, b: abs(a.mean() - b.mean()),
                                  permutation_type="independent", n_resamples=np.inf,
                                  alternative="greater")
    assert ours.p[0] == pytest.approx(theirs.pvalue)
    assert ours.floor == pytest.approx(1 / 462)  # unbalanced: C(11, 5) = 462, no mirror image


def test_permutation_floor_five_versus_five_is_two_in_252():
    design, y, labels = two_groups(np.arange(5) + 10.0, np.arange(5))
    perm = models.permutation_test(design, y, 1, labels, max_labellings=1000, seed=0)
    assert perm.n_labellings == 252 and perm.floor == pytest.approx(2 / 252)
    assert perm.p[0] == pytest.approx(2 / 252)


def test_monte_carlo_permutation_when_enumeration_is_too_large():
    rng = np.random.default_rng(2)
    design, y, labels = two_groups(rng.normal(size=8), rng.normal(size=8))
    perm = models.permutation_test(design, y, 1, labels, max_labellings=500, seed=3)
    assert perm.method == "monte_carlo" and perm.n_labellings == 500
    assert perm.floor == pytest.approx(1 / 501) and perm.floor <= perm.p[0] <= 1
    again = models.permutation_test(design, y, 1, labels, max_labellings=500, seed=3)
    assert again.p[0] == perm.p[0]


def test_permutation_with_covariate_keeps_observed_labelling_in_the_count():
    rng = np.random.default_rng(4)
    labels = np.r_[np.ones(4, bool), np.zeros(4, bool)]
    age = rng.normal(size=8)
    design = np.column_stack([np.ones(8), labels.astype(float), age])
    y = (2.0 * labels + age + rng.normal(scale=0.1, size=8))[:, None]
    perm = models.permutation_test(design, y, 1, labels, max_labellings=1000, seed=0)
    assert perm.floor == pytest.approx(2 / 70) and perm.p[0] <= 4 / 70


def test_sign_flip_test_agrees_with_scipy_paired():
    diffs = np.array([1.2, 0.4, -0.3, 0.9, 1.5, 0.2])
    ours = models.sign_flip_test(diffs[:, None], max_labellings=1000, seed=0)
    theirs = sps.permutation_test((diffs,), lambda d: abs(d.mean()), permutation_type="samples",
                                  n_resamples=np.inf, alternative="greater")
    assert ours.p[0] == pytest.approx(theirs.pvalue)
    assert ours.floor == pytest.approx(2 / 64)
    two = models.sign_flip_test(np.array([[2.0], [2.1]]), max_labellings=1000, seed=0)
    assert two.p[0] == pytest.approx(0.5) and two.floor == pytest.approx(0.5)


# --- bootstrap and meta-analysis ---------------------------------------------------------------


def test_bootstrap_t_is_seeded_brackets_the_estimate_and_needs_three_donors():
    rng = np.random.default_rng(6)
    groups = np.r_[np.ones(5), np.zeros(5)].astype(int)
    design = np.column_stack([np.ones(10), groups.astype(float)])
    y = (groups * 1.0 + rng.normal(scale=0.3, size=(10, 3)).T).T
    first = models.bootstrap_t_interval(design, y, 1, groups, models.Prior.none(), 400, seed=2)
    second = models.bootstrap_t_interval(design, y, 1, groups, models.Prior.none(), 400, seed=2)
    np.testing.assert_array_equal(first[0], second[0])
    estimate = y[groups == 1].mean(0) - y[groups == 0].mean(0)
    assert np.all(first[0] < estimate) and np.all(estimate < first[1])
    small = np.r_[1, 1, 0, 0, 0]
    low, high = models.bootstrap_t_interval(np.column_stack([np.ones(5), small]), y[:5], 1, small,
                                           models.Prior.none(), 100, seed=1)
    assert np.isnan(low).all() and np.isnan(high).all()


def test_column_nanquantile_matches_numpy():
    values = np.random.default_rng(3).normal(size=(300, 4))
    values[[5, 9], 1] = np.nan
    for q in (0.025, 0.5, 0.975):
        np.testing.assert_allclose(models.column_nanquantile(values, q), np.nanquantile(values, q, axis=0))


def test_standardized_effect_equals_hedges_g_for_two_groups():
    rng = np.random.default_rng(7)
    case, ref = rng.normal(1, 1, (6, 2)), rng.normal(0, 1, (4, 2))
    design = np.column_stack([np.ones(10), np.r_[np.ones(6), np.zeros(4)]])
    fit = models.fit_linear(design, np.vstack([case, ref]))
    np.testing.assert_allclose(models.standardized_effect(fit.beta[1], fit.sigma2, fit.df),
                               hedges_g(case, ref))


@pytest.mark.parametrize("df", [0, 1])
def test_standardized_effect_is_nan_never_zero_below_two_df(df):
    # At df = 1 the small-sample factor 1 - 3/(4 df - 1) is exactly 0: g would read "no effect".
    g = models.standardized_effect(np.array([2.5, -1.0]), np.array([0.3, 0.2]), df)
    assert np.isnan(g).all()
    assert np.isfinite(models.standardized_effect(np.array([2.5]), np.array([0.3]), 2)).all()


def test_dersimonian_laird_matches_statsmodels_and_hand_i2():
    from statsmodels.stats.meta_analysis import combine_effects

    y, v = np.array([0.3, 0.8, -0.1, 0.5]), np.array([0.04, 0.09, 0.05, 0.02])
    ours = models.dersimonian_laird(y, v)
    theirs = combine_effects(y, v, method_re="dl")
    assert ours["estimate"] == pytest.approx(theirs.mean_effect_re)
    assert ours["se"] == pytest.approx(theirs.sd_eff_w_re)
    assert ours["tau2"] == pytest.approx(theirs.tau2)
    w = 1 / v
    q = (w * (y - (w * y).sum() / w.sum()) ** 2).sum()
    assert ours["q"] == pytest.approx(q)
    assert ours["i2"] == pytest.approx((q - 3) / q)


def test_dersimonian_laird_single_study_is_that_study():
    out = models.dersimonian_laird(np.array([0.7]), np.array([0.09]))
    assert out["estimate"] == pytest.approx(0.7) and out["se"] == pytest.approx(0.3)
    assert out["tau2"] == 0 and np.isnan(out["i2"])
