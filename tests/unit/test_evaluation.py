"""Recovery of planted effects: right sign and FDR both required; precision counts nulls;
modules sharing moved genes are leakage."""

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


def test_a_module_sharing_moved_genes_counts_as_leakage_not_as_a_false_positive():
    truth = TRUTH.assign(shared_with="IL1.response,IL6.response")
    leaked = {"case": "MS", "axis": "IL1", "module": "response", "cell_type": "m",
              "status": "tested", "effect": 0.4, "fdr": 0.01}
    elsewhere = {**leaked, "cell_type": "other"}  # the same module in another cell type: null
    quiet = {**leaked, "axis": "IL6", "fdr": 0.6}
    summary = recovery_summary(truth, results(0.5, 0.001, [leaked, elsewhere, quiet]), 0.05)
    assert summary["n_leakage"] == 1 and summary["n_leakage_tests"] == 2
    assert summary["n_false_positives"] == 1 and summary["n_null_tests"] == 1
    assert summary["precision"] == 1 / 3  # leakage still counts against precision
    # without the truth's shared_with the same hit is a false positive
    plain = recovery_summary(TRUTH, results(0.5, 0.001, [leaked, elsewhere, quiet]), 0.05)
    assert plain["n_false_positives"] == 2 and plain["n_leakage"] == 0
