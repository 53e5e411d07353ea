"""Donor-level statistics: linear models with empirical-Bayes moderated variances, exact
permutation p-values, bootstrap-t intervals over donors, effect sizes, BH-FDR and
DerSimonian-Laird random-effects meta-analysis.

Every function works on donor-level values (one row per donor, or per donor pair), never on
cells. The variance moderation follows Smyth 2004 (Stat Appl Genet Mol Biol 3:3, the method of
limma's squeezeVar/eBayes), written here from the published equations with scipy.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special, stats

#: The two-sided 95% normal quantile, used by every z interval (forest plot included).
Z_975 = 1.959963984540054


def bh_fdr(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaN entries stay NaN and are not counted."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="mergesort")]
    ranked = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return out


#: Why there is no standardized effect below MIN_EFFECT_DF residual degrees of freedom.
NO_STANDARDIZED_EFFECT = (
    "hedges_g is not defined with {df} residual degree(s) of freedom (the small-sample factor "
    "1 - 3/(4 df - 1) is {factor:.3g}, so g would read 0 or flip sign whatever the data): read "
    "`effect`, the raw score difference")
#: Fewest residual degrees of freedom for which Hedges' g is reported.
MIN_EFFECT_DF = 2


def standardized_effect(estimate: np.ndarray, sigma2: np.ndarray, df: int) -> np.ndarray:
    """Hedges' g from a model: coefficient over the residual SD, small-sample corrected.

    For a two-group design without covariates this equals `hedges_g`; for a paired design it is
    the bias-corrected d_z (mean difference over the SD of the differences). Below
    MIN_EFFECT_DF residual df it is NaN, never 0 (NO_STANDARDIZED_EFFECT says why): at df = 1
    the correction factor is exactly 0, so every effect, however large, would read as none.
    """
    estimate = np.asarray(estimate, dtype=float)
    if df < MIN_EFFECT_DF:
        return np.full(estimate.shape, np.nan)
    correction = 1.0 - 3.0 / (4.0 * df - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = estimate / np.sqrt(sigma2) * correction
    return np.where(sigma2 > 0, g, np.nan)


def hedges_g_se(g: np.ndarray, n_case: int, n_reference: int, paired: bool) -> np.ndarray:
    """Large-sample standard error of Hedges' g (Hedges & Olkin 1985), as meta-analyses use it."""
    if paired:
        return np.sqrt(1.0 / n_case + g**2 / (2.0 * n_case))
    n = n_case + n_reference
    return np.sqrt(n / (n_case * n_reference) + g**2 / (2.0 * n))


# --------------------------------------------------------------------------------------------
# Linear models for many responses that share one design
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LinearFit:
    """Least-squares fit of every column of Y on one design matrix."""

    beta: np.ndarray        # coefficients x responses
    sigma2: np.ndarray      # residual variance per response
    df: int                 # residual degrees of freedom
    unscaled: np.ndarray    # (X'X)^-1, so var(beta_j) = sigma2 * unscaled[j, j]


def fit_linear(design: np.ndarray, response: np.ndarray) -> LinearFit:
    """OLS for all response columns at once; raise LinAlgError when the design is rank deficient."""
    n, p = design.shape
    if np.linalg.matrix_rank(design) < p:
        raise np.linalg.LinAlgError("design matrix is rank deficient")
    unscaled = np.linalg.inv(design.T @ design)
    beta = unscaled @ design.T @ response
    residuals = response - design @ beta
    df = n - p
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = (residuals**2).sum(axis=0) / df if df > 0 else np.full(response.shape[1], np.nan)
    return LinearFit(beta=beta, sigma2=sigma2, df=df, unscaled=unscaled)


