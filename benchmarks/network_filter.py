"""Sender filter of the network stage: either arm (issue 16) against the pooled rule, side by side.

A cell type is a candidate sender when its ligand is detected in at least `min_ligand` of its
cells. The pooled rule averages the fraction over both arms (independent of the contrast, so it
cannot inflate false positives, but it misses a cytokine induced in one arm); the either-arm rule
(the workflow's) takes the larger arm's mean. Selecting on the larger arm is not independent of
the difference being tested, so its cost is measured under the null:

* null: onek1k_scdesignpop (40 healthy donors), random 8 vs 8 donor splits; per rule the number
  of interactions tested and the fraction with p < 0.05 and with BH-FDR < 0.05, and the same for
  the pairs only the either-arm rule admits (where any selection bias would sit);
* induced: kang_muscat_example (2 donors, paired, control vs IFN-beta): CXCR3-ligand edges from
  monocytes, tested or not, under each rule.

Both rules run on the same node scores in one process (the workflow's aggregate and network code).

    flock /tmp/neurokine-heavy.lock python benchmarks/network_filter.py [--data ../shared/data]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import calibration_tools as calibration
import numpy as np
import pandas as pd

from neurokine.curated.axes import Axis, all_genes, load_axes
from neurokine.io import prepare
from neurokine.scoring import aggregate
from neurokine.settings import Contrast
from neurokine.stats import network as nw

REPO = Path(__file__).resolve().parents[1]
ALPHA = 0.05
OPTIONS = {"covariates": [], "min_cells": 10, "n_boot": 0, "max_permutations": 2000,
           "permutation_max_arm": 8}


def run_rule(nodes: pd.DataFrame, contrast: Contrast, rule: str, min_ligand: float,
             min_donors: int, seed: int) -> pd.DataFrame:
    """The tested interactions of compare_interactions under one sender rule."""
    table = nw.compare_interactions(nodes, [contrast], min_donors=min_donors, seed=seed,
                                    min_ligand=min_ligand, min_receptor=0.1, sender_rule=rule,
                                    **OPTIONS)
    return table[table["status"] == "tested"]


def node_table(adata, axes) -> pd.DataFrame:
    """Node scores through the workflow's normalize/aggregate/network code."""
    adata = adata.copy()
    adata.layers["counts"] = adata.X.copy()
    adata = prepare.normalize(adata, 1e4)
    detection = aggregate.gene_detection(adata, all_genes(axes))
    return nw.node_scores(detection, aggregate.cell_counts(adata.obs), axes)


def pseudo_axes(adata, receptor: Axis, n_genes: int) -> list[Axis]:
    """Every measured gene as a 'ligand' of the receptor's complexes: enough pairs near the
    detection threshold for a null measurement (the file holds too few cytokine genes for one)."""
    detected = np.asarray((adata.X > 0).mean(axis=0)).ravel()
    order = np.argsort(-detected, kind="mergesort")
    genes = [adata.var_names[i] for i in order if 0.01 <= detected[i] <= 0.5][:n_genes]
    return [Axis(id=f"pseudo_{g}", name=g, ligands=(g,), receptor_complexes=receptor.receptor_complexes,
                 response=(), record={"ligands": [{"genes": [g]}]}) for g in genes]


def null_check(data: Path, axes, n_splits: int, min_ligand: float, n_genes: int) -> dict:
    """Random donor splits of healthy donors: false-positive rates of both rules, and of the
    pairs only the either-arm rule admits."""
    adata = calibration.load_shared_example(data, "onek1k_scdesignpop")
    receptor = next(a for a in axes if a.id == "TNF")
    nodes = node_table(adata, pseudo_axes(adata, receptor, n_genes))
    donors = np.array(sorted(nodes["donor_id"].astype(str).unique()))
    rng = np.random.default_rng(7)
    contrast = Contrast("case", "reference")
    key = ["tissue", "axis", "sender", "receiver"]
    rows = []
    for split in range(n_splits):
        drawn = rng.choice(donors, 16, replace=False)
        arms = calibration.relabel_donors(nodes[nodes["donor_id"].astype(str).isin(drawn)],
                                          set(drawn[:8]))
        tables = {rule: run_rule(arms, contrast, rule, min_ligand, 3, split) for rule in nw.SENDER_RULES}
        admitted = tables["either_arm"].merge(tables["pooled"][key], on=key, how="left", indicator=True)
        admitted = admitted[admitted["_merge"] == "left_only"]
        for rule, table in (*tables.items(), ("either_arm_only", admitted)):
            rows.append({"split": split, "rule": rule, "n_tested": len(table),
                         "n_senders": len(table[["axis", "sender"]].drop_duplicates()),
                         "n_p05": int((table["p_value"] < ALPHA).sum()),
                         "n_fdr05": int((table["fdr"] < ALPHA).sum())})
    frame = pd.DataFrame(rows)
    summary = frame.groupby("rule")[["n_tested", "n_senders", "n_p05", "n_fdr05"]].sum()
    summary["fpr_p05"] = (summary["n_p05"] / summary["n_tested"]).round(4)
    print(f"\nnull: onek1k_scdesignpop, {n_splits} random 8 vs 8 splits, {n_genes} pseudo-ligands, "
          f"min_ligand {min_ligand}")
    print(summary.to_string())
    return {rule: {k: (float(v) if k == "fpr_p05" else int(v)) for k, v in row.items()}
            for rule, row in summary.to_dict("index").items()}


def induced_check(data: Path, axes, min_ligand: float) -> dict:
    """Kang IFN-beta: which cell types qualify as senders of each axis under each rule (the
    file holds no CXCR3 receptor, so the edges themselves cannot be tested)."""
    nodes = node_table(calibration.load_shared_example(data, "kang_muscat_example"), axes)
    contrast = Contrast("IFNb_stim", "control")
    out = {}
    for rule in nw.SENDER_RULES:
        senders = nw.candidate_pairs(nodes.assign(receptor_fraction=1.0), contrast, min_ligand, 0.0,
                                     rule)[["axis", "sender"]].drop_duplicates()
        out[rule] = {a: sorted(g["sender"].astype(str)) for a, g in senders.groupby("axis")}
    fractions = nodes[nodes["axis"] == "CXCR3_ligands"].groupby(["cell_type", "disease"], observed=True)[
        "ligand_fraction"].mean().unstack()
    print(f"\nkang_muscat_example: CXCR3 ligand detection (mean over donors); senders at {min_ligand}")
    print(fractions.round(3).to_string())
    print(json.dumps(out, indent=1, sort_keys=True))
    out["cxcr3_ligand_fraction"] = {c: {d: round(float(v), 3) for d, v in r.items()}
                                    for c, r in fractions.to_dict("index").items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--genes", type=int, default=200)
    args = parser.parse_args()
    axes = load_axes(REPO / "resources/signatures/axes")
    result = {"null_min_ligand_0.1": null_check(args.data, axes, args.splits, 0.1, args.genes),
              "induced_min_ligand_0.5": induced_check(args.data, axes, 0.5),
              "induced_min_ligand_0.1": induced_check(args.data, axes, 0.1)}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
