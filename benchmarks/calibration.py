"""Calibration and power of the compare stage on simulated cohorts (a benchmark, not a test).

Null cohorts come from the project's simulator (neurokine.validation.simulate.simulate_cohort) with no
planted effect: 5 vs 5 donors, 100-2,000 cells per donor, the demo's donor-to-donor variation
(per-gene donor SD 0.2 and per-module donor SD 0.15 on the log scale). Each cohort goes through
the workflow's own QC, normalization, scoring, aggregation and compare code
(neurokine.stats.compare.compare_groups). Reported:

* fpr: fraction of null donor-level tests with p < 0.05 (the moderated linear model);
* fpr_cell_level: the same for a cell-level Wilcoxon on per-cell scores (the pseudoreplication
  baseline, computed here only; it never enters a results table);
* ci_coverage: fraction of 95% CIs (moderated-t interval, the `ci_low`/`ci_high` columns)
  containing the true effect, pooled over the null cohorts (truth 0) and the power cohorts
  (truth = the planted shift); the bootstrap-t interval's coverage is reported beside it;
* power: fraction of tests with p < 0.05 when every case donor's donor-level value is shifted by
  1 SD of the donor-to-donor variation (6 vs 6 donors; the SD of each signature x cell type is
  the pooled within-arm SD estimated from the null cohorts), with the curve at 1.5 and 2 SD and
  the ceiling no level-0.05 test can pass (z test with the SD known: 0.41 at 1 SD, 6 vs 6);
* power_planted_genes: power when the effect is planted in the simulator's gene expression
  instead (log fold change equal to one SD of a gene's donor-to-donor variation on every
  gene of a module), which is how the demo's planted effects are made.

Run (about 4 minutes on 2 cores; hold the shared lock so timings of others stay clean):

    flock /tmp/neurokine-heavy.lock python benchmarks/calibration.py

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from calibration_tools import cell_level_wilcoxon, score_donors
from scipy import stats as sps

from neurokine.curated.axes import load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.io.files import read_yaml
from neurokine.seeds import sub_seed
from neurokine.settings import PrepareSettings
from neurokine.stats import (
    compare,
)
from neurokine.validation.simulate import PlantedEffect, simulate_cohort

REPO = Path(__file__).resolve().parents[1]

CONTRAST = compare.Contrast("MS", "control")
ALPHA = 0.05
#: Donor-level shifts (in donor SDs) for the power curve; 1.0 is the issue's power target.
EFFECT_SDS = (1.0, 1.5, 2.0)

#: Modules whose genes get the planted gene-level effect in the power_planted_genes cohorts.
PLANTED = [("IFN_I", "response", "CD4_T_memory"), ("TNF", "response", "mono_classical"),
           ("IL6", "response", "CD8_T"), ("IFNG", "response", "NK"),
           ("IL1", "response", "CD4_T_naive"), ("GM_CSF", "response", "mono_classical")]


def cohort(axes, vocabulary, sim: dict, donors: int, effects, seed: int):
    """Simulate one cohort and run the workflow's prepare/score/aggregate code on it."""
    adata = simulate_cohort(
        axes, vocabulary, groups=["control", "MS"], donors_per_group=donors,
        cells_per_donor=(100, 2000), n_background_genes=sim["n_background_genes"],
        mean_library_size=sim["mean_library_size"], dispersion=sim["dispersion"],
        donor_sd=sim["donor_sd"], donor_module_sd=sim["donor_module_sd"],
        composition_concentration=sim["composition_concentration"],
        low_quality_fraction=sim["low_quality_fraction"], planted_effects=effects, seed=seed,
        dataset_id=f"calibration_{seed}")
    return score_donors(adata, axes, qc=PrepareSettings.from_config(CONFIG),
                        target_sum=CONFIG["normalize"]["target_sum"],
                        ctrl_size=CONFIG["scoring"]["ctrl_size"], n_bins=CONFIG["scoring"]["n_bins"],
                        min_coverage=CONFIG["scoring"]["min_gene_coverage"], seed=seed)


def run_compare(donor_scores, coverage, seed: int) -> pd.DataFrame:
    """The compare stage's own code with the default config's settings."""
    params = CONFIG["compare"]
    result = compare.compare_groups(
        donor_scores, coverage, [CONTRAST], covariates=params["covariates"],
        min_cells=params["min_cells_per_donor"], min_donors=params["min_donors_per_arm"],
        n_boot=params["n_bootstrap"], seed=seed)
    return result[result["status"] == "tested"].copy()


