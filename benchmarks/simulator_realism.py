"""Old vs new demo simulator, side by side: can the simulator fail the method? (issue 16, item 2)

The earlier simulator planted each effect only on genes no other axis names, detected ligands in
most cells of most types and had a ~1,000-gene universe. The new one (the config default) moves
every gene of the planted module, shared genes included, by heterogeneous per-gene amounts;
detects a ligand in a few percent of its producers' cells; and adds a long tail of rarely
detected background genes. A third, when the optional CytoSig reference is installed, plants each
response program as the top 50 genes of the axis's CytoSig signature by their CytoSig weights
(`planted_genes: cytosig`), a real program the curated sets only partly name. All are run here on
the same demo design (config/config.yaml: its
groups, donors, planted effects and seed offsets), cohort by cohort, and go through the
workflow's own code (QC, depth equalization, normalization, scoring, donor aggregation, the
donor-level compare stage; the joint activity fit of `neurokine.stats.activity` on the pseudobulk).

Reported per simulator and scoring method (mean, pseudobulk, ucell), pooled over cohorts:

* recall of the planted effects (and of the ligand effects alone) and precision (planted / all
  significant tests, BH-FDR 0.05);
* leakage: significant tests of null modules that share a gene with a planted one (same disease
  and cell type; `neurokine.validation.evaluation.leakage_keys` on the new simulator's truth
  table, the same set for both simulators), beside the other false positives;
* activities: for each planted response effect, whether the joint activity of the planted axis
  is significant (up), and how many gene-sharing axes' activities are, up or down, against the
  per-module response tests (mean scores) of the same axes (does the joint fit attribute the
  program to the right axis where per-module scores leak?), and other significant activities;
* ligand detection in control donors, producers vs other cell types (as the network counts a
  sender), and the gene universe.

    flock /tmp/neurokine-heavy.lock python benchmarks/simulator_realism.py [--cohorts 3]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from neurokine.curated import references
from neurokine.curated.axes import gene_sets, load_axes
from neurokine.curated.cell_types import load_cell_types
from neurokine.io import prepare
from neurokine.scoring import aggregate
from neurokine.scoring.engine import score_cells
from neurokine.settings import Settings
from neurokine.stats import activity, compare, pseudobulk
from neurokine.validation import evaluation, simulate
from neurokine.workflow.config import load_config

REPO = Path(__file__).resolve().parents[1]
ALPHA = 0.05
#: (label, scoring method, control pool), as in benchmarks/fdr_check.py.
METHODS = (("mean", "mean", "background"), ("pseudobulk", "pseudobulk", ""),
           ("ucell", "ucell", "scanpy"))
#: The earlier simulator: exclusive genes, ligands in most cells, ~1,000 genes.
OLD = {"planted_genes": "exclusive", "ligand_producer_weight": 3.0, "ligand_other_weight": 0.3,
       "n_background_genes": 600}
KEYS = evaluation.KEYS


def designs(settings: Settings, seed: int, cells_max: int | None) -> dict[str, dict]:
    """`cohort_model` keyword arguments of the old, the new (config) and, with the optional
    CytoSig reference, the CytoSig-program simulator."""
    new = simulate.design_from_settings(settings.simulation, seed, "demo_synthetic")
    if cells_max:
        low, _ = new["cells_per_donor"]
        new["cells_per_donor"] = (min(low, cells_max), cells_max)
    out = {"old": {**new, **OLD}, "new": new}
    if references.load_cytosig() is not None:
        out["cytosig"] = {**new, "planted_genes": "cytosig"}
    return out


def method_tests(prepared, pb, method: str, pool: str, axes, settings: Settings, seed: int
                 ) -> pd.DataFrame:
    """The compare stage's donor-level signature tests of one scoring method (`pb`: the
    prepared cells' pseudobulk)."""
    contrasts = list(settings.compare.contrasts)
    options = compare.compare_options(settings.compare, seed)
    # The compare stage's detection gate, as the workflow applies it to both measures.
    options.update(module_counts=pseudobulk.module_counts(pb, gene_sets(axes)),
                   min_module_counts=settings.compare.min_module_counts)
    if method == "pseudobulk":
        scores, coverage = pseudobulk.signature_scores(pb, gene_sets(axes),
                                                       settings.scoring.min_gene_coverage)
        return compare.compare_groups(scores, coverage, contrasts, value="mean_score",
                                      measure="pseudobulk_logcpm", **options)
    scores, coverage = score_cells(prepared.X, prepared.var_names, gene_sets(axes), method=method,
                                   control_pool=pool, random_state=seed,
                                   min_coverage=settings.scoring.min_gene_coverage)
    scores.index = prepared.obs_names
    return compare.compare_groups(aggregate.mean_scores(prepared.obs, scores), coverage, contrasts,
                                  **options)


