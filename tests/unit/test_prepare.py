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
    depth_plan,
    gather_qc,
    keep_cells,
    normalize,
    prepare_dataset,
    prepare_shard,
    qc_metrics,
    qc_shard,
    shallow_sample_warning,
    thin_to_depth,
)
from neurokine.settings import PrepareSettings

THRESHOLDS = PrepareSettings(min_counts=500, max_counts=50000, min_genes=100, max_genes=6000,
                             max_pct_mito=10.0, min_cells_per_gene=3, target_sum=1e4,
                             equalize_depth=True)


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


# --------------------------------------------------------------------------- depth equalization


def thin_group(adata: ad.AnnData, group: str, fraction: float, seed: int) -> ad.AnnData:
    """A copy whose `group` cells keep `fraction` of their counts: a depth difference by group."""
    counts = sp.csr_matrix(adata.X, copy=True)
    member = np.repeat(adata.obs["disease"].astype(str).to_numpy() == group, np.diff(counts.indptr))
    counts.data[member] = np.random.default_rng(seed).binomial(counts.data[member], fraction)
    counts.eliminate_zeros()
    out = adata.copy()
    out.X = counts.astype(np.int32)
    return out


def test_equalized_samples_share_the_shallowest_depth_and_keep_raw_counts(small_cohort):
    adata = thin_group(small_cohort[0], "MS", 0.5, seed=1)
    prepared, _, depth = prepare_dataset(adata, THRESHOLDS, seed=3)
    raw, _, _ = prepare_dataset(adata, dataclasses.replace(THRESHOLDS, equalize_depth=False), seed=3)
    assert (prepared.layers["counts"] != raw.layers["counts"]).nnz == 0  # raw counts kept
    target = depth["target_total_counts"].iloc[0]
    assert target == depth["median_total_counts"].min()
    shallowest = depth.loc[depth["median_total_counts"].idxmin(), "sample_id"]
    assert depth.set_index("sample_id").loc[shallowest, "keep_fraction"] == 1.0
    detected = np.diff(prepared.X.indptr)
    raw_detected = np.diff(raw.X.indptr)
    assert (detected <= raw_detected).all() and (detected < raw_detected).any()
    samples = prepared.obs["sample_id"].astype(str).to_numpy()
    ratio = pd.Series(detected / raw_detected).groupby(samples).mean()
    kept = depth.set_index("sample_id")["keep_fraction"]
    # Deeper samples lose more detected genes; the shallowest loses none.
    assert ratio[shallowest] == 1.0
    assert np.corrcoef(ratio.to_numpy(), kept.reindex(ratio.index).to_numpy())[0, 1] > 0.9


def test_thinning_is_the_same_whichever_samples_share_the_matrix(small_cohort):
    counts = prepare_dataset(small_cohort[0], dataclasses.replace(THRESHOLDS, equalize_depth=False),
                             seed=0)[0].layers["counts"]
    samples = np.asarray([f"S{i % 3}" for i in range(counts.shape[0])])  # interleaved rows
    fractions = {"S0": 0.5, "S1": 0.8, "S2": 1.0}
    together = thin_to_depth(counts, samples, fractions, seed=11)
    for sample in ("S0", "S1"):
        rows = np.flatnonzero(samples == sample)
        alone = thin_to_depth(counts[rows], samples[rows], fractions, seed=11)
        assert (together[rows] != alone).nnz == 0
    s2 = np.flatnonzero(samples == "S2")
    assert (together[s2] != counts[s2]).nnz == 0
    assert (thin_to_depth(counts, samples, fractions, seed=11) != together).nnz == 0
    assert (thin_to_depth(counts, samples, fractions, seed=12) != together).nnz > 0
    kept = together[np.flatnonzero(samples == "S0")].sum() / counts[np.flatnonzero(samples == "S0")].sum()
    assert abs(kept - 0.5) < 0.01


def test_equalizing_depth_removes_most_of_a_depth_difference_in_sparse_genes(small_cohort):
    """Log-normalized values of sparse genes fall with depth: a group at half depth looks lower."""
    adata = thin_group(small_cohort[0], "MS", 0.5, seed=2)
    differences = {}
    for equalize in (False, True):
        prepared, _, _ = prepare_dataset(adata, dataclasses.replace(THRESHOLDS, equalize_depth=equalize),
                                         seed=5)
        x = prepared.X.tocsc()
        sparse = np.asarray((x != 0).mean(axis=0)).ravel() < 0.2
        per_cell = np.asarray(x[:, sparse].mean(axis=1)).ravel()
        groups = prepared.obs["disease"].astype(str).to_numpy()
        samples = prepared.obs["sample_id"].astype(str).to_numpy()
        donor = pd.Series(per_cell).groupby(samples).mean()
        arm = pd.Series(groups).groupby(samples).first()
        differences[equalize] = donor[arm == "MS"].mean() - donor[arm == "control"].mean()
    assert differences[False] < 0  # the thinned group's sparse genes read lower
    assert abs(differences[True]) < 0.25 * abs(differences[False])


def test_depth_plan_without_equalizing_keeps_every_count():
    depths = pd.DataFrame({"sample_id": ["b", "a", "c"], "cells_kept": [10, 20, 0],
                           "median_total_counts": [2000.0, 4000.0, np.nan]})
    off = depth_plan(depths, equalize=False)
    assert list(off["sample_id"]) == ["a", "b", "c"] and (off["keep_fraction"] == 1.0).all()
    assert off["target_total_counts"].isna().all()
    on = depth_plan(depths, equalize=True).set_index("sample_id")
    assert on.loc["a", "keep_fraction"] == 0.5 and on.loc["b", "keep_fraction"] == 1.0
    assert on.loc["c", "keep_fraction"] == 1.0  # no kept cell: nothing to thin
    assert shallow_sample_warning(depth_plan(depths, equalize=True)) is None


def test_a_much_shallower_sample_is_named_in_a_warning():
    depths = pd.DataFrame({"sample_id": ["a", "b", "c"], "cells_kept": [50, 60, 40],
                           "median_total_counts": [4000.0, 3800.0, 900.0]})
    warning = shallow_sample_warning(depth_plan(depths, equalize=True))
    assert warning is not None and "sample c" in warning and "equalize_depth" in warning
    assert shallow_sample_warning(depth_plan(depths, equalize=False)) is None


def test_prepare_shard_refuses_samples_missing_from_the_depth_plan(small_cohort):
    adata = small_cohort[0][:400].copy()
    record, steps = qc_shard(adata, THRESHOLDS)
    _, genes, depth = gather_qc([record], [steps], THRESHOLDS, ["x"])
    with pytest.raises(InputError, match="not in the depth plan"):
        prepare_shard(adata, record, genes, depth.iloc[1:], THRESHOLDS, 0, "shard-x.h5ad")
