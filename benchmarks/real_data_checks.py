"""Real-data checks of the compare stage on the small 10x datasets in ../shared/data.

* kang_muscat_ctrl8 (8 unstimulated lupus PBMC donors) and onek1k_scdesignpop (40 healthy
  donors with sex and age): donors are split into two fake groups many times; the fraction of
  donor-level tests with p < 0.05 is reported beside the cell-level Wilcoxon baseline on the
  same cell types and signatures (calibration on real donor-to-donor variation).
* kang_muscat_example (2 donors before/after IFN-beta): stimulation is the "disease", the design
  is paired; the type I IFN response must have the largest positive effect of all axes in every
  cell type, in both donors.

Signatures are scored at gene coverage >= 0.3 because these files hold only ~1,000-1,300 genes.
The null splits and the IFN-beta check run once per scoring variant (--variants), side by side:
`scanpy` (scanpy's control draw, each sample at its own depth: how these checks were first
made) and `workflow` (the workflow's defaults: background control pool, depth equalized, a
signature tested only where its genes are detected, compare.min_module_counts = 10).

    flock /tmp/neurokine-heavy.lock python benchmarks/real_data_checks.py [--data ../shared/data]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import calibration_tools as calibration
import numpy as np
import pandas as pd

from neurokine.curated.axes import gene_sets, load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.errors import InputError
from neurokine.scoring import aggregate
from neurokine.settings import CompareSettings, EnrichmentSettings
from neurokine.stats import activity, compare, pseudobulk

REPO = Path(__file__).resolve().parents[1]

MIN_COVERAGE = 0.3
#: Scoring variants: (control pool, depth equalized).
VARIANTS = {"scanpy": ("scanpy", False), "workflow": ("background", True)}


def weighted(frame: pd.DataFrame, column: str, weights: str) -> float:
    """Test-weighted mean of per-split rates (= pooled fraction over all tests)."""
    ok = frame[column].notna()
    return float(np.average(frame.loc[ok, column], weights=frame.loc[ok, weights]))


def scored(adata, axes, variant: str):
    """score_donors with one variant's control pool and depth handling."""
    pool, equalize = VARIANTS[variant]
    return calibration.score_donors(adata, axes, qc=None, target_sum=1e4, min_coverage=MIN_COVERAGE,
                                    control_pool=pool, equalize_depth=equalize)


def null_splits(name, axes, data, variant: str = "scanpy", **kwargs) -> dict:
    """Random fake-group splits on one dataset; pooled false-positive rates of both methods."""
    adata = calibration.load_shared_example(data, name)
    prepared, cell_scores, donor_scores, coverage = scored(adata, axes, variant)
    if variant == "workflow":  # the compare stage's detection gate, on the raw counts' pseudobulk
        kwargs["module_counts"] = pseudobulk.module_counts(aggregate.pseudobulk(prepared), gene_sets(axes))
    splits = calibration.random_split_fpr(prepared.obs, cell_scores, donor_scores, coverage, **kwargs)
    out = {"dataset": name, "n_donors": int(donor_scores["donor_id"].nunique()),
           "n_signatures": int((coverage["status"] == "scored").sum()),
           "n_cell_types": int(donor_scores["cell_type"].nunique()),
           "n_splits": len(splits), "n_tests": int(splits["n_tests"].sum()),
           "fpr": round(weighted(splits, "fpr", "n_tests"), 4),
           "fpr_cell_level": round(weighted(splits, "fpr_cell_level", "n_tests_cell_level"), 4),
           "fpr_split_sd": round(float(splits["fpr"].std()), 4)}
    if splits["fpr_permutation"].notna().any():
        out["fpr_permutation"] = round(weighted(splits, "fpr_permutation", "n_tests"), 4)
    return out


