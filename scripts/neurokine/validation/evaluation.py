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


def recovery_summary(truth: pd.DataFrame, results: pd.DataFrame, alpha: float) -> dict[str, float]:
    """Precision, recall and false positives of significant results against the planted truth."""
    tested = results[results["status"] == "tested"].rename(columns={"case": "disease"})
    significant = tested[tested["fdr"] < alpha]
    planted = set(truth[KEYS].itertuples(index=False, name=None))
    found = set(significant[KEYS].itertuples(index=False, name=None))
    recovered = recovery_table(truth, results, alpha)["recovered"].sum()
    # A planted effect in a cell type too rare to test cannot be found by any method.
    testable = len(planted & set(tested[KEYS].itertuples(index=False, name=None)))
    return {
        "n_planted": len(planted), "n_testable": testable, "n_recovered": int(recovered),
        "n_significant": len(found), "n_false_positives": len(found - planted),
        "n_null_tests": len(tested) - testable,
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
