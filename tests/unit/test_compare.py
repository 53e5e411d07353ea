"""Contrasts run on donor-level values; strata that cannot be tested say why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurokine.compare import (
    RESULT_COLUMNS,
    Contrast,
    check_contrast_groups,
    compare_groups,
    contrasts_from_config,
)
from neurokine.errors import ConfigError


def donor_table(n_case=5, n_ref=5, shift=1.0, n_cells=30, seed=0, cell_type="mono_classical"):
    """A long donor-level table: two signatures, one shifted in cases."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_case + n_ref):
        disease = "MS" if i < n_case else "control"
        for signature, delta in (("TNF.response", shift), ("IL6.response", 0.0)):
            rows.append({"dataset_id": "d", "sample_id": f"s{i}", "donor_id": f"p{i}", "tissue": "CSF",
                         "disease": disease, "cell_type": cell_type, "signature": signature,
                         "n_cells": n_cells, "sex": "female" if i % 2 else "male",
                         "mean_score": rng.normal() * 0.2 + (delta if disease == "MS" else 0.0)})
    return pd.DataFrame(rows)


COVERAGE = pd.DataFrame({"signature": ["TNF.response", "IL6.response", "IL2.response"],
                         "coverage": [1.0, 0.9, 0.1], "status": ["scored", "scored", "skipped"],
                         "reason": ["", "", "gene coverage 0.10 is below scoring.min_gene_coverage=0.5"]})


def run(table, **kwargs):
    options = dict(covariates=[], min_cells=10, min_donors=3, n_boot=200, seed=1)
    options.update(kwargs)
    return compare_groups(table, COVERAGE, [Contrast("MS", "control")], **options)


def test_shifted_signature_is_found_and_null_is_not():
    result = run(donor_table(shift=1.5)).set_index("signature")
    assert list(run(donor_table()).columns) == RESULT_COLUMNS
    assert result.loc["TNF.response", "fdr"] < 0.01
    assert result.loc["IL6.response", "p_value"] > 0.01
    assert result.loc["TNF.response", "n_donors_case"] == 5
    tnf = result.loc["TNF.response"]
    assert tnf["ci_low"] < tnf["effect"] < tnf["ci_high"]


def test_unscored_signature_is_reported_not_dropped():
    row = run(donor_table()).set_index("signature").loc["IL2.response"]
    assert row["status"] == "not_tested" and "not scored: gene coverage" in row["reason"]


def test_too_few_donors_is_not_tested_with_reason():
    result = run(donor_table(n_case=2))
    assert (result["status"] == "not_tested").all()
    assert result["reason"].str.contains("min_donors_per_arm is 3").any()
    assert result["p_value"].isna().all()


def test_too_few_cells_is_not_tested_with_reason():
    result = run(donor_table(n_cells=5))
    assert result["reason"].str.contains("min_cells_per_donor=10").any()


def test_confounded_covariate_is_not_tested_not_a_crash():
    table = donor_table()
    table["sex"] = np.where(table["disease"] == "MS", "female", "male")
    result = run(table, covariates=["sex"])
    tested = result[result["signature"] != "IL2.response"]
    assert (tested["status"] == "not_tested").all()
    assert tested["reason"].str.contains("confounded").all()


def test_constant_covariate_is_dropped_and_noted():
    table = donor_table()
    table["sex"] = "female"
    result = run(table, covariates=["sex"])
    assert (result.loc[result["status"] == "tested", "covariates"] == "dropped sex: constant").all()


def test_repeated_samples_of_one_donor_count_once():
    table = donor_table()
    extra = table[table["donor_id"] == "p0"].assign(sample_id="s0b")
    result = run(pd.concat([table, extra]))
    assert result.loc[result["status"] == "tested", "n_donors_case"].iloc[0] == 5


def test_contrast_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"compare\.contrasts\[0\]"):
        contrasts_from_config([{"case": "MS", "reference": "MS"}])
    with pytest.raises(ConfigError, match=r"compare\.contrasts\[0\]\.case.*'NMOSD'"):
        check_contrast_groups([Contrast("NMOSD", "control")], {"MS", "control"}, "scores.tsv")
