"""QC bookkeeping, normalization and the harmonized-input checks."""

from __future__ import annotations

import dataclasses

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.prepare import (
    apply_qc,
    cells_per_gene,
    check_harmonized,
    keep_cells,
    normalize,
    qc_metrics,
)
from neurokine.settings import PrepareSettings

THRESHOLDS = PrepareSettings(min_counts=500, max_counts=50000, min_genes=100, max_genes=6000,
                             max_pct_mito=10.0, min_cells_per_gene=3, target_sum=1e4)


def test_qc_table_is_monotone_and_matches_the_output(small_cohort):
    adata, _ = small_cohort
    filtered, table = apply_qc(adata, THRESHOLDS)
    totals = table.groupby("order")["cells_kept"].sum()
    assert totals.is_monotonic_decreasing
    assert totals.iloc[0] == adata.n_obs
    assert totals.iloc[-1] == filtered.n_obs < adata.n_obs  # low-quality cells were removed
    assert list(table.drop_duplicates("order")["step"]) == [
        "input", "vocabulary_cell_type", "min_counts", "max_counts", "min_genes", "max_genes",
        "max_pct_mito"]
    metrics = qc_metrics(filtered)
    assert metrics["pct_mito"].max() <= THRESHOLDS.max_pct_mito
    assert metrics["total_counts"].min() >= THRESHOLDS.min_counts


def test_normalize_keeps_counts_and_logs_scaled_values(small_cohort):
    adata, _ = small_cohort
    subset = adata[:50].copy()
    prepared = normalize(subset.copy(), target_sum=1e4)
    assert (prepared.layers["counts"] != sp.csr_matrix(subset.X)).nnz == 0
    row_sums = np.expm1(prepared.X.toarray()).sum(axis=1)
    np.testing.assert_allclose(row_sums, 1e4, rtol=1e-4)
    assert prepared.X.dtype == np.float32


def _frame(adata):
    return adata[:20].copy()


@pytest.mark.parametrize(
    ("corrupt", "field", "problem"),
    [
        (lambda a: a.obs.drop(columns="donor_id", inplace=True), "obs.donor_id", "missing"),
        (lambda a: a.obs.__setitem__("disease", pd.Series([""] * a.n_obs, index=a.obs_names)),
         "obs.disease", "empty label"),
        (lambda a: setattr(a, "X", sp.csr_matrix(a.X, dtype=np.float32) * 0.5), "X", "non-integer"),
        (lambda a: setattr(a, "X", -sp.csr_matrix(a.X, dtype=np.float32)), "X", "negative"),
        (lambda a: a.X.data.__setitem__(0, np.nan) if a.X.dtype.kind == "f" else
         setattr(a, "X", sp.csr_matrix(np.where(a.X.toarray() > 0, np.nan, 0.0))), "X", "NaN"),
        (lambda a: setattr(a, "var_names", ["GENE"] * a.n_vars), "var_names", "duplicated"),
    ],
)
def test_bad_input_names_file_field_and_fix(small_cohort, corrupt, field, problem):
    adata = _frame(small_cohort[0])
    corrupt(adata)
    with pytest.raises(InputError) as caught:
        check_harmonized(adata, "input.h5ad")
    assert caught.value.source == "input.h5ad"
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert caught.value.fix


def test_no_cell_passing_qc_is_a_clear_error(small_cohort):
    with pytest.raises(InputError, match="no cell passed"):
        apply_qc(small_cohort[0][:30].copy(), dataclasses.replace(THRESHOLDS, min_counts=10**9))


def test_reserved_cell_types_are_counted_then_removed(small_cohort):
    adata = small_cohort[0][:200].copy()
    labels = adata.obs["cell_type"].astype(str).to_numpy().copy()
    labels[:10] = "doublet"
    labels[10:15] = "unassigned"
    adata.obs["cell_type"] = pd.Categorical(labels)
    filtered, table = apply_qc(adata, dataclasses.replace(THRESHOLDS, min_counts=0, min_genes=0,
                                                           max_pct_mito=100.0))
    totals = table.groupby("step", sort=False)["cells_kept"].sum()
    assert totals["input"] - totals["vocabulary_cell_type"] == 15
    assert not set(filtered.obs["cell_type"].astype(str)) & {"doublet", "unassigned"}


def test_keep_cells_equals_anndata_subsetting(small_cohort):
    adata = small_cohort[0][:300].copy()
    keep = np.random.default_rng(3).random(adata.n_obs) < 0.6
    ours, theirs = keep_cells(adata, keep), adata[keep].copy()
    assert (ours.X != theirs.X).nnz == 0
    pd.testing.assert_frame_equal(ours.obs, theirs.obs)
    pd.testing.assert_frame_equal(ours.var, theirs.var)
    assert ours.uns.keys() == theirs.uns.keys()


def test_cells_per_gene_ignores_stored_zeros_across_slices(monkeypatch):
    matrix = sp.random(400, 60, density=0.2, format="csr", random_state=4, dtype=np.float64)
    matrix.data[::7] = 0.0  # stored zeros are not detections
    monkeypatch.setattr("neurokine.io.prepare.CHECK_CHUNK", 97)
    expected = np.asarray((matrix > 0).sum(axis=0)).ravel()
    np.testing.assert_array_equal(cells_per_gene(matrix), expected)


def test_normalize_in_slices_equals_one_pass_and_leaves_counts_intact(small_cohort, monkeypatch):
    subset = small_cohort[0][:200].copy()
    counts = sp.csr_matrix(subset.X).copy()
    counts.data[:5] = 0  # stored zeros must leave X without touching the shared counts
    whole = normalize(ad.AnnData(X=counts.copy()), target_sum=1e4)
    monkeypatch.setattr("neurokine.io.prepare.CHECK_CHUNK", 113)
    sliced = normalize(ad.AnnData(X=counts.copy()), target_sum=1e4)
    np.testing.assert_array_equal(sliced.X.toarray(), whole.X.toarray())
    assert sliced.X.nnz == counts.nnz - 5
    np.testing.assert_array_equal(sliced.layers["counts"].toarray(), counts.toarray())
    assert sliced.layers["counts"].nnz == counts.nnz
