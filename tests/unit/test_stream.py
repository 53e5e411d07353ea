"""The bounded-memory pass over an .h5ad on disk gives the same tables as the in-memory code,
reads the matrix only in row blocks, and fails clearly (leaving nothing behind) on bad input."""

from __future__ import annotations

import logging

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.curated.axes import gene_sets
from neurokine.errors import InputError
from neurokine.io.files import write_h5ad
from neurokine.io.prepare import normalize
from neurokine.scoring import aggregate, detection
from neurokine.scoring.engine import score_cells
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.rows import BackedRows
from neurokine.scoring.stream import score_and_aggregate

PARAMS = ScoringParams(method="mean", random_state=4, min_coverage=0.5, n_null=5, chunk_nnz=60_000)


@pytest.fixture(scope="module")
def prepared(small_cohort):
    """A prepared (normalized, counts layer) AnnData of ~1,500 simulated cells."""
    return normalize(small_cohort[0][:1500].copy(), 1e4)


@pytest.fixture(scope="module")
def curated(axes):
    """Gene sets, detection features and ligand/receptor genes of the curated axes."""
    lr = [g for a in axes for g in (*a.ligands, *a.receptor_genes)]
    return gene_sets(axes), detection.axis_features(axes), lr


@pytest.fixture(scope="module")
def on_disk(prepared, tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "prepared.h5ad"
    write_h5ad(prepared, path)  # gzip-compressed, as the prepare rule writes it
    return path


def run(path, curated, tmp_path, params=PARAMS, **kwargs):
    sets, features, lr = curated
    return score_and_aggregate(path, sets, features, lr, params,
                               cell_scores_path=tmp_path / "cell_scores.parquet",
                               cell_detection_path=tmp_path / "cell_detection.parquet", **kwargs)


def test_streamed_tables_equal_the_in_memory_functions(prepared, on_disk, curated, tmp_path):
    sets, features, lr = curated
    result = run(on_disk, curated, tmp_path)
    assert result.n_blocks > 1  # the small block budget really splits the file
    scores, coverage = score_cells(prepared.X, prepared.var_names, sets, random_state=4,
                                   min_coverage=0.5)
    streamed = pd.read_parquet(tmp_path / "cell_scores.parquet")
    assert streamed.index.name == "cell_id" and list(streamed.index) == list(prepared.obs_names)
    # with nulls the control term is summed apart from the set term: last-bit differences only
    np.testing.assert_allclose(streamed.to_numpy(), scores.to_numpy(), rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(result.coverage.drop(columns=["n_null"]),
                                  coverage.drop(columns=["n_null"]))

    keys = ["sample_id", "cell_type", "signature"]
    expected = aggregate.mean_scores(prepared.obs, scores.set_index(prepared.obs_names))
    merged = result.donor_scores.merge(expected, on=keys, suffixes=("", "_ref"))
    assert len(merged) == len(expected) == len(result.donor_scores)
    np.testing.assert_allclose(merged["mean_score"], merged["mean_score_ref"], atol=1e-12)
    assert list(result.donor_scores.columns) == list(expected.columns)

    genes = aggregate.gene_detection(prepared, lr)
    pd.testing.assert_frame_equal(result.gene_detection, genes, check_exact=False, atol=1e-12)

    complexes = detection.group_detection(prepared.X, prepared.var_names,
                                          prepared.obs[["sample_id", "cell_type"]], features)
    streamed_rd = result.receptor_detection[complexes.columns]
    pd.testing.assert_frame_equal(streamed_rd, complexes, check_exact=False, atol=1e-12)
    assert {"donor_id", "disease"} <= set(result.receptor_detection.columns)

    bulk = aggregate.pseudobulk(prepared)
    assert (result.pseudobulk.X != bulk.X).nnz == 0
    pd.testing.assert_frame_equal(result.pseudobulk.obs.astype(str), bulk.obs.astype(str))

    cells = pd.read_parquet(tmp_path / "cell_detection.parquet")
    reference = detection.cell_detection(prepared.X, prepared.var_names, features)
    np.testing.assert_array_equal(cells.to_numpy(), reference.to_numpy())
    pd.testing.assert_frame_equal(result.cell_counts, aggregate.cell_counts(prepared.obs))


def test_null_calibration_compares_each_group_with_its_nulls(on_disk, curated, tmp_path):
    result = run(on_disk, curated, tmp_path)
    table = result.null_calibration
    assert (table["n_null"] == 5).all()
    merged = table.merge(result.donor_scores, on=["sample_id", "cell_type", "signature"])
    np.testing.assert_allclose(merged["mean_score_x"], merged["mean_score_y"])
    # nulls equal within the tie tolerance have no spread (aggregate.calibration_table)
    finite = table["null_sd"] > aggregate.TIE_TOLERANCE * np.maximum(1.0, table["null_mean"].abs())
    assert table.loc[~finite, "null_z"].isna().all()
    np.testing.assert_allclose(table.loc[finite, "null_z"],
                               (table["mean_score"] - table["null_mean"])[finite]
                               / table.loc[finite, "null_sd"])
    assert table["null_p_upper"].between(1 / 6, 1).all() and table["null_p_lower"].between(1 / 6, 1).all()
    sizes = result.null_sets.groupby("signature")["n_genes"].unique()
    scored = result.coverage.set_index("signature")["n_genes_scored"]
    assert all(list(v) == [scored[k]] for k, v in sizes.items())  # size-matched


def test_a_planted_signal_stands_out_from_its_nulls(small_cohort, tmp_path, curated):
    """The fixture plants an MS TNF response in monocytes and an NMOSD type I IFN response in
    CD4 memory T cells: their calibrated z must exceed the controls' for every method."""
    adata = normalize(small_cohort[0].copy(), 1e4)
    path = tmp_path / "cohort.h5ad"
    write_h5ad(adata, path)
    for method in ("mean", "weighted", "ucell"):
        params = ScoringParams(method=method, random_state=1, min_coverage=0.5, n_null=20)
        table = run(path, curated, tmp_path, params).null_calibration
        for signature, disease, cell_type in (("TNF.response", "MS", "mono_classical"),
                                              ("IFN_I.response", "NMOSD", "CD4_T_memory")):
            rows = table[(table["signature"] == signature) & (table["cell_type"] == cell_type)]
            z = rows.groupby("disease")["null_z"].median()
            assert z[disease] > z["control"] + 1, (method, signature, z.to_dict())
        ifn = table[(table["signature"] == "IFN_I.response") & (table["disease"] == "NMOSD")
                    & (table["cell_type"] == "CD4_T_memory")]
        assert (ifn["null_p_upper"] == 1 / 21).mean() >= 0.8  # above all 20 nulls


def test_the_matrix_is_only_ever_read_in_row_blocks(on_disk, curated, tmp_path, monkeypatch):
    """Slicing genes of a backed CSR loads it whole: every read must be a plain row slice."""
    seen = []
    original = BackedRows.__init__

    def spy(self, handle, key, source):
        original(self, handle, key, source)
        backed = self._backed

        class Recorder:
            shape = backed.shape

            def __getitem__(self, index):
                seen.append(index)
                assert isinstance(index, slice) and index.step is None, index
                return backed[index]

        self._backed = Recorder()

    monkeypatch.setattr(BackedRows, "__init__", spy)
    result = run(on_disk, curated, tmp_path)
    assert len(seen) == 3 * result.n_blocks  # X twice (statistics, scores), counts once


def test_csc_and_dense_files_give_the_same_scores(prepared, on_disk, curated, tmp_path, caplog):
    reference = run(on_disk, curated, tmp_path / "ref").donor_scores
    for layout, message in ((sp.csc_matrix, "stored as CSC"), (np.asarray, "dense array")):
        other = prepared.copy()
        other.X = layout(prepared.X.toarray() if layout is np.asarray else prepared.X)
        path = tmp_path / f"{message.split()[-1]}.h5ad"
        other.write_h5ad(path)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="neurokine.scoring.rows"):
            result = run(path, curated, tmp_path / message.split()[-1])
        assert message in caplog.text
        pd.testing.assert_frame_equal(result.donor_scores, reference)


def corrupt(prepared, path, change):
    """Write a copy of the prepared data with one change applied."""
    broken = prepared.copy()
    change(broken)
    broken.write_h5ad(path)
    return path


def test_bad_files_fail_naming_field_and_genes_and_leave_nothing(prepared, curated, tmp_path):
    def negative_counts(a):
        a.layers["counts"] = a.layers["counts"].copy()
        a.layers["counts"].data[7] = -3

    def nan_values(a):
        a.X = a.X.copy()
        a.X.data[11] = np.inf

    def duplicated(a):
        names = list(a.var_names)
        names[3] = names[2]
        a.var_names = names

    cases = [(negative_counts, "layers/counts", "negative counts",
              lambda a: a.var_names[a.layers["counts"].indices[7]]),
             (nan_values, "X", "NaN or infinite", lambda a: a.var_names[a.X.indices[11]]),
             (duplicated, "var_names", "duplicated gene names", lambda a: a.var_names[2])]
    for change, field, problem, gene in cases:
        out = tmp_path / change.__name__
        out.mkdir()
        path = corrupt(prepared, out / "bad.h5ad", change)
        with pytest.raises(InputError) as info:
            run(path, curated, out)
        assert info.value.field == field and problem in info.value.problem
        assert str(gene(prepared)) in str(info.value)
        assert sorted(p.name for p in out.iterdir()) == ["bad.h5ad"]  # no partial output


def test_no_scorable_signature_is_an_error(on_disk, tmp_path):
    with pytest.raises(InputError, match="no signature could be scored"):
        score_and_aggregate(on_disk, {"X.response": ["NOT_A_GENE"]}, [], [], PARAMS,
                            cell_scores_path=tmp_path / "s.parquet")
    assert not list(tmp_path.iterdir())


def test_missing_counts_layer_is_named(prepared, curated, tmp_path):
    bare = ad.AnnData(X=prepared.X, obs=prepared.obs, var=prepared.var)
    path = tmp_path / "bare.h5ad"
    bare.write_h5ad(path)
    with pytest.raises(InputError) as info:
        run(path, curated, tmp_path)
    assert info.value.field == "layers/counts"
    with h5py.File(path) as handle:
        assert "layers/counts" not in handle
