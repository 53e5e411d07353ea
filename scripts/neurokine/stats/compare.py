"""Disease-versus-control comparisons of donor-level values (the donor is the unit).

Default test, per contrast x stratum (tissue x cell type) x feature (signature, cell type for
composition, gene for enrichment ranking): a linear model on one value per donor with the
covariates present (age, sex, batch, tissue), whose residual variances are moderated by
empirical Bayes across every test of a *family* (dataset | contrast | tissue | module: all axes
and cell types of one module), as limma does for pseudobulk. When the same donors appear in both
arms (before/after stimulation) the design is paired: the model runs on within-donor
differences. Beside it: exact permutation p-values when an arm has few donors, a bootstrap-t
interval over donors, Hedges' g, and BH-FDR within the same family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurokine.errors import InputError
from neurokine.seeds import sub_seed
from neurokine.settings import CompareSettings, Contrast

#: Columns of the results table, in order; downstream code and users rely on these names.
#: `effect`, `se`, `t`, `df`, `p_value`, `ci_low`/`ci_high` are the moderated linear model;
#: `boot_ci_*` is the bootstrap-t interval over donors; `perm_*` the permutation check;
#: `p_value` is the model's p (`p_value_model`) unless an arm has fewer than 3 donors, when it is
#: the exact permutation p-value (see `test`).
RESULT_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "cell_type", "signature", "axis",
    "module", "status", "reason", "n_donors_case", "n_donors_reference", "n_cells_case",
    "n_cells_reference", "mean_case", "mean_reference", "effect", "se", "ci_low", "ci_high",
    "boot_ci_low", "boot_ci_high", "hedges_g", "t", "df", "p_value", "fdr", "fdr_family",
    "covariates", "gene_coverage",
    # added by issue 5 (appended so earlier readers keep working)
    "measure", "design", "test", "df_prior", "var_prior", "hedges_g_se", "perm_p_value",
    "perm_p_floor", "perm_method", "abundance_effect", "abundance_fdr", "p_value_model",
]

#: Columns a donor-level input table must have (donor_scores.tsv and its pseudobulk twin).
REQUIRED_COLUMNS = ("dataset_id", "sample_id", "donor_id", "tissue", "disease", "cell_type",
                    "signature", "n_cells")

#: Name of the default test, written into every tested row.
TEST_NAME = ("moderated linear model (empirical Bayes variances per module, prior weight at most half "
             "the residual df)")
#: Name of the test reported when an arm has fewer than MIN_MODEL_DONORS donors.
PERMUTATION_TEST_NAME = "exact permutation (fewer than 3 donors in an arm)"
#: Fewest donors per arm for which the model's p-value is the reported one.
MIN_MODEL_DONORS = 3


@dataclasses.dataclass(frozen=True)
class TestSettings:
    """Options shared by every test of a run (from config `compare`)."""

    min_donors: int
    n_boot: int
    seed: int
    max_permutations: int
    permutation_max_arm: int
    moderate: bool = True
    permutations: bool = True


def compare_options(settings: CompareSettings, seed: int) -> dict:
    """Keyword arguments of compare_groups, composition_tests and compare_interactions from the
    compare settings (config names -> parameter names, in one place)."""
    return {"covariates": list(settings.covariates), "min_cells": settings.min_cells_per_donor,
            "min_donors": settings.min_donors_per_arm, "n_boot": settings.n_bootstrap, "seed": seed,
            "max_permutations": settings.max_permutations,
            "permutation_max_arm": settings.permutation_max_arm}


def applicable_contrasts(
    contrasts: Sequence[Contrast], diseases: set[str]
) -> tuple[list[Contrast], list[str]]:
    """Split contrasts into those whose two groups exist in a dataset and notes on the rest."""
    usable, notes = [], []
    for contrast in contrasts:
        missing = [g for g in (contrast.case, contrast.reference) if g not in diseases]
        if missing:
            notes.append(f"{contrast.name}: no donors of {', '.join(missing)} in this dataset")
        else:
            usable.append(contrast)
    return usable, notes


def check_columns(frame: pd.DataFrame, required: Sequence[str], source: str) -> None:
    """Fail with the missing column's name when a donor-level table lacks one."""
    for column in required:
        if column not in frame.columns:
            raise InputError(source, column, "required column is missing",
                             "pass the aggregate stage's donor_scores.tsv (or a table with its columns)")


