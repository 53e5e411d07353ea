"""False discoveries across simulated cohorts, per scoring method (issue 15; a benchmark, not a test).

Each cohort comes from the project's simulator with its own seed and its own planted set, drawn at
random from the axes, modules and cell types the simulator accepts (two diseases against
controls). Every third cohort carries very strong programs (log2 fold change 4-5); every cohort
thins one random group's counts (binomial, p = 0.6), a 40% library-size difference between groups.
Each cohort goes through the workflow's own code (QC, normalization, scoring, donor aggregation,
the donor-level compare stage with the default config's settings), once per scoring method, on the
same cells. Reported per method:

* mean false discovery proportion at BH-FDR 0.05 (FDP = false / significant, 0 when nothing is
  significant) and recall of the planted effects (significant, right sign);
* where false positives sit: beside a strong program (same contrast and cell type as a planted
  effect with log2 fold change >= 4) or elsewhere, with a one-sided Fisher exact test of whether
  null tests beside strong programs are more often significant than the other null tests
  (pooled over cohorts);
* a module holding a gene the planted effect moved (any other module, of this axis or another:
  the simulator plants on every gene of the module by default, shared genes included) did change:
  it is counted apart (`moved_by_shared_genes`), neither a false nor a planted discovery.

    flock /tmp/neurokine-heavy.lock python benchmarks/fdr_check.py [--cohorts 9]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from neurokine.curated.axes import MODULES, gene_sets, load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.io import prepare
from neurokine.scoring import aggregate
from neurokine.scoring.engine import score_cells
from neurokine.seeds import sub_rng
from neurokine.settings import Contrast, Settings
from neurokine.stats import compare, pseudobulk
from neurokine.validation import evaluation
from neurokine.validation.simulate import (
    CSF_COMPOSITION,
    PlantedEffect,
    design_from_settings,
    exclusive_module_genes,
    planted_truth,
    simulate_cohort,
)
from neurokine.workflow.config import load_config

REPO = Path(__file__).resolve().parents[1]
ALPHA = 0.05
GROUPS = ("control", "MS", "NMOSD")
#: (label, scoring method, control pool, depth equalized): the methods compared side by side on
#: the same cells. `mean` is the workflow's default (normalize.equalize_depth: true); pseudobulk
#: always reads the raw counts (layers["counts"]), as the workflow does.
METHODS = (("mean", "mean", "background", True), ("mean_raw_depth", "mean", "background", False),
           ("mean_scanpy_controls", "mean", "scanpy", True), ("weighted", "weighted", "scanpy", True),
           ("ucell", "ucell", "scanpy", True), ("ucell_raw_depth", "ucell", "scanpy", False),
           ("pseudobulk", "pseudobulk", "", True))
STRONG = 4.0
#: Every false positive of the run (written beside --out for inspection).
FALSE_POSITIVES: list[pd.DataFrame] = []
#: Every tested row with its truth flags, when --save-tests asks for them (benchmarks/fdr_variants.py
#: re-decides significance from them with other p-values).
ALL_TESTS: list[pd.DataFrame] = []
#: Every planted effect with its size and whether it was testable and recovered, per method.
RECOVERY: list[pd.DataFrame] = []
#: Planted effect sizes (log2 fold change) grouped for recall: power grows with effect size.
EFFECT_BANDS = (1.5, 2.0, 2.5, 3.0, 5.0)
#: Fraction of its counts the thinned group keeps (--thinning).
THINNING = 0.6
#: Method labels to run (--methods).
SELECTED = {m[0] for m in METHODS}
#: The compare stage's detection gate (--min-module-counts; default: the config's).
MIN_MODULE_COUNTS = 10


def planted_set(axes, rng: np.random.Generator, strong: bool, n_effects: int) -> list[PlantedEffect]:
    """Random distinct (disease, axis, module, cell type) effects, all up, strong or moderate."""
    effects, seen = [], set()
    while len(effects) < n_effects:
        key = (str(rng.choice(GROUPS[1:])), str(rng.choice([a.id for a in axes])),
               str(rng.choice(MODULES)), str(rng.choice(list(CSF_COMPOSITION))))
        if key in seen or not exclusive_module_genes(axes, key[1], key[2]):  # the simulator refuses
            continue
        seen.add(key)
        size = rng.uniform(STRONG, 5.0) if strong else rng.uniform(1.5, 3.0)
        effects.append(PlantedEffect(*key, log2_fold_change=round(float(size), 2)))
    return effects


def thin_group(adata, group: str, fraction: float, rng: np.random.Generator):
    """Binomially thin the counts of one group's cells: a library-size difference between groups."""
    counts = sp.csr_matrix(adata.X, copy=True)
    rows = np.flatnonzero(adata.obs["disease"].astype(str).to_numpy() == group)
    lengths = np.diff(counts.indptr)
    member = np.repeat(np.isin(np.arange(counts.shape[0]), rows), lengths)
    counts.data[member] = rng.binomial(counts.data[member].astype(np.int64), fraction)
    counts.eliminate_zeros()
    adata.X = counts.astype(np.int32)
    return adata


