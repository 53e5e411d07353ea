"""The Methods text follows the tests that ran: a permutation-only run never claims a model or a
bootstrap, a model run names both checks with their numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import demo_settings

from neurokine.plot import methods
from neurokine.stats import compare


def results(test: str, n: int, *, boot: bool, perm: bool, design: str = "unpaired") -> pd.DataFrame:
    return pd.DataFrame({
        "status": "tested", "test": test, "design": design, "df_prior": 4.0,
        "perm_p_value": 0.1 if perm else np.nan, "perm_p_floor": 0.5 if perm else np.nan,
        "perm_method": "exact (4 labellings)" if perm else "not computed", "covariates": "sex",
        "boot_ci_low": -1.0 if boot else np.nan, "boot_ci_high": 1.0 if boot else np.nan,
    }, index=range(n))


def test_a_permutation_only_run_says_so():
    settings = demo_settings().compare
    text = methods.tests_paragraph(results(compare.PERMUTATION_TEST_NAME, 5, boot=False, perm=True,
                                           design="paired (within-donor differences)"), settings)
    assert "5 donor-level tests were run: 5 paired comparisons" in text
    assert "exact permutation p-value over every donor labelling" in text
    assert "linear model of one value per donor" not in text
    assert "No bootstrap interval was computed" in text and "bootstrap-t" not in text
    assert "floor) was 0.5 to 0.5" in text


def test_a_model_run_names_its_checks():
    settings = demo_settings().compare
    text = methods.tests_paragraph(results(compare.TEST_NAME, 7, boot=True, perm=False), settings)
    assert "7 donor-level tests were run: 7 unpaired comparisons" in text
    assert "moderated by empirical Bayes" in text and "bootstrap-t interval" in text
    assert "No permutation p-value was computed" in text and "Covariates in the model: sex." in text


def test_scoring_method_is_the_one_configured():
    settings = demo_settings()
    text = methods.scoring_paragraph(settings.scoring, settings.compare)
    assert "score_genes" in text and f"{settings.scoring.ctrl_size} control genes" in text
    ucell = methods.scoring_paragraph(type(settings.scoring)(**{**settings.scoring.__dict__,
                                                                "method": "ucell"}), settings.compare)
    assert "UCell" in ucell and "score_genes" not in ucell


def test_the_depth_paragraph_follows_the_depth_plans_of_the_run():
    from neurokine.io.prepare import depth_plan

    depths = pd.DataFrame({"sample_id": ["a", "b", "c"], "cells_kept": [50, 60, 0],
                           "median_total_counts": [4000.0, 2000.0, np.nan]})
    text = methods.depth_paragraph({"demo": depth_plan(depths, equalize=True)})
    assert "thinned binomially" in text and "demo: 2,000 counts per cell" in text
    assert "samples kept 50% to 100% of their counts" in text  # the empty sample is not counted
    off = methods.depth_paragraph({"demo": depth_plan(depths, equalize=False)})
    assert "equalize_depth: false" in off and "thinned" not in off
    assert methods.depth_paragraph({}) == ""


def test_signatures_the_detection_gate_left_untested_are_counted():
    settings = demo_settings().compare
    tested = results(compare.TEST_NAME, 4, boot=False, perm=False).assign(reason="")
    gated = pd.DataFrame({"status": "not_tested", "reason": [
        f"{compare.UNDETECTED}: fewer than 3 donors of either arm have ...", "too few donors"]})
    text = methods.tests_paragraph(pd.concat([tested, gated], ignore_index=True), settings)
    assert "1 signature x cell-type row was not tested because" in text
    assert f"had {settings.min_module_counts} counts of them" in text
    assert "not detected" not in methods.tests_paragraph(tested, settings)