def ifn_check(axes, data, variant: str = "scanpy") -> dict:
    """Paired IFN-beta stimulation: the type I IFN axis must lead in every cell type and donor."""
    adata = calibration.load_shared_example(data, "kang_muscat_example")
    _, _, donor_scores, coverage = scored(adata, axes, variant)
    contrast = compare.Contrast("IFNb_stim", "control")
    result = compare.compare_groups(donor_scores, coverage, [contrast], covariates=[], min_cells=10,
                                    min_donors=2, n_boot=1000, seed=1)
    response = result[(result["status"] == "tested") & (result["module"] == "response")]
    effects = response.pivot_table(index="axis", columns="cell_type", values="effect")
    print("\nkang_muscat_example, IFN-beta vs control (paired, 2 donors): response-module effects")
    print(effects.round(2).to_string())
    per_donor = compare.effect_direction_by_donor(donor_scores, contrast)
    ifn_donor = per_donor[per_donor["signature"] == "IFN_I.response"]
    print("\nIFN_I.response, per-donor stimulated minus control:")
    print(ifn_donor.pivot_table(index="cell_type", columns="donor_id", values="difference").round(3)
          .to_string())
    ifn = response[response["axis"] == "IFN_I"].set_index("cell_type")
    print("\nIFN_I.response tests:")
    print(ifn[["effect", "ci_low", "ci_high", "t", "df", "df_prior", "p_value", "perm_p_value",
               "perm_p_floor", "p_value_model"]].to_string())
    runner_up = effects.drop(index="IFN_I").max()
    return {
        "ifn_largest_in_every_cell_type": bool((effects.idxmax() == "IFN_I").all()),
        "ifn_positive_in_both_donors": bool((ifn_donor["difference"] > 0).all()
                                            and ifn_donor["donor_id"].nunique() == 2),
        "ifn_effect_min": round(float(effects.loc["IFN_I"].min()), 3),
        "ifn_effect_max": round(float(effects.loc["IFN_I"].max()), 3),
        "runner_up_axis": ",".join(sorted(set(effects.drop(index="IFN_I").idxmax()))),
        "runner_up_effect_max": round(float(runner_up.max()), 3),
        "ifn_perm_p_min": round(float(ifn["perm_p_value"].min()), 3),
        "perm_p_floor": round(float(ifn["perm_p_floor"].iloc[0]), 3),
        "ifn_reported_p_min": round(float(ifn["p_value"].min()), 3),
        "ifn_model_p_max": float(f"{ifn['p_value_model'].max():.3g}"),
        "n_cell_types": int(effects.shape[1]),
    }


def activity_check(axes, data) -> dict:
    """IFN-beta read by joint activities: IFN_I must lead, IFN-gamma and IL-27 stay small (issue 16).

    Side by side in one run: the single-module effects above, the joint model on the curated
    modules, and the joint model on CytoSig's signatures (when installed).
    """
    adata = calibration.load_shared_example(data, "kang_muscat_example")
    adata.layers["counts"] = adata.X
    pb = aggregate.pseudobulk(adata)
    settings = CompareSettings(
        contrasts=(), covariates=(), min_cells_per_donor=10, min_donors_per_arm=2, min_module_counts=10,
        n_bootstrap=1000,
        fdr_alpha=0.05, permutation_max_arm=8, max_permutations=20000,
        enrichment=EnrichmentSettings(permutations=1000, min_size=5, max_size=500, min_count=5))
    contrast = compare.Contrast("IFNb_stim", "control")
    summary = {}
    for resource in ("curated", "cytosig"):
        try:
            model = activity.activity_model(axes, resource)
        except InputError as missing:
            print(f"\n{resource}: not available ({missing})")
            continue
        table = activity.activity_tests(pb, [contrast], model, settings, seed=1,
                                        shared_genes=activity.shared_response_genes(axes))
        tested = table[table["status"] == "tested"]
        values = tested.pivot_table(index="axis", columns="cell_type", values="activity")
        ratio = values.loc[["IFNG", "IL27"]] / values.loc["IFN_I"]
        print(f"\nkang_muscat_example, joint activities ({resource}, paired, 2 donors):")
        print(values.round(3).to_string())
        print(f"ratio to IFN_I:\n{ratio.round(2).to_string()}")
        summary[resource] = {
            "ifn_largest_in_every_cell_type": bool((values.idxmax() == "IFN_I").all()),
            "max_ifng_over_ifn_i": round(float(ratio.loc["IFNG"].max()), 2),
            "max_il27_over_ifn_i": round(float(ratio.loc["IL27"].max()), 2),
            "n_cell_types": int(values.shape[1]), "n_genes_median": int(tested["n_genes"].median()),
            "ifn_perm_p_min": round(float(tested.loc[tested["axis"] == "IFN_I", "perm_p_value"].min()), 3),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated scoring variants of {sorted(VARIANTS)}")
    parser.add_argument("--skip-activities", action="store_true")
    args = parser.parse_args()
    vocabulary = load_cell_types(REPO / "resources/cell_types.yaml",
                                 REPO / "resources/schemas/cell_types.schema.yaml")
    axes = load_axes(REPO / "resources/signatures/axes", REPO / "resources/schemas/axis.schema.yaml",
                     vocabulary)
    started = time.time()
    summary = {}
    for variant in args.variants.split(","):
        runs = {
            "kang_ctrl8_4v4": null_splits("kang_muscat_ctrl8", axes, args.data, variant, n_case=4,
                                          n_splits=args.splits, seed=1, n_boot=100),
            "onek1k_20v20_sex_age": null_splits("onek1k_scdesignpop", axes, args.data, variant,
                                                n_case=20, n_splits=args.splits, seed=2,
                                                covariates=["sex", "age"], n_boot=100),
            "onek1k_5v5": null_splits("onek1k_scdesignpop", axes, args.data, variant, n_case=5,
                                      n_reference=5, n_splits=args.splits, seed=3, n_boot=100),
        }
        for key, value in runs.items():
            print(variant, key, value, flush=True)
        summary[variant] = {**runs, "kang_ifn_beta": ifn_check(axes, args.data, variant)}
    if not args.skip_activities:
        summary["kang_ifn_beta_activities"] = activity_check(axes, args.data)
    summary["seconds"] = round(time.time() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
