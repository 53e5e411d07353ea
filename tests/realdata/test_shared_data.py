"""Real cells, real donors: null calibration on random donor splits and the IFN-beta positive control.

Reads the three small 10x datasets in ../shared/data (relative to the repository root; the
NEUROKINE_SHARED_DATA environment variable may point elsewhere, e.g. from a git worktree). Each
test skips, saying why, when its file is absent. The numbers recorded in benchmarks/RESULTS.md
come from benchmarks/real_data_checks.py, which runs more splits.

Signature gene coverage: these files keep only ~1,000-1,300 genes, so signatures are scored at
a gene coverage of at least 0.3 (the workflow default is 0.5, which would leave ~11 signatures).
"""

from __future__ import annotations

import os
from pathlib import Path

import calibration_tools as calibration
import numpy as np
import pytest

from neurokine.stats import compare

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("NEUROKINE_SHARED_DATA", REPO / ".." / "shared" / "data"))
pytestmark = pytest.mark.realdata
MIN_COVERAGE = 0.3


def scored(name, axes):
    """The workflow's normalize/score/aggregate code on one shared dataset (skip if absent)."""
    if not (DATA / name / f"{name}.h5ad").is_file():
        pytest.skip(f"{DATA / name / (name + '.h5ad')} is absent: the real-data checks need "
                    "../shared/data next to the repository (or NEUROKINE_SHARED_DATA)")
    adata = calibration.load_shared_example(DATA, name)
    return calibration.score_donors(adata, axes, qc=None, target_sum=1e4, min_coverage=MIN_COVERAGE)


@pytest.fixture(scope="module")
def kang_ctrl8(axes):
    return scored("kang_muscat_ctrl8", axes)


@pytest.fixture(scope="module")
def onek1k(axes):
    return scored("onek1k_scdesignpop", axes)


@pytest.fixture(scope="module")
def kang_stim(axes):
    return scored("kang_muscat_example", axes)


def test_kang_ctrl8_random_splits_donor_level_calibrated_cell_level_inflated(kang_ctrl8):
    prepared, cell_scores, donor_scores, coverage = kang_ctrl8
    splits = calibration.random_split_fpr(prepared.obs, cell_scores, donor_scores, coverage, n_case=4,
                                          n_splits=35, seed=1, n_boot=100)
    assert len(splits) == 35  # every distinct 4 vs 4 split of the 8 donors
    fpr = np.average(splits["fpr"], weights=splits["n_tests"])
    cell = np.average(splits["fpr_cell_level"], weights=splits["n_tests_cell_level"])
    print(f"kang_muscat_ctrl8, 35 splits 4 vs 4: donor-level fpr {fpr:.3f}, cell-level {cell:.3f}")
    assert fpr <= 0.08
    assert cell >= 0.15 and cell >= 3 * fpr


def test_onek1k_random_splits_with_covariates(onek1k):
    prepared, cell_scores, donor_scores, coverage = onek1k
    assert {"sex", "age"} <= set(donor_scores.columns)
    splits = calibration.random_split_fpr(prepared.obs, cell_scores, donor_scores, coverage, n_case=20,
                                          n_splits=30, seed=2, covariates=["sex", "age"], n_boot=100)
    fpr = np.average(splits["fpr"], weights=splits["n_tests"])
    cell = np.average(splits["fpr_cell_level"], weights=splits["n_tests_cell_level"])
    print(f"onek1k_scdesignpop, 30 splits 20 vs 20 (+sex, age): donor-level fpr {fpr:.3f}, "
          f"cell-level {cell:.3f}")
    assert fpr <= 0.08
    assert cell >= 0.15 and cell >= 3 * fpr


def test_kang_ifn_beta_type_i_ifn_is_the_largest_effect_in_every_cell_type(kang_stim):
    _, _, donor_scores, coverage = kang_stim
    contrast = compare.Contrast("IFNb_stim", "control")
    result = compare.compare_groups(donor_scores, coverage, [contrast], covariates=[], min_cells=10,
                                    min_donors=2, n_boot=200, seed=1)
    response = result[(result["status"] == "tested") & (result["module"] == "response")]
    assert response["design"].str.startswith("paired").all()
    by_type = response.pivot_table(index="cell_type", columns="axis", values="effect")
    assert len(by_type) == 5
    assert (by_type.idxmax(axis=1) == "IFN_I").all(), by_type.round(2).to_string()
    assert (by_type["IFN_I"] > 0).all()
    # the direction holds in both donors, cell type by cell type
    per_donor = compare.effect_direction_by_donor(donor_scores, contrast)
    ifn = per_donor[per_donor["signature"] == "IFN_I.response"]
    assert ifn["donor_id"].nunique() == 2 and len(ifn) == 10 and (ifn["difference"] > 0).all()
    # with 2 donors no distribution-free p-value can be small, and the table says so
    ifn_rows = response[response["axis"] == "IFN_I"]
    assert (ifn_rows["perm_p_value"] >= 0.5).all() and np.allclose(ifn_rows["perm_p_floor"], 0.5)
    assert (ifn_rows["p_value"] >= 0.5).all()
    assert ifn_rows["reason"].str.contains("no p-value can be small").all()