def significant_keys(tests: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    """(disease, axis, module, cell type) of tested rows with BH-FDR < ALPHA."""
    hits = tests[(tests["status"] == "tested") & (tests["fdr"] < ALPHA)]
    return set(hits.rename(columns={"case": "disease"})[KEYS].itertuples(index=False, name=None))


def activity_rows(pb, axes, truth: pd.DataFrame, leaky: set, response_hits: set,
                  settings: Settings, seed: int) -> dict:
    """Planted response axes found by the joint activity fit; gene-sharing axes it flags (up, and
    down: the joint fit can hand shared genes to the planted axis and push the other one below
    zero) against the per-module response tests (mean scores) of the same axes; other hits."""
    model = activity.activity_model(axes, "curated")  # never the optional CytoSig install
    tests = activity.activity_tests(pb, list(settings.compare.contrasts),
                                    model, settings.compare, seed)
    hits = tests[(tests["status"] == "tested") & (tests["fdr"] < ALPHA)]
    found = set(zip(hits["case"], hits["axis"], hits["cell_type"], strict=True))
    rising = hits[hits["activity"] > 0]
    up = set(zip(rising["case"], rising["axis"], rising["cell_type"], strict=True))
    planted = truth[truth["module"] == "response"]
    planted_keys = {(r.disease, r.axis, r.cell_type) for r in planted.itertuples(index=False)}
    sharing = {(d, a, c) for d, a, m, c in leaky if m == "response"} - planted_keys
    return {"activity_planted": len(planted_keys),
            "activity_recovered": len(planted_keys & up),
            "activity_leakage_tests": len(sharing),
            "activity_leakage_up": len(sharing & up),
            "activity_leakage_down": len(sharing & (found - up)),
            "activity_other_significant": len(found - planted_keys - sharing),
            "module_leakage_significant": len({(d, a, c) for d, a, m, c in response_hits
                                               if m == "response"} & sharing)}


def detection_summary(adata, axes) -> dict:
    """Median and 95th percentile of ligand detection in control donors, producers vs others."""
    controls = adata[adata.obs["disease"].astype(str) == "control"]
    table = evaluation.ligand_detection(controls, {a.id: a for a in axes})
    out = {}
    for label, part in (("producer", table[table["producer"]]), ("other", table[~table["producer"]])):
        out[f"ligand_{label}_median"] = round(float(part["fraction"].median()), 4)
        out[f"ligand_{label}_p95"] = round(float(part["fraction"].quantile(0.95)), 4)
    detected = np.asarray((adata.X > 0).mean(axis=0)).ravel()
    out["genes"] = int(adata.n_vars)
    out["genes_below_1pct"] = round(float((detected < 0.01).mean()), 3)
    return out


def run_cohort(index: int, seed: int, axes, cell_types, settings: Settings,
               cells_max: int | None) -> list[dict]:
    """One cohort seed, both simulators: simulate, prepare, then every method and the activities."""
    effects = simulate.planted_effects_from_config(settings.simulation.planted_effects)
    # The gene-sharing modules come from the new simulator's truth for every simulator, so the
    # old one shows what the same tests give when nothing moved through shared genes; a CytoSig
    # program reaches more curated modules, and adds its own.
    shared = evaluation.leakage_keys(simulate.planted_truth(effects, axes, "all"))
    rows = []
    for label, design in designs(settings, seed + index, cells_max).items():
        started = time.perf_counter()
        model = simulate.cohort_model(axes, cell_types, **design)
        adata = simulate.cohort_anndata(model)
        truth = simulate.planted_truth(effects, axes, design["planted_genes"], model)
        leaky = shared | evaluation.leakage_keys(truth)
        detection = detection_summary(adata, axes)
        # The workflow's own prepare stage (QC, depth equalization, normalization).
        prepared = prepare.prepare_dataset(adata, settings.prepare, seed + index)[0]
        pb = aggregate.pseudobulk(prepared)  # once per cohort: every method and the activities
        response_hits: set = set()
        for method_label, method, pool in METHODS:
            tests = method_tests(prepared, pb, method, pool, axes, settings, seed)
            hits = significant_keys(tests)
            if method_label == "mean":
                response_hits = hits
            planted = set(truth[KEYS].itertuples(index=False, name=None))
            table = evaluation.recovery_table(truth, tests, ALPHA)
            recovered = int(table["recovered"].sum())
            ligand = table["module"] == "ligand"
            rows.append({"cohort": index, "simulator": label, "method": method_label,
                         "n_planted": len(planted), "n_recovered": recovered,
                         "n_planted_ligand": int(ligand.sum()),
                         "n_recovered_ligand": int(table.loc[ligand, "recovered"].sum()),
                         "n_significant": len(hits), "n_planted_significant": len(hits & planted),
                         "n_leakage": len(hits & leaky), "n_leakage_tests": len(leaky),
                         "n_false_other": len(hits - planted - leaky), **detection})
        extra = activity_rows(pb, axes, truth, leaky, response_hits, settings, seed)
        for row in rows[-len(METHODS):]:
            row.update(extra, seconds=round(time.perf_counter() - started, 1))
    return rows


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Per simulator and method: recall, precision, leakage and false positives pooled over cohorts."""
    sums = frame.groupby(["simulator", "method"], sort=False)[
        ["n_planted", "n_recovered", "n_planted_ligand", "n_recovered_ligand", "n_significant",
         "n_planted_significant", "n_leakage", "n_leakage_tests", "n_false_other"]].sum()
    sums["recall"] = (sums["n_recovered"] / sums["n_planted"]).round(3)
    sums["recall_ligand"] = (sums["n_recovered_ligand"] / sums["n_planted_ligand"]).round(3)
    sums["precision"] = (sums["n_planted_significant"] / sums["n_significant"]).round(3)
    sums["precision_excl_leakage"] = (sums["n_planted_significant"]
                                      / (sums["n_significant"] - sums["n_leakage"])).round(3)
    return sums.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None, help="first cohort's seed (default: config)")
    parser.add_argument("--cells-max", type=int, default=None,
                        help="cap cells per donor (default: the config's range)")
    parser.add_argument("--out", type=Path, default=None, help="write the per-cohort table here (TSV)")
    args = parser.parse_args()
    config = load_config([REPO / "config/config.yaml"], REPO / "workflow/schemas/config.schema.yaml")
    settings = Settings.from_config(config)
    axes = load_axes(REPO / "resources/signatures/axes")
    cell_types = load_cell_types(REPO / "resources/cell_types.yaml")
    seed = settings.seed if args.seed is None else args.seed
    started = time.perf_counter()
    rows = []
    for index in range(args.cohorts):
        rows += run_cohort(index, seed, axes, cell_types, settings, args.cells_max)
        print(f"cohort {index} done ({time.perf_counter() - started:.0f} s)", flush=True)
    frame = pd.DataFrame(rows)
    if args.out:
        frame.to_csv(args.out, sep="\t", index=False)
    summary = summarize(frame)
    activity_cols = ["activity_planted", "activity_recovered", "activity_leakage_tests",
                     "activity_leakage_up", "activity_leakage_down", "activity_other_significant",
                     "module_leakage_significant"]
    activities = (frame[frame["method"] == "mean"].groupby("simulator", sort=False)[activity_cols]
                  .sum().reset_index())
    detection_cols = ["genes", "genes_below_1pct", "ligand_producer_median", "ligand_producer_p95",
                      "ligand_other_median", "ligand_other_p95"]
    detection = frame[frame["method"] == "mean"].groupby("simulator", sort=False)[detection_cols].mean()
    pd.set_option("display.width", 200)
    print(frame[["cohort", "simulator", "method", "n_recovered", "n_significant", "n_leakage",
                 "n_false_other", "seconds"]].to_string(index=False))
    print(summary.to_string(index=False))
    print(activities.to_string(index=False))
    print(detection.round(4).to_string())
    print(json.dumps({"seconds": round(time.perf_counter() - started), "cohorts": args.cohorts,
                      "methods": summary.to_dict(orient="records"),
                      "activities": activities.to_dict(orient="records"),
                      "detection": detection.round(4).reset_index().to_dict(orient="records")},
                     sort_keys=True))


if __name__ == "__main__":
    main()