# --------------------------------------------------------------------------------------------
# From sample-level rows to one value per donor
# --------------------------------------------------------------------------------------------


def cell_weighted_means(frame: pd.DataFrame, keys: Sequence[str], value: str) -> pd.DataFrame:
    """Per group of `keys` (e.g. one donor's samples): the cell-weighted mean of `value` and the
    summed cells; a missing value stays missing instead of counting as 0 in the donor's mean."""
    keys = list(keys)
    frame = frame[frame[value].notna()]
    weighted = frame[[*keys, "n_cells"]].assign(_weighted=frame[value] * frame["n_cells"])
    sums = weighted.groupby(keys, observed=True, sort=True, dropna=False)[["_weighted", "n_cells"]].sum()
    sums[value] = sums["_weighted"] / sums["n_cells"]
    return sums.drop(columns="_weighted").reset_index()


def donor_wide(frame: pd.DataFrame, keys: Sequence[str], feature: str, value: str) -> pd.DataFrame:
    """One row per donor (keys), one column per feature: cell-weighted means over its samples."""
    keys = list(keys)
    means = cell_weighted_means(frame, [*keys, feature], value).set_index([*keys, feature])
    wide = means[value].unstack(feature)
    wide.columns = [str(c) for c in wide.columns]
    wide["n_cells"] = means["n_cells"].groupby(level=list(range(len(keys))), observed=True,
                                               dropna=False).max()
    return wide.reset_index()


