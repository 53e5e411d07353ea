"""Donor-level statistics: linear models, effect sizes, bootstrap intervals and BH-FDR."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import stats


def stable_seed(seed: int, *keys: str) -> int:
    """Derive a reproducible sub-seed from the global seed and string keys (not Python's hash)."""
    return (seed + zlib.crc32("|".join(keys).encode())) % (2**32)


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


def hedges_g(case: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Bias-corrected standardized mean difference per column (case minus reference)."""
    n1, n0 = case.shape[0], reference.shape[0]
    pooled = ((n1 - 1) * case.var(axis=0, ddof=1) + (n0 - 1) * reference.var(axis=0, ddof=1)) / (n1 + n0 - 2)
    correction = 1.0 - 3.0 / (4.0 * (n1 + n0) - 9.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (case.mean(axis=0) - reference.mean(axis=0)) / np.sqrt(pooled) * correction
    return np.where(pooled > 0, g, np.nan)


def ols(design: np.ndarray, response: np.ndarray, coef: int) -> dict[str, np.ndarray]:
    """Fit y = X b per response column; return one coefficient's estimate, SE, t, df and p."""
    n, p = design.shape
    if np.linalg.matrix_rank(design) < p:
        raise np.linalg.LinAlgError("design matrix is rank deficient")
    xtx_inv = np.linalg.inv(design.T @ design)
    beta = xtx_inv @ design.T @ response
    residuals = response - design @ beta
    df = n - p
    sigma2 = (residuals**2).sum(axis=0) / df
    se = np.sqrt(sigma2 * xtx_inv[coef, coef])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta[coef] / se
    pvalue = 2.0 * stats.t.sf(np.abs(t), df)
    return {"estimate": beta[coef], "se": se, "t": t, "df": np.full(response.shape[1], df),
            "p": np.where(se > 0, pvalue, np.nan)}


def t_interval(
    estimate: np.ndarray, se: np.ndarray, df: int, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided t confidence interval for a model coefficient."""
    half = stats.t.ppf(0.5 + level / 2.0, df) * se
    return estimate - half, estimate + half


def bootstrap_interval(design: np.ndarray, response: np.ndarray, coef: int, groups: np.ndarray,
                       n_boot: int, seed: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of a coefficient, resampling donors with replacement within each arm."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    estimates = np.full((n_boot, response.shape[1]), np.nan)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(m, size=m.size, replace=True) for m in members])
        estimates[b] = (np.linalg.pinv(design[idx]) @ response[idx])[coef]
    alpha = (1.0 - level) / 2.0
    return np.nanquantile(estimates, alpha, axis=0), np.nanquantile(estimates, 1.0 - alpha, axis=0)
