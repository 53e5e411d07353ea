"""Score the workflow against the planted ground truth of a simulated cohort."""

from __future__ import annotations

import pandas as pd

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
    false_positives = len(found - planted)
    return {
        "n_planted": len(planted), "n_recovered": int(recovered), "n_significant": len(found),
        "n_false_positives": false_positives, "n_null_tests": len(tested) - len(planted & set(
            tested[KEYS].itertuples(index=False, name=None))),
        "recall": recovered / len(planted) if planted else float("nan"),
        "precision": (len(found & planted) / len(found)) if found else float("nan"),
    }
