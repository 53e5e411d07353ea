"""Recovery of planted effects: right sign and FDR both required; precision counts nulls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurokine.validation.evaluation import recovery_summary, recovery_table

TRUTH = pd.DataFrame([{"disease": "MS", "axis": "TNF", "module": "response", "cell_type": "m",
                       "log2_fold_change": 1.0}])


def results(effect, fdr, extra=()):
    rows = [{"case": "MS", "axis": "TNF", "module": "response", "cell_type": "m", "status": "tested",
             "effect": effect, "fdr": fdr}, *extra]
    return pd.DataFrame(rows)


def test_recovery_requires_right_sign_and_fdr():
    assert not recovery_table(TRUTH, results(-0.5, 0.001), 0.05)["recovered"].iloc[0]
    assert recovery_table(TRUTH, results(0.5, 0.001), 0.05)["recovered"].iloc[0]
    assert not recovery_table(TRUTH, results(0.5, np.nan), 0.05)["recovered"].iloc[0]


def test_summary_counts_false_positives_among_nulls():
    null_hit = {"case": "MS", "axis": "IL6", "module": "response", "cell_type": "m",
                "status": "tested", "effect": 0.3, "fdr": 0.01}
    null_quiet = {**null_hit, "axis": "IL2", "fdr": 0.9}
    summary = recovery_summary(TRUTH, results(0.5, 0.001, [null_hit, null_quiet]), 0.05)
    assert summary["recall"] == 1.0 and summary["precision"] == 0.5
    assert summary["n_false_positives"] == 1 and summary["n_null_tests"] == 2