def design_matrix(
    donors: pd.DataFrame, case: str, covariates: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Intercept, case indicator and usable covariates; report covariates left out and why."""
    columns = [np.ones(len(donors)), (donors["disease"] == case).to_numpy(dtype=float)]
    used, notes = [], []
    for name in covariates:
        if name not in donors.columns:
            notes.append(f"{name}: absent")
            continue
        values = donors[name]
        if values.isna().any():
            notes.append(f"{name}: missing for some donors")
            continue
        if values.nunique(dropna=True) < 2:
            notes.append(f"{name}: constant")
            continue
        if pd.api.types.is_numeric_dtype(values):
            columns.append((values - values.mean()).to_numpy(dtype=float))
        else:
            for level in sorted(values.astype(str).unique())[1:]:
                columns.append((values.astype(str) == level).to_numpy(dtype=float))
        used.append(name)
    return np.column_stack(columns), used, notes


def _confounded(design: np.ndarray, donors: pd.DataFrame, case: str, used: Sequence[str]) -> list[str]:
    """Covariates that, added alone to intercept + case, make the design rank deficient."""
    bad = []
    for name in used:
        single, _, _ = design_matrix(donors, case, [name])
        if np.linalg.matrix_rank(single) < single.shape[1]:
            bad.append(name)
    return bad


@dataclasses.dataclass
class Stratum:
    """Donor-level values of one contrast x stratum, ready for the model."""

    base: dict                    # identifying columns, donors and cells per arm, covariates
    features: list[str]
    values: np.ndarray            # observations x features (donors, or donor differences)
    design: np.ndarray
    coef: int                     # column of the design whose coefficient is the effect
    resample: np.ndarray          # bootstrap strata (arm per observation; one stratum if paired)
    is_case: np.ndarray | None    # unpaired labels for the permutation test; None when paired
    paired: bool
    mean_case: np.ndarray
    mean_reference: np.ndarray


def _within_donor_tissue_adjustment(wide: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, str]:
    """Remove tissue effects estimated within donors sampled in several tissues, then average.

    CSF and blood from one donor are paired observations: treating them as two donors would
    double the donor count. The tissue effect is estimated from within-donor differences only
    (donor and tissue fixed effects), subtracted, and each donor then contributes one value.
    """
    tissues = sorted(wide["tissue"].astype(str).unique())
    n_multi = int((wide.groupby("donor_id")["tissue"].nunique() > 1).sum())
    donors = sorted(wide["donor_id"].unique())
    indicators = np.column_stack([(wide["tissue"].astype(str) == t).to_numpy(float) for t in tissues[1:]])
    X = np.column_stack([(wide["donor_id"] == d).to_numpy(float) for d in donors] + [indicators])
    Y = wide[features].to_numpy(float)
    adjusted = wide.copy()
    if np.linalg.matrix_rank(X) == X.shape[1]:
        beta = np.linalg.lstsq(X, Y, rcond=None)[0]
        adjusted[features] = Y - indicators @ beta[len(donors):]
        note = f"tissue effect estimated within {n_multi} donors sampled in several tissues"
    else:
        note = "tissue effect not identifiable within donors; tissues averaged per donor"
    keys = [c for c in adjusted.columns if c not in (*features, "tissue", "n_cells")]
    collapsed = adjusted.groupby(keys, observed=True, sort=True, dropna=False).agg(
        {**{f: "mean" for f in features}, "n_cells": "sum"}).reset_index()
    return collapsed, note


def build_stratum(frame: pd.DataFrame, contrast: Contrast, covariates: Sequence[str], base: dict,
                  min_donors: int, value: str, feature: str) -> Stratum | str:
    """Turn sample-level rows of one stratum into donor-level arrays, or a not-tested reason."""
    features = sorted(frame[feature].unique())
    pooled_tissue = "tissue" in covariates and frame["tissue"].nunique() > 1
    keys_cov = [c for c in covariates if c in frame.columns and (c != "tissue" or pooled_tissue)]
    notes = []
    # A donor-level covariate must have one value per donor; one that varies between a donor's
    # samples (other than tissue, handled below) would split the donor into pseudo-replicates.
    for name in [c for c in keys_cov if c != "tissue"]:
        if (frame.groupby(["donor_id", "disease"], observed=True)[name].nunique(dropna=False) > 1).any():
            keys_cov.remove(name)
            notes.append(f"dropped {name}: varies within donor")
    wide = donor_wide(frame, ["donor_id", "disease", *keys_cov], feature, value)
    design_note = "unpaired"
    if pooled_tissue and wide.groupby(["donor_id", "disease"])["tissue"].nunique().max() > 1:
        wide, design_note = _within_donor_tissue_adjustment(wide, features)
        keys_cov = [c for c in keys_cov if c != "tissue"]

    in_case = set(wide.loc[wide["disease"] == contrast.case, "donor_id"])
    in_ref = set(wide.loc[wide["disease"] == contrast.reference, "donor_id"])
    both = sorted(in_case & in_ref)
    if both:
        return _paired_stratum(wide, contrast, features, both, in_case | in_ref, base, min_donors, notes)

    is_case = (wide["disease"] == contrast.case).to_numpy()
    n_case, n_ref = int(is_case.sum()), int((~is_case).sum())
    base.update(n_donors_case=n_case, n_donors_reference=n_ref,
                n_cells_case=int(wide.loc[is_case, "n_cells"].sum()),
                n_cells_reference=int(wide.loc[~is_case, "n_cells"].sum()), design=design_note)
    if min(n_case, n_ref) < min_donors:
        return (f"{n_case} case and {n_ref} reference donors pass the cell minimum; "
                f"compare.min_donors_per_arm is {min_donors}")
    design, used, dropped = design_matrix(wide, contrast.case, [c for c in covariates if c in keys_cov])
    notes += [f"dropped {n}" for n in dropped]
    for name in covariates:
        if name not in frame.columns:
            notes.append(f"dropped {name}: absent")
        elif name == "tissue" and not pooled_tissue:
            notes.append("tissue: one tissue per stratum")
        elif name == "tissue" and "tissue" not in keys_cov:
            notes.append("tissue: adjusted within donors")
    base["covariates"] = ";".join(used + notes)
    if design.shape[0] <= design.shape[1]:
        return (f"too few donors ({design.shape[0]}) for the {design.shape[1]} model terms "
                f"(intercept, {contrast.case}, covariates {used})")
    if np.linalg.matrix_rank(design) < design.shape[1]:
        bad = _confounded(design, wide, contrast.case, used) or used
        return (f"covariate(s) {', '.join(bad)} confounded with {contrast.case} vs "
                f"{contrast.reference}: the effect cannot be separated from them")
    Y = wide[features].to_numpy(float)
    return Stratum(base=base, features=features, values=Y, design=design, coef=1,
                   resample=is_case.astype(int), is_case=is_case, paired=False,
                   mean_case=Y[is_case].mean(axis=0), mean_reference=Y[~is_case].mean(axis=0))


def _paired_stratum(wide: pd.DataFrame, contrast: Contrast, features: list[str], both: list[str],
                    everyone: set[str], base: dict, min_donors: int, notes: list[str]) -> Stratum | str:
    """Paired design: one within-donor difference (case minus reference) per donor with both arms."""
    rows = wide[wide["donor_id"].isin(both)]
    case = rows[rows["disease"] == contrast.case].groupby("donor_id")
    ref = rows[rows["disease"] == contrast.reference].groupby("donor_id")
    case_values = case[features].mean().loc[both].to_numpy(float)
    ref_values = ref[features].mean().loc[both].to_numpy(float)
    n = len(both)
    left_out = len(everyone) - n
    design_note = "paired (within-donor differences)" + (
        f"; {left_out} donors with only one arm left out" if left_out else "")
    base.update(n_donors_case=n, n_donors_reference=n,
                n_cells_case=int(case["n_cells"].sum().loc[both].sum()),
                n_cells_reference=int(ref["n_cells"].sum().loc[both].sum()), design=design_note,
                covariates=";".join(["donor-level covariates cancel within pairs", *notes]))
    if n < min_donors:
        return (f"{n} donors have both {contrast.case} and {contrast.reference} samples; "
                f"compare.min_donors_per_arm is {min_donors}")
    if n < 2:
        return "a paired test needs at least 2 donors with both arms"
    diff = case_values - ref_values
    return Stratum(base=base, features=features, values=diff, design=np.ones((n, 1)), coef=0,
                   resample=np.zeros(n, dtype=int), is_case=None, paired=True,
                   mean_case=case_values.mean(axis=0), mean_reference=ref_values.mean(axis=0))


# --------------------------------------------------------------------------------------------
# The tests: fit every stratum, moderate per family, then test
# --------------------------------------------------------------------------------------------


def _not_tested(base: dict, features: Sequence[str], reason: str, feature_col: str) -> list[dict]:
    """Rows for a stratum that cannot be tested, each stating why."""
    return [{**base, feature_col: f, "status": "not_tested", "reason": reason} for f in features]


def family_priors(fits: Sequence, families: Sequence[np.ndarray], moderate: bool
                  ) -> tuple[dict[str, object], dict[str, float]]:
    """One empirical-Bayes variance prior per family (over all its strata and features) and each
    family's pooled residual df, the cap of the moderated df (as limma)."""
    from neurokine.stats import models

    pooled: dict[str, list[tuple[np.ndarray, float]]] = {}
    for fit, fam in zip(fits, families, strict=True):
        for key in np.unique(fam):
            pooled.setdefault(str(key), []).append((fit.sigma2[fam == key], float(fit.df)))
    priors, caps = {}, {}
    for key, parts in pooled.items():
        variances = np.concatenate([v for v, _ in parts])
        dfs = np.concatenate([np.full(v.size, d) for v, d in parts])
        priors[key] = models.fit_f_dist(variances, dfs) if moderate else models.Prior.none()
        caps[key] = float(dfs.sum())
    return priors, caps


def _stratum_checks(s: Stratum, fit, settings: TestSettings, seed_keys: Callable[[dict], Sequence[str]]
                    ) -> tuple[object, np.ndarray, np.ndarray, bool, str]:
    """A stratum's exact permutation test, bootstrap-t interval and cautions (model-free checks)."""
    from neurokine.stats import models

    small_arm = min(s.base["n_donors_case"], s.base["n_donors_reference"])
    seed = sub_seed(settings.seed, *seed_keys(s.base))
    perm = None
    if settings.permutations and small_arm <= settings.permutation_max_arm:
        perm = (models.sign_flip_test(s.values, settings.max_permutations, seed) if s.paired else
                models.permutation_test(s.design, s.values, s.coef, s.is_case,
                                       settings.max_permutations, seed))
    # The bootstrap-t interval is studentized by each resample's own SE (no prior), so it is
    # a check that does not rely on the empirical-Bayes model (see models.bootstrap_t_interval).
    if settings.n_boot > 0:
        boot_low, boot_high = models.bootstrap_t_interval(
            s.design, s.values, s.coef, s.resample, models.Prior.none(), settings.n_boot, seed)
    else:
        boot_low = boot_high = np.full(len(s.features), np.nan)
    # With fewer than 3 donors in an arm the residual df is 0-1, so a model p-value would rest
    # on the prior borrowed from other tests alone. The reported p is then the exact
    # permutation p-value, which cannot be small (2 paired donors: at least 0.5); the model's
    # p stays visible in p_value_model.
    too_few = small_arm < MIN_MODEL_DONORS and perm is not None
    caution = ""
    if too_few:
        caution = (f"caution: {small_arm} donors per arm, so no p-value can be small: p_value is "
                   f"the exact permutation p-value (floor {perm.floor:.3g}); the model p-value "
                   "(p_value_model) would rest only on the prior borrowed from other tests; "
                   "no bootstrap interval is computed")
    if fit.df < models.MIN_EFFECT_DF:
        factor = 1.0 - 3.0 / (4.0 * fit.df - 1.0) if fit.df > 0 else float("nan")
        caution = "; ".join(filter(None, [caution, models.NO_STANDARDIZED_EFFECT.format(
            df=fit.df, factor=factor)]))
    return perm, boot_low, boot_high, too_few, caution


def run_tests(strata: Sequence[Stratum], family: Callable[[dict, str], str], settings: TestSettings,
              feature_col: str, seed_keys: Callable[[dict], Sequence[str]]) -> list[dict]:
    """Moderated linear-model tests for every stratum, with permutation and bootstrap checks."""
    # scipy (via neurokine.stats) is imported here, not at module level: the Snakefile imports
    # this module's config checks at parse time, which every cluster job repeats.
    from neurokine.stats import models

    fits = [models.fit_linear(s.design, s.values) for s in strata]
    families = [np.array([family(s.base, f) for f in s.features]) for s in strata]
    priors, caps = family_priors(fits, families, settings.moderate)

    rows: list[dict] = []
    for s, fit, fam in zip(strata, fits, families, strict=True):
        perm, boot_low, boot_high, too_few, caution = _stratum_checks(s, fit, settings, seed_keys)
        for key in np.unique(fam):
            cols = np.flatnonzero(fam == key)
            prior = priors[str(key)].limited(fit.df)
            estimate = fit.beta[s.coef, cols]
            sigma2 = fit.sigma2[cols]
            mod = models.moderated_t(estimate, fit.unscaled[s.coef, s.coef], sigma2, fit.df, prior,
                                    df_cap=caps[key])
            ci_low, ci_high = models.t_interval(estimate, mod["se"], mod["df"][0])
            g = models.standardized_effect(estimate, sigma2, fit.df)
            g_se = models.hedges_g_se(g, s.base["n_donors_case"], s.base["n_donors_reference"], s.paired)
            for j, k in enumerate(cols):
                row = {**s.base, feature_col: s.features[k], "mean_case": s.mean_case[k],
                       "mean_reference": s.mean_reference[k]}
                if not np.isfinite(s.values[:, k]).all():
                    rows.append({**row, "status": "not_tested",
                                 "reason": "value missing for some donors of this stratum"})
                    continue
                if not (np.isfinite(mod["t"][j]) and sigma2[j] > 0):
                    rows.append({**row, "status": "not_tested", "reason": (
                        "no variation between donors within the arms (all values equal), so "
                        "the effect has no standard error")})
                    continue
                row.update(
                    status="tested", reason=caution, effect=estimate[j], se=mod["se"][j],
                    ci_low=ci_low[j], ci_high=ci_high[j], boot_ci_low=boot_low[k],
                    boot_ci_high=boot_high[k], hedges_g=g[j], hedges_g_se=g_se[j], t=mod["t"][j],
                    df=mod["df"][j], p_value=mod["p"][j], p_value_model=mod["p"][j], test=TEST_NAME,
                    df_prior=prior.df, var_prior=prior.var)
                if too_few:
                    row.update(p_value=perm.p[k], test=PERMUTATION_TEST_NAME)
                if perm is not None:
                    row.update(perm_p_value=perm.p[k], perm_p_floor=perm.floor,
                               perm_method=f"{perm.method} ({perm.n_labellings} labellings)")
                elif settings.permutations:
                    row.update(perm_method=(f"not computed: both arms have more than "
                                            f"{settings.permutation_max_arm} donors"))
                rows.append(row)
    return rows


def add_fdr(result: pd.DataFrame) -> pd.DataFrame:
    """BH-FDR within each `fdr_family` over the tested rows."""
    from neurokine.stats import models  # see run_tests
    result["fdr"] = np.nan
    result["p_value"] = result["p_value"].astype(float)
    for _, index in result.groupby("fdr_family").groups.items():
        result.loc[index, "fdr"] = models.bh_fdr(result.loc[index, "p_value"].to_numpy(dtype=float))
    return result


def _unscored_rows(rows: Sequence[dict], coverage: pd.DataFrame) -> list[dict]:
    """Not-tested rows for signatures the score stage skipped, in every stratum tested."""
    skipped = coverage[coverage["status"] != "scored"]
    strata = {(r["dataset_id"], r["contrast"], r["case"], r["reference"], r["tissue"], r["cell_type"])
              for r in rows}
    keys = ("dataset_id", "contrast", "case", "reference", "tissue", "cell_type")
    return [{**dict(zip(keys, stratum, strict=True)), "signature": s.signature,
             "status": "not_tested", "reason": f"not scored: {s.reason}"}
            for stratum in sorted(strata) for s in skipped.itertuples()]


#: Start of the reason of a signature the detection gate left untested (the Methods count them).
UNDETECTED = "genes not detected"


def detected_signatures(eligible: pd.DataFrame, module_counts: pd.DataFrame, contrast: Contrast,
                        min_counts: int, min_donors: int) -> tuple[list[str], list[str]]:
    """Split a stratum's signatures into detected and not: detected means at least `min_donors`
    donors of one arm have `min_counts` summed counts of its genes (as edgeR's filterByExpr)."""
    keys = ["sample_id", "cell_type", "signature"]
    rows = eligible[[*keys, "donor_id", "disease"]].astype(str).merge(
        module_counts.astype({k: str for k in keys}), on=keys, how="left")
    rows = rows[rows["module_counts"].fillna(0) >= min_counts]
    per_arm = rows.groupby(["signature", "disease"])["donor_id"].nunique()
    arms = per_arm[per_arm.index.get_level_values("disease").isin([contrast.case, contrast.reference])]
    passing = set(arms[arms >= min_donors].index.get_level_values("signature"))
    signatures = sorted(eligible["signature"].unique())
    return [s for s in signatures if s in passing], [s for s in signatures if s not in passing]


def signature_family(base: Mapping, signature: str) -> str:
    """Moderation family of a signature test: dataset | contrast | tissue | module (ligand,
    receptor and response scores differ in scale, so each module has its own variance prior)."""
    return f"{base['dataset_id']}|{base['contrast']}|{base['tissue']}|{signature.rsplit('.', 1)[-1]}"


def signature_fdr_family(base: Mapping) -> str:
    """BH-FDR family of a signature test: dataset | contrast | tissue, all modules together.

    One discovery list per contrast and tissue, as the report shows it: with one family per
    module, each all-null module kept its own 5% chance of a false discovery, which on 24
    simulated cohorts raised the mean false discovery proportion per cohort (fdr_variants.py).
    """
    return f"{base['dataset_id']}|{base['contrast']}|{base['tissue']}"


def compare_groups(donor_scores: pd.DataFrame, coverage: pd.DataFrame, contrasts: Sequence[Contrast],
                   *, covariates: Sequence[str], min_cells: int, min_donors: int, n_boot: int,
                   seed: int, value: str = "mean_score", measure: str = "mean_cell_score",
                   max_permutations: int = 20000, permutation_max_arm: int = 8,
                   composition_tests: pd.DataFrame | None = None,
                   module_counts: pd.DataFrame | None = None, min_module_counts: int = 10
                   ) -> pd.DataFrame:
    """Run every contrast on every tissue x cell type x signature; add BH-FDR per family.

    `donor_scores` is the aggregate stage's long table (one row per sample x cell type x
    signature, value in column `value`). Returns one row per contrast x stratum x signature
    with RESULT_COLUMNS; strata that cannot be tested are kept as `not_tested` rows with the
    reason. With `composition_tests` (from neurokine.stats.composition) each row also carries the
    cell type's abundance change, so "more cells" and "cells signal more" can be told apart.
    With `module_counts` (pseudobulk.module_counts) a signature is tested in a cell type only
    where its genes are detected (`detected_signatures`): the score of a module with no counts
    is its control genes' alone, and a share of library moving elsewhere in the cell then reads
    as a change of it (24 of 35 false positives over 48 simulated cohorts were such ligands).
    """
    check_columns(donor_scores, [*REQUIRED_COLUMNS, value], "donor-level table")
    settings = TestSettings(min_donors=min_donors, n_boot=n_boot, seed=seed,
                            max_permutations=max_permutations, permutation_max_arm=permutation_max_arm)
    covariates = list(covariates)
    pooled = "tissue" in covariates and donor_scores["tissue"].nunique() > 1
    diseases = set(donor_scores["disease"].astype(str))
    dataset_id = str(donor_scores["dataset_id"].iloc[0]) if len(donor_scores) else ""
    rows: list[dict] = []
    strata: list[Stratum] = []
    for contrast in contrasts:
        contrast_base = {"dataset_id": dataset_id, "contrast": contrast.name, "case": contrast.case,
                         "reference": contrast.reference}
        missing = [g for g in (contrast.case, contrast.reference) if g not in diseases]
        arms = donor_scores[donor_scores["disease"].isin([contrast.case, contrast.reference])]
        if missing:
            reason = f"no donors labelled {' or '.join(repr(m) for m in missing)} in this dataset"
            for (tissue, cell_type), g in donor_scores.groupby(["tissue", "cell_type"], sort=True):
                rows += _not_tested({**contrast_base, "tissue": tissue, "cell_type": cell_type,
                                     "n_donors_case": 0, "n_donors_reference": 0},
                                    sorted(g["signature"].unique()), reason, "signature")
            continue
        by = ["cell_type"] if pooled else ["tissue", "cell_type"]
        for key, stratum in arms.groupby(by, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            tissue = "+".join(sorted(stratum["tissue"].astype(str).unique())) if pooled else key[0]
            base = {**contrast_base, "tissue": tissue, "cell_type": key[-1], "measure": measure,
                    "n_donors_case": 0, "n_donors_reference": 0}
            eligible = stratum[stratum["n_cells"] >= min_cells]
            signatures = sorted(stratum["signature"].unique())
            if eligible.empty:
                rows += _not_tested(base, signatures, f"no donor has compare.min_cells_per_donor="
                                    f"{min_cells} cells of this type", "signature")
                continue
            if module_counts is not None:
                detected, undetected = detected_signatures(eligible, module_counts, contrast,
                                                           min_module_counts, min_donors)
                rows += _not_tested(base, undetected, (
                    f"{UNDETECTED}: fewer than {min_donors} donors of either arm have "
                    f"compare.min_module_counts={min_module_counts} counts of them"), "signature")
                eligible = eligible[eligible["signature"].isin(detected)]
                if eligible.empty:
                    continue
            built = build_stratum(eligible, contrast, covariates, base, min_donors, value, "signature")
            if isinstance(built, str):
                rows += _not_tested(base, sorted(eligible["signature"].unique()), built, "signature")
            else:
                strata.append(built)
    rows += run_tests(strata, signature_family, settings, "signature",
                      lambda b: (b["contrast"], b["tissue"], b["cell_type"]))
    rows += _unscored_rows(rows, coverage)
    result = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    result["measure"] = measure
    if result.empty:
        return result
    result[["axis", "module"]] = result["signature"].str.rsplit(".", n=1, expand=True)
    result["fdr_family"] = [signature_fdr_family(r) for r in
                            result[["dataset_id", "contrast", "tissue"]].to_dict("records")]
    result = add_fdr(result)
    coverage_map = coverage.set_index("signature")["coverage"]
    result["gene_coverage"] = result["signature"].map(coverage_map)
    if composition_tests is not None and not composition_tests.empty:
        keys = ["contrast", "tissue", "cell_type"]
        abundance = composition_tests.loc[composition_tests["status"] == "tested",
                                          [*keys, "effect", "fdr"]]
        result = result.drop(columns=["abundance_effect", "abundance_fdr"]).merge(
            abundance.rename(columns={"effect": "abundance_effect", "fdr": "abundance_fdr"}),
            on=keys, how="left")
    return result.reindex(columns=RESULT_COLUMNS)


def effect_direction_by_donor(donor_scores: pd.DataFrame, contrast: Contrast,
                              value: str = "mean_score") -> pd.DataFrame:
    """Per donor with both arms: case minus reference value per tissue x cell type x signature."""
    arms = donor_scores[donor_scores["disease"].isin([contrast.case, contrast.reference])]
    donors = cell_weighted_means(arms, ["donor_id", "disease", "tissue", "cell_type", "signature"],
                                 value)
    wide = donors.pivot_table(index=["donor_id", "tissue", "cell_type", "signature"],
                              columns="disease", values=value, observed=True).dropna()
    wide["difference"] = wide[contrast.case] - wide[contrast.reference]
    return wide.reset_index()[["donor_id", "tissue", "cell_type", "signature", "difference"]]


def change_state(status: object, fdr: float, effect: float, alpha: float) -> str:
    """'up', 'down', 'none' (tested, not significant) or 'not_testable' for one test."""
    if status != "tested" or not np.isfinite(effect):
        return "not_testable"
    if not (np.isfinite(fdr) and fdr < alpha):
        return "none"
    return "up" if effect > 0 else "down"
