"""Composition: per-donor proportions and CLR, tested with the same donor-level model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurokine.stats.compare import Contrast
from neurokine.stats.composition import COMPOSITION_COLUMNS, clr_table, composition_tests

TYPES = ["CD4_T_memory", "CD8_T", "NK", "mono_classical", "pDC"]


def counts_table(n_case=5, n_ref=5, mono_fold=1.0, seed=0, zero_type=None):
    """cell_counts.tsv-like table; monocytes multiplied by mono_fold in cases."""
    rng = np.random.default_rng(seed)
    base = np.array([0.4, 0.25, 0.1, 0.2, 0.05])
    rows = []
    for i in range(n_case + n_ref):
        disease = "MS" if i < n_case else "control"
        props = rng.dirichlet(base * 200)
        if disease == "MS":
            props[3] *= mono_fold
            props /= props.sum()
        counts = rng.multinomial(1000, props)
        for t, n in zip(TYPES, counts, strict=True):
            rows.append({"dataset_id": "d", "sample_id": f"s{i}", "donor_id": f"p{i}", "tissue": "CSF",
                         "disease": disease, "cell_type": t, "n_cells": 0 if t == zero_type else int(n)})
    frame = pd.DataFrame(rows)
    frame["n_cells_sample"] = frame.groupby("sample_id")["n_cells"].transform("sum")
    return frame


def run(table, **kw):
    options = dict(covariates=[], min_cells=10, min_donors=3, n_boot=200, seed=1)
    options.update(kw)
    return composition_tests(table, [Contrast("MS", "control")], **options)


def test_clr_sums_to_zero_and_proportions_to_one():
    table = clr_table(counts_table())
    sums = table.groupby("sample_id")[["clr", "proportion"]].sum()
    np.testing.assert_allclose(sums["clr"], 0.0, atol=1e-12)
    np.testing.assert_allclose(sums["proportion"], 1.0)
    row = table.iloc[0]
    logs = np.log(table[table["sample_id"] == row["sample_id"]]["n_cells"] + 0.5)
    assert row["clr"] == pytest.approx(np.log(row["n_cells"] + 0.5) - logs.mean())


def test_more_monocytes_are_found_and_reported_with_proportions():
    result = run(counts_table(mono_fold=2.5)).set_index("cell_type")
    assert list(run(counts_table()).columns) == COMPOSITION_COLUMNS
    mono = result.loc["mono_classical"]
    assert mono["status"] == "tested" and mono["effect"] > 0.5 and mono["fdr"] < 0.05
    assert mono["mean_proportion_case"] > 1.8 * mono["mean_proportion_reference"]
    assert mono["fdr_family"] == "d|MS_vs_control|CSF|composition"
    assert mono["perm_p_floor"] == pytest.approx(2 / 252)


def test_null_composition_is_quiet():
    result = run(counts_table(seed=3))
    assert (result["fdr"] > 0.05).all()


def test_absent_type_and_too_few_donors_are_not_tested_with_reasons():
    table = counts_table(zero_type="pDC")
    row = run(table).set_index("cell_type").loc["pDC"]
    assert row["status"] == "not_tested" and "no cells of this type anywhere" in row["reason"]
    partly = counts_table()
    partly.loc[(partly["cell_type"] == "pDC") & (partly["disease"] == "MS"), "n_cells"] = 0
    partly.loc[(partly["cell_type"] == "pDC") & (partly["disease"] == "control"), "n_cells"] = 0
    partly = pd.concat([partly, partly.head(5).assign(disease="NMOSD", sample_id="x", donor_id="x",
                                                      n_cells=[5, 5, 5, 5, 5])])
    row = run(partly).set_index("cell_type").loc["pDC"]
    assert row["status"] == "not_tested" and "no cells of this type in either arm" in row["reason"]
    small = run(counts_table(n_case=2))
    assert (small["status"] == "not_tested").all()
    assert small["reason"].str.contains("min_donors_per_arm is 3").all()