def pooled_within_sd(donor_scores: pd.DataFrame) -> pd.DataFrame:
    """Pooled within-arm variance of the donor-level value per cell type x signature, with df."""
    min_cells = CONFIG["compare"]["min_cells_per_donor"]
    kept = donor_scores[donor_scores["n_cells"] >= min_cells]
    grouped = kept.groupby(["cell_type", "signature", "disease"], observed=True)["mean_score"]
    parts = grouped.agg(ss=lambda v: ((v - v.mean()) ** 2).sum(), n="size").reset_index()
    parts = parts[parts["n"] >= 2]
    sums = parts.groupby(["cell_type", "signature"])[["ss", "n"]].sum()
    sums["df"] = sums["n"] - parts.groupby(["cell_type", "signature"]).size()
    return sums.reset_index()[["cell_type", "signature", "ss", "df"]]


def ceiling_power(n_per_arm: int, effect_sd: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided z test with the SD known: no level-alpha test can beat it."""
    shift = effect_sd * math.sqrt(n_per_arm / 2.0)
    z = sps.norm.ppf(1 - alpha / 2)
    return float(sps.norm.sf(z - shift) + sps.norm.cdf(-z - shift))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--null-cohorts", type=int, default=12)
    parser.add_argument("--power-cohorts", type=int, default=12)
    parser.add_argument("--seed", type=int, default=20240911)
    args = parser.parse_args()
    vocabulary = load_cell_types(REPO / "resources/cell_types.yaml",
                                 REPO / "resources/schemas/cell_types.schema.yaml")
    axes = load_axes(REPO / "resources/signatures/axes", REPO / "resources/schemas/axis.schema.yaml",
                     vocabulary)
    sim = CONFIG["simulation"]
    started = time.time()

    null_rows, cell_rows, variance_parts = [], [], []
    for r in range(args.null_cohorts):
        seed = sub_seed(args.seed, "null", str(r))
        prepared, cell_scores, donor_scores, coverage = cohort(axes, vocabulary, sim, 5, [], seed)
        tested = run_compare(donor_scores, coverage, seed)
        tested["cohort"] = r
        null_rows.append(tested)
        baseline = cell_level_wilcoxon(prepared.obs, cell_scores[tested["signature"].unique()],
                                       "MS", "control", min_cells=CONFIG["compare"]["min_cells_per_donor"])
        keys = tested[["cell_type", "signature"]].drop_duplicates()
        cell_rows.append(baseline.merge(keys, on=["cell_type", "signature"]))
        variance_parts.append(pooled_within_sd(donor_scores))
        print(f"null cohort {r + 1}/{args.null_cohorts}: {len(tested)} tests, "
              f"fpr {np.mean(tested['p_value'] < ALPHA):.3f}, "
              f"cell-level fpr {np.mean(cell_rows[-1]['p_value_cell_level'] < ALPHA):.3f}, "
              f"{time.time() - started:.0f} s", flush=True)
    null = pd.concat(null_rows, ignore_index=True)
    cell = pd.concat(cell_rows, ignore_index=True)
    pooled = pd.concat(variance_parts).groupby(["cell_type", "signature"])[["ss", "df"]].sum()
    donor_sd = np.sqrt(pooled["ss"] / pooled["df"]).rename("donor_sd").reset_index()

    curve_rows, planted_rows = [], []
    gene_sd = math.hypot(sim["donor_sd"], sim["donor_module_sd"])
    effects = [PlantedEffect("MS", a, m, ct, gene_sd / math.log(2.0)) for a, m, ct in PLANTED]
    for r in range(args.power_cohorts):
        seed = sub_seed(args.seed, "power", str(r))
        _, _, donor_scores, coverage = cohort(axes, vocabulary, sim, 6, [], seed)
        for multiple in EFFECT_SDS:
            shifted = donor_scores.merge(donor_sd, on=["cell_type", "signature"], how="inner")
            case = shifted["disease"] == "MS"
            shifted.loc[case, "mean_score"] += multiple * shifted.loc[case, "donor_sd"]
            result = run_compare(shifted.drop(columns="donor_sd"), coverage, seed)
            result = result.merge(donor_sd, on=["cell_type", "signature"])
            result["truth"] = multiple * result["donor_sd"]
            result["effect_sd"] = multiple
            result["cohort"] = r
            curve_rows.append(result)
            if multiple == 1.0:
                tested = result
        seed_g = sub_seed(args.seed, "planted", str(r))
        _, _, donor_scores_g, coverage_g = cohort(axes, vocabulary, sim, 6, effects, seed_g)
        tested_g = run_compare(donor_scores_g, coverage_g, seed_g)
        planted_keys = {(f"{a}.{m}", ct) for a, m, ct in PLANTED}
        hit = [(s, c) in planted_keys for s, c in zip(tested_g["signature"], tested_g["cell_type"],
                                                          strict=True)]
        planted_rows.append(tested_g[hit].assign(cohort=r))
        print(f"power cohort {r + 1}/{args.power_cohorts}: power {np.mean(tested['p_value'] < ALPHA):.3f}"
              f" (1 SD on the donor-level value), planted genes "
              f"{np.mean(planted_rows[-1]['p_value'] < ALPHA):.3f}, {time.time() - started:.0f} s",
              flush=True)
    curve = pd.concat(curve_rows, ignore_index=True)
    power = curve[curve["effect_sd"] == 1.0]
    by_sd = curve.groupby("effect_sd")["p_value"].apply(lambda p: float(np.mean(p < ALPHA)))
    # Smallest effect (in donor SDs) reaching power 0.7, by linear interpolation of the curve.
    reach = float(np.interp(0.7, by_sd.to_numpy(), by_sd.index.to_numpy())) if by_sd.max() >= 0.7 else None
    planted = pd.concat(planted_rows, ignore_index=True)

    def covers(frame: pd.DataFrame, truth: np.ndarray, low: str, high: str) -> np.ndarray:
        ok = frame[low].notna() & frame[high].notna()
        return ((frame[low] <= truth) & (truth <= frame[high]))[ok].to_numpy()

    cov_null = covers(null, np.zeros(len(null)), "ci_low", "ci_high")
    cov_alt = covers(curve, curve["truth"].to_numpy(), "ci_low", "ci_high")
    boot_null = covers(null, np.zeros(len(null)), "boot_ci_low", "boot_ci_high")
    boot_alt = covers(curve, curve["truth"].to_numpy(), "boot_ci_low", "boot_ci_high")
    perm = null[null["perm_p_value"].notna()]
    planted_d = (planted["hedges_g"]).median()

    summary = {
        "fpr": round(float(np.mean(null["p_value"] < ALPHA)), 4),
        "fpr_cell_level": round(float(np.mean(cell["p_value_cell_level"] < ALPHA)), 4),
        "power": round(float(np.mean(power["p_value"] < ALPHA)), 4),
        "ci_coverage": round(float(np.mean(np.concatenate([cov_null, cov_alt]))), 4),
        "n_tests": len(null),
        "n_tests_cell_level": len(cell),
        "n_tests_power": len(power),
        "n_null_cohorts": args.null_cohorts,
        "n_power_cohorts": args.power_cohorts,
        "ci_coverage_null": round(float(np.mean(cov_null)), 4),
        "ci_coverage_alternative": round(float(np.mean(cov_alt)), 4),
        "boot_ci_coverage": round(float(np.mean(np.concatenate([boot_null, boot_alt]))), 4),
        "boot_ci_coverage_null": round(float(np.mean(boot_null)), 4),
        "boot_ci_coverage_alternative": round(float(np.mean(boot_alt)), 4),
        "fpr_permutation": round(float(np.mean(perm["perm_p_value"] < ALPHA)), 4),
        "fdr_significant_null": int((null["fdr"] < ALPHA).sum()),
        "power_effect_sd": 1.0,
        "power_ceiling_known_sd": round(ceiling_power(6, 1.0), 4),
        "power_by_effect_sd": {f"{k:g}": round(v, 4) for k, v in by_sd.items()},
        "effect_sd_for_power_0.7": None if reach is None else round(reach, 2),
        "power_planted_genes": round(float(np.mean(planted["p_value"] < ALPHA)), 4),
        "n_tests_planted_genes": len(planted),
        "planted_gene_lfc_natural_log": round(gene_sd, 4),
        "planted_median_hedges_g": round(float(planted_d), 3),
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(summary))


CONFIG = read_yaml(REPO / "config/config.yaml")

if __name__ == "__main__":
    main()