def classify(tests: pd.DataFrame, truth: pd.DataFrame, leaky: set) -> pd.DataFrame:
    """Null tests with flags: significant, beside a strong program, on a gene-sharing module."""
    tested = tests[tests["status"] == "tested"].rename(columns={"case": "disease"})
    planted = set(truth[evaluation.KEYS].itertuples(index=False, name=None))
    keys = list(tested[evaluation.KEYS].itertuples(index=False, name=None))
    null = tested[[k not in planted for k in keys]].copy()
    strong = truth[truth["log2_fold_change"] >= STRONG]
    beside = set(zip(strong["disease"], strong["cell_type"], strict=True))
    null["significant"] = null["fdr"] < ALPHA
    null["beside_strong"] = [(d, c) in beside
                             for d, c in zip(null["disease"], null["cell_type"], strict=True)]
    null["leakage"] = [k in leaky for k in null[evaluation.KEYS].itertuples(index=False, name=None)]
    return null


def run_cohort(index: int, seed: int, axes, cell_types, settings: Settings, sim: dict) -> list[dict]:
    """One cohort: simulate, thin, prepare, then score/aggregate/compare with every method."""
    rng = sub_rng(seed, f"fdr_check/{index}")
    strong = index % 3 == 0
    effects = planted_set(axes, rng, strong, n_effects=4)
    adata = simulate_cohort(axes, cell_types, **sim, planted_effects=effects, seed=seed + index)
    thinned = str(rng.choice(GROUPS))
    adata = thin_group(adata, thinned, THINNING, rng)
    # The workflow's own prepare stage, with and without depth equalization.
    prepared = {equalize: prepare.prepare_dataset(
        adata.copy(), dataclasses.replace(settings.prepare, equalize_depth=equalize), seed + index)[0]
        for equalize in {m[3] for m in METHODS if m[0] in SELECTED}}
    # One pseudobulk (raw counts) per prepared dataset, and the compare stage's detection gate
    # from it (compare.min_module_counts; 0 = every signature), shared by every method.
    pseudobulks = {equalize: aggregate.pseudobulk(data) for equalize, data in prepared.items()}
    gates = {equalize: dict(module_counts=pseudobulk.module_counts(pb, gene_sets(axes)),
                            min_module_counts=MIN_MODULE_COUNTS) for equalize, pb in pseudobulks.items()}
    truth = planted_truth(effects, axes, sim["planted_genes"])
    leaky = evaluation.leakage_keys(truth)
    contrasts = [Contrast(d, "control") for d in GROUPS[1:]]
    options = compare.compare_options(settings.compare, seed)
    rows = []
    for label, method, pool, equalized in (m for m in METHODS if m[0] in SELECTED):
        data, gate = prepared[equalized], gates[equalized]
        if method == "pseudobulk":
            scores, coverage = pseudobulk.signature_scores(pseudobulks[equalized], gene_sets(axes),
                                                           settings.scoring.min_gene_coverage)
            tests = compare.compare_groups(scores, coverage, contrasts, value="mean_score",
                                           measure="pseudobulk_logcpm", **gate, **options)
        else:
            scores, coverage = score_cells(data.X, data.var_names, gene_sets(axes), method=method,
                                           control_pool=pool, random_state=seed,
                                           min_coverage=settings.scoring.min_gene_coverage)
            scores.index = data.obs_names
            tests = compare.compare_groups(aggregate.mean_scores(data.obs, scores), coverage, contrasts,
                                           **gate, **options)
        summary = evaluation.recovery_summary(truth, tests, ALPHA)
        recovery = evaluation.recovery_table(truth, tests, ALPHA)
        RECOVERY.append(recovery.assign(cohort=index, method=label,
                                        testable=recovery["effect"].notna()))
        null = classify(tests, truth, leaky)
        ALL_TESTS.append(flagged_tests(tests, null, truth).assign(cohort=index, method=label))
        FALSE_POSITIVES.append(null[null["significant"]].assign(cohort=index, method=label,
                                                                 thinned_group=thinned))
        significant = summary["n_significant"]
        false = int((null["significant"] & ~null["leakage"]).sum())
        rows.append({
            "cohort": index, "method": label, "strong": strong, "thinned_group": thinned,
            "planted": "; ".join(f"{e.disease}/{e.axis}.{e.module}/{e.cell_type}/{e.log2_fold_change}"
                                 for e in effects),
            "n_planted": summary["n_planted"], "n_testable": summary["n_testable"],
            "n_recovered": summary["n_recovered"],
            "n_significant": significant, "n_false": false,
            "fdp": false / significant if significant else 0.0,
            "n_null": len(null), "n_null_beside_strong": int(null["beside_strong"].sum()),
            "n_false_beside_strong": int((null["significant"] & null["beside_strong"]
                                          & ~null["leakage"]).sum()),
            "n_true_leakage": int((null["significant"] & null["leakage"]).sum()),
        })
    return rows


