"""Score the workflow against the planted ground truth of a simulated cohort: which planted
effects were recovered, at the signature and the sender -> receiver level, and what else came up."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from neurokine.curated.axes import Axis

KEYS = ["disease", "axis", "module", "cell_type"]


def recovery_table(truth: pd.DataFrame, results: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Each planted effect with its estimate and whether it was found (FDR < alpha, right sign)."""
    merged = truth.merge(results.rename(columns={"case": "disease"}), on=KEYS, how="left")
    merged["recovered"] = (merged["fdr"] < alpha) & (merged["effect"] * merged["log2_fold_change"] > 0)
    return merged[[*KEYS, "log2_fold_change", "effect", "fdr", "recovered"]]


def leakage_keys(truth: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    """(disease, axis, module, cell type) of modules a planted effect moved through shared genes.

    They come from the truth table's `shared_with` (`AXIS.module` names): such a module really
    changed, so a significant test of it is expected cross-talk ("leakage"), not a false discovery.
    """
    if "shared_with" not in truth.columns:
        return set()
    keys = set()
    for effect in truth.itertuples(index=False):
        shared = effect.shared_with if isinstance(effect.shared_with, str) else ""
        for name in filter(None, shared.split(",")):
            axis, module = name.rsplit(".", 1)
            keys.add((effect.disease, axis, module, effect.cell_type))
    return keys - set(truth[KEYS].itertuples(index=False, name=None))


def recovery_summary(truth: pd.DataFrame, results: pd.DataFrame, alpha: float) -> dict[str, float]:
    """Precision, recall, false positives and leakage of significant results against the truth.

    `precision` counts every significant test that is not a planted effect against the method,
    leakage included; `n_false_positives` leaves out leakage (modules that really moved through
    genes they share with a planted one, see `leakage_keys`), which `n_leakage` counts.
    """
    tested = results[results["status"] == "tested"].rename(columns={"case": "disease"})
    significant = tested[tested["fdr"] < alpha]
    planted = set(truth[KEYS].itertuples(index=False, name=None))
    leaky = leakage_keys(truth)
    found = set(significant[KEYS].itertuples(index=False, name=None))
    tested_keys = set(tested[KEYS].itertuples(index=False, name=None))
    recovered = recovery_table(truth, results, alpha)["recovered"].sum()
    # A planted effect in a cell type too rare to test cannot be found by any method.
    testable = len(planted & tested_keys)
    return {
        "n_planted": len(planted), "n_testable": testable, "n_recovered": int(recovered),
        "n_significant": len(found), "n_false_positives": len(found - planted - leaky),
        "n_leakage": len(found & leaky), "n_leakage_tests": len(tested_keys & leaky),
        "n_null_tests": len(tested_keys - planted - leaky),
        "recall": recovered / len(planted) if planted else float("nan"),
        "recall_testable": recovered / testable if testable else float("nan"),
        "precision": (len(found & planted) / len(found)) if found else float("nan"),
    }


def planted_sides(truth: pd.DataFrame, axes: Mapping[str, Axis]) -> pd.DataFrame:
    """Which planted effects move an axis's ligand (sender side) or receptor (receiver side).

    A planted effect changes only the genes listed in ``genes_moved``; it acts on the sender side
    of an axis when one of them is a ligand gene and on the receiver side when one is a receptor
    subunit.
    """
    rows = []
    for effect in truth.itertuples(index=False):
        moved = set(str(effect.genes_moved).split(",")) if isinstance(effect.genes_moved, str) else set()
        for axis_id, axis in axes.items():
            for side, genes in (("sender", set(axis.ligands)), ("receiver", set(axis.receptor_genes))):
                if moved & genes:
                    rows.append({"disease": effect.disease, "axis": axis_id, "side": side,
                                 "cell_type": effect.cell_type,
                                 "log2_fold_change": effect.log2_fold_change})
    return pd.DataFrame(rows, columns=["disease", "axis", "side", "cell_type", "log2_fold_change"])


def network_recovery(truth: pd.DataFrame, network: pd.DataFrame, axes: Mapping[str, Axis],
                     alpha: float) -> pd.DataFrame:
    """Each planted sender/receiver change: receivers (or senders) tested, found, wrong-signed.

    A planted change is *recovered* when at least one of its interactions is significant
    (BH-FDR < alpha) with the planted sign and none is significant with the opposite sign.
    """
    sides = planted_sides(truth, axes)
    tested = network[network["status"] == "tested"]
    rows = []
    for planted in sides.itertuples(index=False):
        mine = tested[(tested["case"] == planted.disease) & (tested["axis"] == planted.axis)
                      & (tested[planted.side].astype(str) == planted.cell_type)]
        hit = mine["fdr"] < alpha
        right = hit & (np.sign(mine["effect"]) == np.sign(planted.log2_fold_change))
        rows.append({**planted._asdict(), "n_tested": len(mine), "n_significant": int(right.sum()),
                     "n_wrong_sign": int((hit & ~right).sum()),
                     "recovered": bool(right.any() and not (hit & ~right).any())})
    return pd.DataFrame(rows, columns=[*sides.columns, "n_tested", "n_significant", "n_wrong_sign",
                                       "recovered"])


def network_false_positives(truth: pd.DataFrame, network: pd.DataFrame,
                            axes: Mapping[str, Axis], alpha: float) -> pd.DataFrame:
    """Significant interactions that no planted sender or receiver change explains."""
    sides = planted_sides(truth, axes)
    explained = {(r.disease, r.axis, r.side, r.cell_type) for r in sides.itertuples(index=False)}
    hits = network[(network["status"] == "tested") & (network["fdr"] < alpha)]
    keep = [not ((r.case, r.axis, "sender", str(r.sender)) in explained
                 or (r.case, r.axis, "receiver", str(r.receiver)) in explained)
            for r in hits.itertuples(index=False)]
    return hits[keep]


def ligand_detection(adata, axes: Mapping[str, Axis]) -> pd.DataFrame:
    """Per axis and cell type: the fraction of cells detecting the ligand, mean over samples.

    As the network stage counts a sender: per sample, the best alternative ligand complex, a cell
    counting when it detects every subunit; `producer` says whether the axis names the cell type.
    """
    counts = adata.X.tocsc() if hasattr(adata.X, "tocsc") else adata.X
    genes = {g: i for i, g in enumerate(adata.var_names)}
    groups = adata.obs.groupby(["sample_id", "cell_type"], observed=True).indices
    rows = []
    for axis_id, axis in axes.items():
        producers = {f["cell_type"] for f in axis.record.get("producers", [])}
        complexes = [c for c in axis.ligand_complexes if all(g in genes for g in c)]
        if not complexes:
            continue
        detected = np.column_stack([
            np.logical_and.reduce([np.asarray(counts[:, genes[g]].todense()).ravel() > 0 for g in c])
            for c in complexes])
        for (sample, cell_type), rows_idx in groups.items():
            fraction = detected[rows_idx].mean(axis=0).max()
            rows.append({"axis": axis_id, "cell_type": str(cell_type), "sample_id": str(sample),
                         "producer": str(cell_type) in producers, "fraction": float(fraction)})
    per_sample = pd.DataFrame(rows)
    return (per_sample.groupby(["axis", "cell_type", "producer"], as_index=False)["fraction"].mean())