def t_interval(
    estimate: np.ndarray, se: np.ndarray, df: float | np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided t confidence interval (df may be infinite: normal quantile)."""
    half = stats.t.ppf(0.5 + level / 2.0, df) * se
    return estimate - half, estimate + half


# --------------------------------------------------------------------------------------------
# Empirical Bayes moderation of variances (Smyth 2004)
# --------------------------------------------------------------------------------------------


def trigamma_inverse(x: float) -> float:
    """Solve trigamma(y) = x for y > 0 (trigamma falls monotonically from +inf to 0)."""
    if not x > 0:
        raise ValueError("trigamma_inverse needs a positive argument")
    # trigamma(y) > 1/y^2 everywhere and < 2/y for y >= 1, so the root lies between
    # 0.5/sqrt(x) and 2/x + 10; Brent's method on the log scale is then safe and exact.
    low, high = 0.5 / math.sqrt(x), 2.0 / x + 10.0
    return optimize.brentq(lambda y: math.log(special.polygamma(1, y)) - math.log(x), low, high,
                           xtol=1e-14, rtol=1e-14, maxiter=500)


@dataclasses.dataclass(frozen=True)
class Prior:
    """Scaled inverse-chi-square prior of the residual variances: s0^2 and its df d0."""

    var: float
    df: float

    @staticmethod
    def none() -> Prior:
        """No moderation: posterior variances equal the residual variances."""
        return Prior(var=float("nan"), df=0.0)

    def limited(self, residual_df: float) -> Prior:
        """The prior weighing at most PRIOR_DF_SHARE of a test's own residual df (see there)."""
        return Prior(var=self.var, df=min(self.df, PRIOR_DF_SHARE * float(residual_df)))


#: Most a variance prior may weigh, as a share of the test's own residual df. limma lets the
#: prior weigh d0 (up to the family's pooled df) because genes are close to independent; here a
#: family's features are cell types x signatures measured on the same donors, whose residuals
#: share those donors' random effects, so the prior holds far less independent information than
#: d0 claims. On 24 simulated cohorts (benchmarks/fdr_variants.py) the unlimited prior (d0 often
#: infinite) gave null p < 1e-4 six times as often as it should; at half the residual df the null
#: p-values are calibrated (p < 0.05: 0.051, p < 1e-3: 0.0010, p < 1e-4: 0.00015).
PRIOR_DF_SHARE = 0.5


def fit_f_dist(variances: np.ndarray, df: np.ndarray | float) -> Prior:
    """Moment estimates of s0^2 and d0 from residual variances s^2 ~ s0^2 F(d, d0).

    Uses the mean and variance of log(s^2) (Smyth 2004, section 6). Non-positive or
    non-finite variances carry no scale information and are left out; with fewer than three
    usable variances no prior is estimated.
    """
    var = np.asarray(variances, dtype=np.float64)
    d = np.broadcast_to(np.asarray(df, dtype=np.float64), var.shape)
    usable = np.isfinite(var) & (var > 0) & np.isfinite(d) & (d > 0)
    if usable.sum() < 3:
        return Prior.none()
    var, d = var[usable], d[usable]
    e = np.log(var) - special.digamma(d / 2.0) + np.log(d / 2.0)
    e_mean = e.mean()
    e_var = ((e - e_mean) ** 2).sum() / (e.size - 1) - special.polygamma(1, d / 2.0).mean()
    if e_var > 0:
        d0 = 2.0 * trigamma_inverse(float(e_var))
        s0 = math.exp(e_mean + special.digamma(d0 / 2.0) - math.log(d0 / 2.0))
        return Prior(var=s0, df=d0)
    # No excess spread: the variances look like draws around one common value, whose maximum
    # likelihood estimate is the pooled (df-weighted) variance.
    return Prior(var=float((d * var).sum() / d.sum()), df=math.inf)


def posterior_var(variances: np.ndarray, df: np.ndarray | float,
                  prior: Prior | Sequence[Prior]) -> np.ndarray:
    """Posterior (moderated) variances: (d0 s0^2 + d s^2) / (d0 + d).

    `prior` is one Prior, or one per column of `variances` (the last axis).
    """
    var = np.asarray(variances, dtype=np.float64)
    priors = [prior] if isinstance(prior, Prior) else list(prior)
    d0 = np.array([p.df for p in priors])
    s0 = np.array([p.var for p in priors])
    d = np.asarray(df, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        mixed = (np.where(np.isinf(d0), 0.0, d0) * np.nan_to_num(s0) + d * var) / (
            np.where(np.isinf(d0), 0.0, d0) + d)
    out = np.where(d0 == 0, var, mixed)
    return np.where(np.isinf(d0), np.broadcast_to(s0, out.shape), out)


def squeeze_var(variances: np.ndarray, df: np.ndarray | float) -> dict[str, object]:
    """Empirical Bayes squeezing of variances toward a common prior (limma's squeezeVar)."""
    prior = fit_f_dist(variances, df)
    return {"var_post": posterior_var(variances, df, prior), "var_prior": prior.var,
            "df_prior": prior.df}


def moderated_t(estimate: np.ndarray, unscaled: float, sigma2: np.ndarray, df: int, prior: Prior,
                df_cap: float = math.inf) -> dict[str, np.ndarray]:
    """Moderated t statistic, its df (capped at the family's pooled df, as limma does) and p."""
    s2_post = posterior_var(sigma2, df, prior)
    se = np.sqrt(s2_post * unscaled)
    df_total = min(df + prior.df, df_cap)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = estimate / se
    p = 2.0 * stats.t.sf(np.abs(t), df_total)
    ok = se > 0
    return {"se": np.where(ok, se, np.nan), "t": np.where(ok, t, np.nan),
            "df": np.full(np.shape(estimate), df_total), "p": np.where(ok, p, np.nan)}


# --------------------------------------------------------------------------------------------
# Exact permutation p-values over donor labellings
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Permutation:
    """Permutation p-values with how they were obtained and the smallest value possible."""

    p: np.ndarray
    floor: float
    method: str
    n_labellings: int


def _abs_t_for_labellings(labels: np.ndarray, covariates: np.ndarray, response: np.ndarray) -> np.ndarray:
    """|t| of the label coefficient for every labelling (rows), by Frisch-Waugh-Lovell."""
    n, q = covariates.shape
    projector = np.eye(n) - covariates @ np.linalg.pinv(covariates)
    y_res = projector @ response                         # n x m
    x_res = labels @ projector                           # L x n (projector is symmetric)
    sxx = (x_res**2).sum(axis=1)                         # L
    sxy = x_res @ y_res                                  # L x m
    syy = (y_res**2).sum(axis=0)                         # m
    df = n - q - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = sxy / sxx[:, None]
        rss = np.maximum(syy[None, :] - beta * sxy, 0.0)
        t = np.abs(beta) / np.sqrt(rss / df / sxx[:, None])
    # A labelling collinear with the covariates carries no information about the label effect;
    # with zero residual variance the statistic is infinite, which ranks it as most extreme.
    t[sxx <= 1e-12 * n] = 0.0
    return np.where(np.isnan(t), 0.0, t)


def permutation_test(design: np.ndarray, response: np.ndarray, coef: int, is_case: np.ndarray,
                     max_labellings: int, seed: int) -> Permutation:
    """Two-sided permutation p-value of one design column by relabelling donors.

    All C(n, n_case) labellings are enumerated when there are at most `max_labellings`
    (exact test); otherwise that many random labellings are drawn (Monte Carlo). The statistic
    is |t| of the label coefficient with the other design columns fixed, which without
    covariates ranks labellings exactly as |difference of means| does.
    """
    n = design.shape[0]
    n_case = int(is_case.sum())
    others = np.delete(design, coef, axis=1)
    observed = _abs_t_for_labellings(is_case[None, :].astype(float), others, response)[0]
    total = math.comb(n, n_case)
    if total <= max_labellings:
        labels = np.zeros((total, n))
        for row, chosen in enumerate(itertools.combinations(range(n), n_case)):
            labels[row, list(chosen)] = 1.0
        method, count_extra = "exact", 0
        floor = (2.0 if 2 * n_case == n else 1.0) / total
    else:
        rng = np.random.default_rng(seed)
        labels = np.array([rng.permutation(is_case) for _ in range(max_labellings)], dtype=float)
        method, count_extra = "monte_carlo", 1
        floor = 1.0 / (max_labellings + 1)
    null = _abs_t_for_labellings(labels, others, response)
    extreme = (null >= observed[None, :] * (1.0 - 1e-9) - 1e-12).sum(axis=0)
    p = (extreme + count_extra) / (labels.shape[0] + count_extra)
    return Permutation(p=p, floor=floor, method=method, n_labellings=int(labels.shape[0]))


def sign_flip_test(differences: np.ndarray, max_labellings: int, seed: int) -> Permutation:
    """Two-sided paired permutation p-value: flip the sign of each donor's difference.

    Enumerates all 2^n sign patterns when there are at most `max_labellings` (exact).
    """
    n = differences.shape[0]
    total = 2**n
    if total <= max_labellings:
        signs = 1.0 - 2.0 * ((np.arange(total)[:, None] >> np.arange(n)[None, :]) & 1)
        method, count_extra, floor = "exact", 0, 2.0 / total
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice([-1.0, 1.0], size=(max_labellings, n))
        method, count_extra, floor = "monte_carlo", 1, 1.0 / (max_labellings + 1)
    sum_sq = (differences**2).sum(axis=0)

    def abs_t(s: np.ndarray) -> np.ndarray:
        mean = s @ differences / n
        var = np.maximum(sum_sq - n * mean**2, 0.0) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.abs(mean) / np.sqrt(var / n)
        return np.where(np.isnan(t), 0.0, t)

    observed = abs_t(np.ones((1, n)))[0]
    null = abs_t(signs)
    extreme = (null >= observed[None, :] * (1.0 - 1e-9) - 1e-12).sum(axis=0)
    p = (extreme + count_extra) / (signs.shape[0] + count_extra)
    return Permutation(p=p, floor=floor, method=method, n_labellings=int(signs.shape[0]))


# --------------------------------------------------------------------------------------------
# Bootstrap over donors
# --------------------------------------------------------------------------------------------


#: Fewest donors per resampling stratum for which a bootstrap interval is computed.
MIN_BOOTSTRAP_DONORS = 3


def column_nanquantile(values: np.ndarray, q: float) -> np.ndarray:
    """Per-column quantile ignoring NaN (linear interpolation, as numpy's default), vectorized."""
    ordered = np.sort(values, axis=0)                    # NaN sort last
    n_valid = np.isfinite(ordered).sum(axis=0)
    position = q * np.maximum(n_valid - 1, 0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, np.maximum(n_valid - 1, 0))
    fraction = position - low
    take = np.take_along_axis
    result = (take(ordered, low[None, :], axis=0)[0] * (1 - fraction)
              + take(ordered, high[None, :], axis=0)[0] * fraction)
    return np.where(n_valid > 0, result, np.nan)


def _resample_indices(strata: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Donor indices drawn with replacement within each stratum (arm): n_boot x n."""
    idx = np.empty((n_boot, strata.size), dtype=np.int64)
    for level in np.unique(strata):
        members = np.flatnonzero(strata == level)
        idx[:, members] = rng.choice(members, size=(n_boot, members.size), replace=True)
    return idx


#: Resampled values held in memory at once by the bootstrap (float64 numbers, ~80 MB).
BOOTSTRAP_BLOCK = 10_000_000


def _batched_fits(design: np.ndarray, response: np.ndarray, idx: np.ndarray, coef: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coefficient, residual variance and (X'X)^-1[coef, coef] for every resample, in blocks."""
    block = max(1, BOOTSTRAP_BLOCK // max(1, idx.shape[1] * response.shape[1]))
    if idx.shape[0] > block:
        parts = [_batched_fits(design, response, idx[i:i + block], coef)
                 for i in range(0, idx.shape[0], block)]
        return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]
    X = design[idx]                                      # B x n x p
    Y = response[idx]                                    # B x n x m
    n, p = design.shape
    full_rank = np.linalg.matrix_rank(X) == p
    xtx = np.einsum("bni,bnj->bij", X, X)
    xtx[~full_rank] = np.eye(p)                          # placeholder; these resamples are dropped
    inv = np.linalg.inv(xtx)
    beta = inv @ np.einsum("bni,bnm->bim", X, Y)         # B x p x m
    resid = Y - X @ beta
    sigma2 = (resid**2).sum(axis=1) / (n - p)            # B x m
    return beta[:, coef, :], sigma2, inv[:, coef, coef], full_rank


def bootstrap_t_interval(design: np.ndarray, response: np.ndarray, coef: int, strata: np.ndarray,
                         prior: Prior | Sequence[Prior], n_boot: int, seed: int, level: float = 0.95
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Studentized (bootstrap-t) interval, resampling donors with replacement within each arm.

    Each resample's statistic is (b* - b) / se*, with se* from the resample's own residual
    variance (moderated by `prior` if one is given; the compare stage passes none, so the
    interval does not lean on the empirical-Bayes prior and stays a model-free check). The
    interval is [b - q(0.975) se, b - q(0.025) se]. A plain percentile interval under-covers
    with 5 donors per arm (the resampled spread is too narrow by about sqrt((n-1)/n) and has no
    t tails): in benchmarks/calibration.py it covered about 0.87-0.90, the bootstrap-t about
    0.95. Resamples whose design is rank deficient or whose se* is zero are discarded; with
    fewer than half usable the interval is NaN.
    """
    n, p = design.shape
    m = response.shape[1]
    smallest = min(int((strata == level).sum()) for level in np.unique(strata))
    # With fewer than 3 donors in an arm the resamples take only a handful of distinct values,
    # so no interval from them means anything.
    if n - p < 1 or smallest < MIN_BOOTSTRAP_DONORS:
        return np.full(m, np.nan), np.full(m, np.nan)
    fit = fit_linear(design, response)
    estimate = fit.beta[coef]
    se = np.sqrt(posterior_var(fit.sigma2, fit.df, prior) * fit.unscaled[coef, coef])
    rng = np.random.default_rng(seed)
    idx = _resample_indices(strata, n_boot, rng)
    b_est, b_s2, b_c, ok = _batched_fits(design, response, idx, coef)
    b_se = np.sqrt(posterior_var(b_s2, n - p, prior) * b_c[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = (b_est - estimate[None, :]) / b_se
    t_star[~ok] = np.nan
    t_star[~np.isfinite(t_star)] = np.nan
    enough = np.isfinite(t_star).sum(axis=0) >= n_boot / 2
    alpha = (1.0 - level) / 2.0
    upper_q = column_nanquantile(t_star, 1.0 - alpha)
    lower_q = column_nanquantile(t_star, alpha)
    low = np.where(enough & (se > 0), estimate - upper_q * se, np.nan)
    high = np.where(enough & (se > 0), estimate - lower_q * se, np.nan)
    return low, high


# --------------------------------------------------------------------------------------------
# Random-effects meta-analysis
# --------------------------------------------------------------------------------------------


def dersimonian_laird(effects: np.ndarray, variances: np.ndarray) -> dict[str, float]:
    """DerSimonian-Laird random-effects estimate with tau^2, Q, I^2 and a 95% z interval."""
    y = np.asarray(effects, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    k = y.size
    w = 1.0 / v
    fixed = (w * y).sum() / w.sum()
    q = float((w * (y - fixed) ** 2).sum())
    c = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (q - (k - 1)) / c) if k > 1 else 0.0
    w_re = 1.0 / (v + tau2)
    estimate = float((w_re * y).sum() / w_re.sum())
    se = float(math.sqrt(1.0 / w_re.sum()))
    z = estimate / se
    i2 = max(0.0, (q - (k - 1)) / q) if k > 1 and q > 0 else (0.0 if k > 1 else float("nan"))
    return {"estimate": estimate, "se": se, "ci_low": estimate - Z_975 * se,
            "ci_high": estimate + Z_975 * se, "z": z,
            "p_value": float(2.0 * stats.norm.sf(abs(z))), "tau2": tau2, "q": q,
            "q_p_value": float(stats.chi2.sf(q, k - 1)) if k > 1 else float("nan"), "i2": i2, "k": k}