def flagged_tests(tests: pd.DataFrame, null: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Every tested row with `planted` (a planted effect's test) and its `planted_sign`,
    `leakage` and `beside_strong`."""
    tested = tests[tests["status"] == "tested"].copy()
    tested["planted"] = ~tested.index.isin(null.index)
    for flag in ("leakage", "beside_strong"):
        tested[flag] = null[flag].reindex(tested.index, fill_value=False).astype(bool)
    sign = {k: np.sign(v) for k, v in zip(truth[evaluation.KEYS].itertuples(index=False, name=None),
                                          truth["log2_fold_change"], strict=True)}
    keys = zip(tested["case"], tested["axis"], tested["module"], tested["cell_type"], strict=True)
    tested["planted_sign"] = [sign.get(k, 0.0) for k in keys]
    return tested


def recall_by_effect_size(recovery: pd.DataFrame) -> pd.DataFrame:
    """Planted, testable and recovered effects per method and effect-size band (a power curve)."""
    bands = pd.cut(recovery["log2_fold_change"], EFFECT_BANDS, include_lowest=True)
    table = recovery.groupby(["method", bands.astype(str)], sort=False).agg(
        planted=("recovered", "size"), testable=("testable", "sum"),
        recovered=("recovered", "sum")).reset_index().rename(columns={"log2_fold_change": "band"})
    table["recall_testable"] = (table["recovered"] / table["testable"]).round(4)
    return table.sort_values(["method", "band"], kind="stable")


def beside_strong_test(frame: pd.DataFrame) -> dict:
    """One-sided Fisher exact test: are null tests beside strong programs significant more often?"""
    beside_false = int(frame["n_false_beside_strong"].sum())
    beside_null = int(frame["n_null_beside_strong"].sum())
    other_false = int(frame["n_false"].sum()) - beside_false
    other_null = int(frame["n_null"].sum()) - beside_null
    table = [[beside_false, beside_null - beside_false], [other_false, other_null - other_false]]
    _, p = sps.fisher_exact(table, alternative="greater")
    return {"false_beside_strong": beside_false, "null_beside_strong": beside_null,
            "false_elsewhere": other_false, "null_elsewhere": other_null, "fisher_p_greater": float(p)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=9)
    parser.add_argument("--seed", type=int, default=20251205)
    parser.add_argument("--out", type=Path, default=None, help="write the per-cohort table here (TSV)")
    parser.add_argument("--thinning", type=float, default=0.6,
                        help="fraction of counts one random group keeps (1 = no library-size difference)")
    parser.add_argument("--methods", default=",".join(m[0] for m in METHODS),
                        help="comma-separated subset of the methods (default: all)")
    parser.add_argument("--save-tests", type=Path, default=None,
                        help="write every tested row with its truth flags here (TSV)")
    parser.add_argument("--min-module-counts", type=int, default=None,
                        help="the detection gate (compare.min_module_counts; 0 tests every signature)")
    args = parser.parse_args()
    global THINNING, SELECTED, MIN_MODULE_COUNTS
    THINNING = args.thinning
    SELECTED = set(args.methods.split(","))
    if SELECTED - {m[0] for m in METHODS}:
        parser.error(f"unknown methods {sorted(SELECTED - {m[0] for m in METHODS})}")
    config = load_config([REPO / "config/config.yaml"], REPO / "workflow/schemas/config.schema.yaml")
    settings = Settings.from_config(config)
    MIN_MODULE_COUNTS = (settings.compare.min_module_counts if args.min_module_counts is None
                         else args.min_module_counts)
    axes = load_axes(REPO / "resources/signatures/axes")
    cell_types = load_cell_types(REPO / "resources/cell_types.yaml")
    # The demo's simulation settings (gene universe, ligand detection, planted genes) with this
    # benchmark's groups; each cohort brings its own planted set and seed.
    sim = design_from_settings(settings.simulation, args.seed, "fdr_check")
    sim.update(groups=GROUPS)
    for per_cohort in ("planted_effects", "seed"):
        sim.pop(per_cohort)
    started = time.perf_counter()
    rows = []
    for index in range(args.cohorts):
        rows += run_cohort(index, args.seed, axes, cell_types, settings, sim)
        print(f"cohort {index} done ({time.perf_counter() - started:.0f} s)", flush=True)
    frame = pd.DataFrame(rows)
    if args.save_tests:
        pd.concat(ALL_TESTS).to_csv(args.save_tests, sep="\t", index=False)
    if args.out:
        frame.to_csv(args.out, sep="\t", index=False)
        pd.concat(FALSE_POSITIVES).to_csv(args.out.with_suffix(".false_positives.tsv"), sep="\t",
                                          index=False)
    summary = {}
    for label, group in frame.groupby("method", sort=False):
        summary[label] = {
            "cohorts": len(group), "mean_fdp": round(float(group["fdp"].mean()), 4),
            "max_fdp": round(float(group["fdp"].max()), 4),
            "recall": round(float(group["n_recovered"].sum() / group["n_planted"].sum()), 4),
            "recall_testable": round(float(group["n_recovered"].sum() / group["n_testable"].sum()), 4),
            "recall_strong_cohorts": round(float(group.loc[group["strong"], "n_recovered"].sum()
                                                 / group.loc[group["strong"], "n_planted"].sum()), 4),
            "false_positives": int(group["n_false"].sum()),
            "moved_by_shared_genes": int(group["n_true_leakage"].sum()),
            "null_tests": int(group["n_null"].sum()), **beside_strong_test(group)}
    by_size = recall_by_effect_size(pd.concat(RECOVERY, ignore_index=True))
    print(frame.drop(columns="planted").to_string(index=False))
    print(by_size.to_string(index=False))
    for label, group in by_size.groupby("method", sort=False):
        summary[label]["recall_testable_by_log2fc"] = {
            row.band: round(float(row.recall_testable), 4) for row in group.itertuples()}
    print(pd.DataFrame(summary).T.to_string())
    print(json.dumps({"seconds": round(time.perf_counter() - started), "min_module_counts": MIN_MODULE_COUNTS,
                      "methods": summary}, sort_keys=True))


if __name__ == "__main__":
    main()
