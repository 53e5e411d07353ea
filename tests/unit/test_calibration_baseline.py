"""The cell-level baseline exists for calibration only, is labelled, and agrees with scipy."""

from __future__ import annotations

import calibration_tools as calibration
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from neurokine.stats.compare import RESULT_COLUMNS


def test_cell_level_wilcoxon_matches_scipy_and_is_labelled():
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"disease": ["MS"] * 30 + ["control"] * 40, "cell_type": "NK"})
    scores = pd.DataFrame({"TNF.response": rng.normal(size=70), "IL6.response": rng.normal(size=70)})
    table = calibration.cell_level_wilcoxon(obs, scores, "MS", "control").set_index("signature")
    expected = sps.mannwhitneyu(scores["TNF.response"][:30], scores["TNF.response"][30:]).pvalue
    assert table.loc["TNF.response", "p_value_cell_level"] == pytest.approx(expected)
    assert (table["label"] == calibration.CELL_LEVEL_LABEL).all()
    assert "CALIBRATION BASELINE ONLY" in calibration.CELL_LEVEL_LABEL


def test_cell_level_p_values_never_appear_in_results_columns():
    assert not any("cell_level" in c for c in RESULT_COLUMNS)


def test_distinct_splits_count_mirror_images_once():
    assert calibration._n_distinct_splits(8, 4) == 35
    assert calibration._n_distinct_splits(10, 3) == 120
    assert calibration._n_distinct_splits(12, 5, 5) == 792 * 21 // 2  # C(12,5) C(7,5) / 2
