"""Contrasts run on donor-level values; strata that cannot be tested say why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurokine.errors import ConfigError
from neurokine.settings import Contrast
from neurokine.stats.compare import RESULT_COLUMNS, compare_groups
from neurokine.workflow.config import check_contrasts


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
    with pytest.raises(ConfigError, match=r"compare\.contrasts\[0\]: case and reference"):
        check_contrasts([Contrast("MS", "MS")], {"MS", "control"}, "config")
    with pytest.raises(ConfigError, match=r"compare\.contrasts\[0\]\.case.*'NMOSD'"):
        check_contrasts([Contrast("NMOSD", "control")], {"MS", "control"}, "scores.tsv")


# --- agreement with scipy, paired designs, moderation -------------------------------------------

from scipy import stats as sps  # noqa: E402

from neurokine.errors import InputError  # noqa: E402


def test_two_signatures_without_moderation_equal_scipy_t_test():
    # Fewer than 3 variances per family: no empirical-Bayes prior, so the test is Student's t.
    table = donor_table(shift=0.7, seed=3)
    result = run(table).set_index("signature")
    for signature in ("TNF.response", "IL6.response"):
        values = table[table["signature"] == signature]
        case = values.loc[values["disease"] == "MS", "mean_score"]
        ref = values.loc[values["disease"] == "control", "mean_score"]
        expected = sps.ttest_ind(case, ref)
        assert result.loc[signature, "t"] == pytest.approx(expected.statistic)
        assert result.loc[signature, "p_value"] == pytest.approx(expected.pvalue)
        assert result.loc[signature, "df_prior"] == 0


def many_signatures(n_sig=30, n_case=5, n_ref=5, seed=0, paired=False):
    """Donor table with many null signatures (so the prior is estimated)."""
    rng = np.random.default_rng(seed)
    rows = []
    donors = [(f"p{i}", "MS" if i < n_case else "control") for i in range(n_case + n_ref)]
    if paired:
        donors = [(f"p{i}", d) for i in range(n_case) for d in ("MS", "control")]
    for k in range(n_sig):
        sd = 0.2 * np.sqrt(8 / rng.chisquare(8))
        for donor, disease in donors:
            rows.append({"dataset_id": "d", "sample_id": f"{donor}_{disease}", "donor_id": donor,
                         "tissue": "CSF", "disease": disease, "cell_type": "NK",
                         "signature": f"AX{k}.response", "n_cells": 50, "mean_score": rng.normal(0, sd)})
    return pd.DataFrame(rows)


def test_moderation_estimates_a_prior_and_adds_its_df():
    result = run(many_signatures())
    tested = result[result["status"] == "tested"]
    assert (tested["df_prior"] > 0).all()
    # The prior never weighs more than half the test's own 8 residual df (shared donors).
    assert (tested["df_prior"] <= 4).all()
    assert np.allclose(tested["df"], np.minimum(8 + tested["df_prior"], 8 * len(tested)))
    assert set(tested["fdr_family"]) == {"d|MS_vs_control|CSF"}
    assert tested["test"].str.startswith("moderated linear model").all()


def shared_donor_nulls(seed: int, n_types: int = 12, n_sig: int = 15) -> pd.DataFrame:
    """Null donor values of many cell types x signatures whose donors carry one random offset per
    signature shared by every cell type, and cell types of different variance (as in real data)."""
    rng = np.random.default_rng(seed)
    donors = [(f"p{i}", "MS" if i < 6 else "control") for i in range(12)]
    offsets = rng.normal(0, 0.15, size=(len(donors), n_sig))
    rows = []
    for t in range(n_types):
        scale = 0.1 * (1 + 0.3 * (t % 3))
        for k in range(n_sig):
            for i, (donor, disease) in enumerate(donors):
                rows.append({"dataset_id": "d", "sample_id": f"{donor}_{disease}", "donor_id": donor,
                             "tissue": "CSF", "disease": disease, "cell_type": f"T{t}",
                             "signature": f"AX{k}.response", "n_cells": 50,
                             "mean_score": offsets[i, k] + rng.normal(0, scale)})
    return pd.DataFrame(rows)


def test_moderated_p_values_are_not_anti_conservative_when_tests_share_donors():
    """Under the null, p < 0.01 stays near 1% although the tests share donors and differ in
    variance (an unlimited prior, counted as independent evidence, gave several times that)."""
    coverage = pd.DataFrame({"signature": [f"AX{k}.response" for k in range(15)], "coverage": 1.0,
                             "status": "scored", "reason": ""})
    p = np.concatenate([
        compare_groups(shared_donor_nulls(seed), coverage, [Contrast("MS", "control")],
                       covariates=[], min_cells=10, min_donors=3, n_boot=0, seed=1,
                       permutation_max_arm=0)["p_value"].to_numpy(float) for seed in range(40)])
    assert len(p) == 40 * 12 * 15
    # 0.0076 with the prior limited to half the residual df; 0.0113 without the limit.
    assert (p < 0.01).mean() < 0.0105, (p < 0.01).mean()


def test_tested_rows_carry_no_nan_in_their_results():
    result = run(many_signatures(seed=4))
    tested = result[result["status"] == "tested"]
    columns = ["effect", "se", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high", "hedges_g",
               "hedges_g_se", "t", "df", "p_value", "fdr", "perm_p_value", "perm_p_floor"]
    assert tested[columns].notna().all().all()
    assert np.allclose(tested["perm_p_floor"], 2 / 252)
    assert tested["perm_method"].str.startswith("exact").all()


def test_paired_design_is_detected_and_equals_paired_t_test():
    table = many_signatures(n_sig=2, n_case=6, paired=True, seed=2)
    table.loc[table["disease"] == "MS", "mean_score"] += 0.3
    result = run(table).set_index("signature")
    row = result.loc["AX0.response"]
    assert row["design"].startswith("paired")
    assert row["n_donors_case"] == row["n_donors_reference"] == 6
    values = table[table["signature"] == "AX0.response"].sort_values("donor_id")
    case = values.loc[values["disease"] == "MS", "mean_score"].to_numpy()
    ref = values.loc[values["disease"] == "control", "mean_score"].to_numpy()
    expected = sps.ttest_rel(case, ref)
    assert row["p_value"] == pytest.approx(expected.pvalue)
    assert row["effect"] == pytest.approx((case - ref).mean())
    assert row["perm_p_floor"] == pytest.approx(2 / 64)


def test_two_paired_donors_are_tested_with_a_stated_caution():
    table = many_signatures(n_sig=5, n_case=2, paired=True, seed=1)
    result = run(table, min_donors=2)
    tested = result[result["status"] == "tested"]
    assert len(tested) == 5
    assert tested["reason"].str.contains("no p-value can be small").all()
    assert (tested["perm_p_value"] >= 0.5).all() and (tested["p_value"] == tested["perm_p_value"]).all()
    assert tested["test"].str.startswith("exact permutation").all()
    assert tested["p_value_model"].notna().all()
    assert tested["boot_ci_low"].isna().all()
    # df = 1: Hedges' g would be exactly 0 (correction factor 1 - 3/3); it is NaN with the reason.
    assert (tested["df"] > 1).all()  # the moderated df borrows the prior; the residual df is 1
    assert tested["hedges_g"].isna().all() and tested["hedges_g_se"].isna().all()
    assert tested["reason"].str.contains("hedges_g is not defined with 1 residual degree").all()
    assert (tested["effect"].abs() > 0).all()


def test_csf_and_blood_of_one_donor_count_once_with_tissue_covariate():
    csf = many_signatures(n_sig=4, seed=5)
    blood = csf.assign(tissue="blood", sample_id=csf["sample_id"] + "_pb",
                       mean_score=csf["mean_score"] + 0.5)
    result = run(pd.concat([csf, blood]), covariates=["tissue"])
    tested = result[result["status"] == "tested"]
    assert (tested["tissue"] == "CSF+blood").all()
    assert (tested["n_donors_case"] == 5).all() and (tested["n_donors_reference"] == 5).all()
    assert tested["design"].str.contains("within 10 donors").all()
    # the +0.5 blood offset is removed within donors, so effects match the CSF-only analysis
    csf_only = run(csf)
    csf_only = csf_only[csf_only["status"] == "tested"].set_index("signature")["effect"]
    np.testing.assert_allclose(tested.set_index("signature").loc[csf_only.index, "effect"], csf_only)


# --- bad input ------------------------------------------------------------------------------------


def test_one_donor_per_arm_is_not_tested_never_a_crash():
    result = run(donor_table(n_case=1, n_ref=1), min_donors=2)
    assert (result["status"] == "not_tested").all()
    assert result["reason"].str.contains("1 case and 1 reference donors").any()
    result = run(donor_table(n_case=1, n_ref=1), min_donors=1)
    assert (result["status"] == "not_tested").all()
    assert result["reason"].str.contains("too few donors").any()
    assert result["p_value"].isna().all()


def test_contrast_label_missing_from_data_gives_not_tested_rows():
    result = compare_groups(donor_table(), COVERAGE, [Contrast("NMOSD", "control")], covariates=[],
                            min_cells=10, min_donors=3, n_boot=100, seed=1)
    assert (result["status"] == "not_tested").all()
    scored = result[result["signature"] != "IL2.response"]
    assert scored["reason"].str.contains("no donors labelled 'NMOSD'").all() and len(scored) == 2


def test_missing_column_is_a_clear_error():
    with pytest.raises(InputError, match="donor_id"):
        run(donor_table().drop(columns="donor_id"))


def test_covariate_confounded_numerically_is_not_tested():
    table = donor_table()
    table["age"] = np.where(table["disease"] == "MS", 30.0, 60.0)
    result = run(table, covariates=["age"])
    tested = result[result["signature"] != "IL2.response"]
    assert (tested["status"] == "not_tested").all()
    assert tested["reason"].str.contains("age confounded with MS vs control").all()


def test_covariate_varying_within_donor_is_dropped():
    table = donor_table()
    extra = table[table["donor_id"] == "p0"].assign(sample_id="s0b", sex="other")
    result = run(pd.concat([table, extra]), covariates=["sex"])
    tested = result[result["status"] == "tested"]
    assert tested["covariates"].str.contains("dropped sex: varies within donor").all()
    assert (tested["n_donors_case"] == 5).all()


def test_constant_values_are_not_tested_with_reason():
    table = donor_table()
    table.loc[table["signature"] == "IL6.response", "mean_score"] = 1.0
    row = run(table).set_index("signature").loc["IL6.response"]
    assert row["status"] == "not_tested" and "no variation between donors" in row["reason"]


def test_missing_values_are_not_tested_with_reason():
    table = donor_table()
    table.loc[(table["signature"] == "IL6.response") & (table["donor_id"] == "p1"), "mean_score"] = np.nan
    row = run(table).set_index("signature").loc["IL6.response"]
    assert row["status"] == "not_tested" and "missing" in row["reason"]


def test_abundance_columns_join_composition_tests():
    composition = pd.DataFrame({"contrast": ["MS_vs_control"], "tissue": ["CSF"],
                                "cell_type": ["mono_classical"], "status": ["tested"],
                                "effect": [0.8], "fdr": [0.01]})
    result = run(donor_table(), composition_tests=composition)
    tested = result[result["status"] == "tested"]
    assert (tested["abundance_effect"] == 0.8).all() and (tested["abundance_fdr"] == 0.01).all()


def test_results_are_reproducible():
    first, second = run(many_signatures(seed=9)), run(many_signatures(seed=9))
    pd.testing.assert_frame_equal(first, second)


def test_diseases_share_one_control_group_and_named_pairs_work():
    ms = donor_table(shift=1.5, seed=1)
    nmosd = donor_table(shift=0.0, seed=2)
    nmosd = nmosd[nmosd["disease"] == "MS"].assign(disease="NMOSD", donor_id=lambda f: "n" + f["donor_id"],
                                                   sample_id=lambda f: "n" + f["sample_id"])
    table = pd.concat([ms, nmosd])
    contrasts = [Contrast("MS", "control"), Contrast("NMOSD", "control"), Contrast("MS", "NMOSD")]
    result = compare_groups(table, COVERAGE, contrasts, covariates=[], min_cells=10, min_donors=3,
                            n_boot=100, seed=1)
    tested = result[result["status"] == "tested"].set_index(["contrast", "signature"])
    assert tested.loc[("MS_vs_control", "TNF.response"), "n_donors_reference"] == 5
    assert tested.loc[("NMOSD_vs_control", "TNF.response"), "n_donors_reference"] == 5
    assert tested.loc[("MS_vs_NMOSD", "TNF.response"), "fdr"] < 0.05
    assert tested.loc[("MS_vs_NMOSD", "TNF.response"), "design"] == "unpaired"
    assert result["fdr_family"].nunique() == 3  # one family per contrast (one tissue)


def module_count_table(table, counts_by_signature):
    """pseudobulk.module_counts-shaped table: per sample x signature, counts from a function of
    (signature, disease, donor index)."""
    rows = table[["sample_id", "cell_type", "signature", "disease"]].drop_duplicates()
    return pd.DataFrame({
        "sample_id": rows["sample_id"], "cell_type": rows["cell_type"], "signature": rows["signature"],
        "module_counts": [counts_by_signature(s, d, int(i[1:])) for s, d, i in
                          zip(rows["signature"], rows["disease"], rows["sample_id"], strict=True)]})


def test_a_signature_without_detected_genes_is_not_tested_with_the_reason():
    table = donor_table(shift=1.5)
    # IL6's genes: no counts anywhere; TNF's: detected only in cases (induced from zero).
    counts = module_count_table(table, lambda s, d, i: 0 if s == "IL6.response" else (50 if d == "MS" else 0))
    result = run(table, module_counts=counts, min_module_counts=10).set_index("signature")
    assert result.loc["IL6.response", "status"] == "not_tested"
    assert "min_module_counts=10" in result.loc["IL6.response", "reason"]
    assert result.loc["TNF.response", "status"] == "tested" and result.loc["TNF.response", "fdr"] < 0.01
    # without the counts, or with the gate at 0, both are tested (the gate is what removed IL6)
    assert (run(table).set_index("signature").loc[["IL6.response", "TNF.response"], "status"]
            == "tested").all()
    at_zero = run(table, module_counts=counts, min_module_counts=0).set_index("signature")
    assert at_zero.loc["IL6.response", "status"] == "tested"


def test_detection_needs_enough_donors_of_one_arm():
    table = donor_table()
    # two case donors and two reference donors detect IL6: neither arm reaches min_donors = 3
    counts = module_count_table(table, lambda s, d, i: 20 if s == "TNF.response" or i in (0, 1, 5, 6) else 0)
    result = run(table, module_counts=counts).set_index("signature")
    assert result.loc["IL6.response", "status"] == "not_tested"
    three = module_count_table(table, lambda s, d, i: 20 if s == "TNF.response" or i in (0, 1, 2) else 0)
    assert run(table, module_counts=three).set_index("signature").loc["IL6.response", "status"] == "tested"
