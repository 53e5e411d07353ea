"""Cross-dataset random-effects meta-analysis of donor-level Hedges' g."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from neurokine.stats.meta import META_COLUMNS, meta_analysis


def dataset_tests(dataset, g, se, status="tested"):
    return pd.DataFrame({"dataset_id": dataset, "contrast": "MS_vs_control", "case": "MS",
                         "reference": "control", "tissue": "CSF", "signature": "TNF.response",
                         "cell_type": "mono_classical", "status": status, "hedges_g": g,
                         "hedges_g_se": se, "n_donors_case": 5, "n_donors_reference": 6}, index=[0])


def test_three_datasets_pool_like_statsmodels():
    tables = [dataset_tests("a", 0.9, 0.5), dataset_tests("b", 0.2, 0.4), dataset_tests("c", 1.4, 0.6)]
    result = meta_analysis(tables)
    assert list(result.columns) == META_COLUMNS and len(result) == 1
    row = result.iloc[0]
    reference = combine_effects(np.array([0.9, 0.2, 1.4]), np.array([0.5, 0.4, 0.6]) ** 2, method_re="dl")
    assert row["status"] == "tested" and row["datasets"] == "a,b,c" and row["n_datasets"] == 3
    assert row["effect"] == pytest.approx(reference.mean_effect_re)
    assert row["se"] == pytest.approx(reference.sd_eff_w_re)
    assert 0 <= row["i2"] < 1 and row["n_donors_case"] == 15
    assert row["fdr_family"] == "meta|MS_vs_control|CSF|response"


def test_single_dataset_says_so_and_claims_no_p_value():
    result = meta_analysis([dataset_tests("demo", 0.9, 0.5), dataset_tests("other", 0.1, 0.3, "not_tested")])
    row = result.iloc[0]
    assert row["status"] == "single_dataset" and "needs at least 2 datasets" in row["reason"]
    assert "demo, other" in row["reason"]
    assert row["effect"] == pytest.approx(0.9) and np.isnan(row["p_value"]) and np.isnan(row["i2"])


def test_no_tables_gives_empty_result():
    assert meta_analysis([]).empty
