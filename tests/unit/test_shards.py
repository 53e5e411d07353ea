"""Shards of whole samples: the plan, row-range reads, the streamed simulator, and QC, scoring
and aggregation split into shards giving what one pass over the whole dataset gives."""

from __future__ import annotations

from functools import partial

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from neurokine.curated.axes import gene_sets
from neurokine.curated.cell_types import at_level
from neurokine.io import prepare
from neurokine.io.files import read_npz, write_h5ad, write_npz, write_tsv
from neurokine.io.shards import CountsWriter, read_samples, sample_rows, sample_sizes
from neurokine.scoring import detection
from neurokine.scoring.aggregate import AggregateTables, GroupState, combine_states, regroup
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.stream import plan_from_files, score_and_aggregate, score_file
from neurokine.settings import PrepareSettings
from neurokine.validation import simulate
from neurokine.validation.equivalence import frame_differences
from neurokine.workflow.shards import (
    PLAN_COLUMNS,
    assign_shards,
    plan_rows,
    read_plan,
    shard_ids,
    shard_samples,
    shard_size,
)

THRESHOLDS = PrepareSettings(min_counts=500, max_counts=50000, min_genes=100, max_genes=6000,
                             max_pct_mito=10.0, min_cells_per_gene=3, target_sum=1e4,
                             equalize_depth=True)
PARAMS = ScoringParams(method="mean", random_state=4, min_coverage=0.5, n_null=5, chunk_nnz=60_000)


def split_by_samples(adata: ad.AnnData, n_shards: int) -> list[ad.AnnData]:
    """Consecutive runs of whole samples (in order of appearance), as the shard plan makes them."""
    samples = list(dict.fromkeys(adata.obs["sample_id"].astype(str)))
    cells = adata.obs["sample_id"].astype(str).value_counts()[samples].tolist()
    max_cells = next(m for m in range(max(cells), sum(cells) + 1)
                     if max(assign_shards(cells, m)) == n_shards)
    numbers = dict(zip(samples, assign_shards(cells, max_cells), strict=True))
    shard = adata.obs["sample_id"].astype(str).map(numbers).to_numpy()
    return [adata[shard == k].copy() for k in range(1, n_shards + 1)]


# --------------------------------------------------------------------------- the plan


def test_shards_are_consecutive_whole_samples_within_the_limit():
    cells = [50, 30, 40, 250, 10, 10, 90]
    numbers = assign_shards(cells, 100)
    assert numbers == [1, 2, 2, 3, 4, 4, 5]  # 250 > 100: a shard of its own
    assert numbers == sorted(numbers)
    for k in set(numbers):
        inside = [c for c, n in zip(cells, numbers, strict=True) if n == k]
        assert sum(inside) <= 100 or len(inside) == 1
    assert assign_shards(cells, 10**9) == [1] * len(cells)
    assert assign_shards([], 5) == []
    with pytest.raises(ValueError):
        assign_shards(cells, 0)


def test_shards_are_as_few_as_the_limit_allows_and_balanced():
    cells = [1000] * 102 + [300]  # filling up to 50,000 would leave a 2,300-cell last shard
    numbers = assign_shards(cells, 50_000)
    sizes = [sum(c for c, n in zip(cells, numbers, strict=True) if n == k) for k in set(numbers)]
    assert len(sizes) == 3 and max(sizes) <= 50_000
    assert max(sizes) - min(sizes) <= 1000  # about equal, not 49k + 49k + 2.3k


def test_plan_round_trip_and_shard_sizes(tmp_path):
    samples = [(f"s{i}", n, 7.6 * n) for i, n in enumerate([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 60])]
    rows = plan_rows(samples, 300, max_cells=10)
    path = tmp_path / "plan.tsv"
    write_tsv(pd.DataFrame(rows, columns=list(PLAN_COLUMNS)), path, sort_by=["shard"])
    assert read_plan(path) == rows
    assert shard_ids(path) == ["001", "002", "003", "004", "005", "006", "007"]
    assert shard_samples(path, "002") == ["s2", "s3"]
    size = shard_size(path, "007")
    assert (size.n_cells, size.nnz, size.n_genes, size.largest_sample_cells) == (60, 456, 300, 60)
    with pytest.raises(ValueError, match="a sample id appears twice"):
        plan_rows([("a", 1, 1), ("a", 2, 2)], 10, 5)


# --------------------------------------------------------------------------- reading and writing


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory):
    """An .h5ad whose samples' cells are not contiguous (as some deposits are)."""
    rng = np.random.default_rng(2)
    x = sp.random(40, 25, density=0.3, format="csr", random_state=3, dtype=np.float32)
    x.data = np.ceil(x.data * 9)
    obs = pd.DataFrame({"sample_id": rng.choice(["b", "a", "c"], size=40)},
                       index=[f"c{i}" for i in range(40)])
    adata = ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(25)]))
    path = tmp_path_factory.mktemp("h5ad") / "counts.h5ad"
    write_h5ad(adata, path)
    return adata, path


def test_sample_sizes_come_from_obs_and_row_pointers_in_order_of_appearance(interleaved):
    adata, path = interleaved
    sizes, n_genes = sample_sizes(path)
    labels = adata.obs["sample_id"].to_numpy()
    assert [s for s, _, _ in sizes] == list(dict.fromkeys(labels))
    for sample, cells, stored in sizes:
        assert cells == (labels == sample).sum()
        assert stored == adata.X[labels == sample].nnz
    assert n_genes == 25


def test_read_samples_gives_the_samples_rows_in_plan_order(interleaved):
    adata, path = interleaved
    part = read_samples(path, ["c", "a"])
    rows = sample_rows(adata.obs["sample_id"], ["c", "a"])
    assert list(part.obs_names) == list(adata.obs_names[rows])
    assert list(part.obs["sample_id"].unique()) == ["c", "a"]  # sample by sample
    assert (adata.X[rows] != part.X).nnz == 0 and part.X.dtype == adata.X.dtype
    whole = read_samples(path)
    assert (whole.X != adata.X).nnz == 0 and whole.obs.equals(adata.obs)
    with pytest.raises(Exception, match="samples not in the data"):
        read_samples(path, ["nope"])


def test_counts_writer_streams_blocks_and_leaves_nothing_when_aborted(tmp_path):
    blocks = [sp.random(n, 12, density=0.4, format="csr", random_state=n, dtype=np.float64)
              for n in (4, 0, 9)]
    blocks = [sp.csr_matrix(np.ceil(b.toarray() * 5).astype(np.int32)) for b in blocks]
    obs = pd.DataFrame({"sample_id": ["s"] * 13}, index=[f"c{i}" for i in range(13)])
    var = pd.DataFrame(index=[f"g{i}" for i in range(12)])
    writer = CountsWriter(tmp_path / "out.h5ad", 12, np.int32)
    for block in blocks:
        writer.append(block)
    writer.close(True, obs=obs, var=var, uns={"neurokine": {"synthetic": True}})
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert (sp.vstack(blocks, format="csr") != back.X).nnz == 0 and back.X.dtype == np.int32
    assert back.obs.equals(obs) and back.uns["neurokine"]["synthetic"]

    aborted = CountsWriter(tmp_path / "aborted.h5ad", 12, np.int32)
    aborted.append(blocks[0])
    aborted.close(False)
    with pytest.raises(ValueError, match="one row per written cell"):
        short = CountsWriter(tmp_path / "short.h5ad", 12, np.int32)
        short.append(blocks[0])
        short.close(True, obs=obs, var=var)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5ad"]  # no file, no temporary


# --------------------------------------------------------------------------- the simulator


def test_the_streamed_simulator_draws_the_same_cohort_donor_by_donor(axes, vocabulary):
    design = dict(groups=["control", "MS"], donors_per_group=3, cells_per_donor=(60, 120),
                  n_background_genes=80, mean_library_size=2000, dispersion=0.3, donor_sd=0.2,
                  donor_module_sd=0.1, composition_concentration=50, low_quality_fraction=0.05,
                  planted_effects=[simulate.PlantedEffect("MS", "TNF", "response",
                                                          "mono_classical", 2.0)], seed=11)
    whole = simulate.simulate_cohort(axes, vocabulary, **design)
    model = simulate.cohort_model(axes, vocabulary, **design)
    sizes = simulate.sample_sizes(model)
    assert [s for s, _, _ in sizes] == list(dict.fromkeys(whole.obs["sample_id"]))
    for sample, cells, expected in sizes:
        rows = (whole.obs["sample_id"] == sample).to_numpy()
        assert cells == rows.sum()
        assert 0.8 < expected / whole.X[rows].nnz < 1.25  # the plan's memory estimate
    # one shard's donors alone (numbers 2 and 5), without simulating the others' counts
    parts = list(simulate.iter_donor_cells(model, model.donor_numbers([sizes[1][0], sizes[4][0]])))
    rows = whole.obs["sample_id"].isin([sizes[1][0], sizes[4][0]]).to_numpy()
    assert (sp.vstack([c for _, c in parts], format="csr") != whole.X[rows]).nnz == 0
    obs = simulate.harmonized_obs([o for o, _ in parts])
    pd.testing.assert_frame_equal(obs.astype(str), whole.obs[rows].astype(str))


# --------------------------------------------------------------------------- QC in shards


def test_qc_in_shards_equals_qc_of_the_whole_dataset(small_cohort):
    adata = small_cohort[0]
    shards = split_by_samples(adata, 3)
    # A gene threshold at the median of the dataset's cells per gene: a shard alone would drop
    # genes the dataset keeps, so the filter must be gathered over all shards.
    counted = sum(prepare.qc_shard(part, THRESHOLDS)[0]["cells_per_gene"] for part in shards)
    thresholds = PrepareSettings(**{**THRESHOLDS.__dict__,
                                    "min_cells_per_gene": int(np.median(counted))})
    whole, table, whole_depth = prepare.prepare_dataset(adata, thresholds, seed=7)
    results = [prepare.qc_shard(part, thresholds) for part in shards]
    qc, genes, depth = prepare.gather_qc([r for r, _ in results], [t for _, t in results],
                                         thresholds, ["s1", "s2", "s3"])
    pd.testing.assert_frame_equal(depth, whole_depth)
    assert (depth["keep_fraction"] < 1).sum() == len(depth) - 1  # every sample but one is thinned
    alone = prepare.genes_kept(results[0][0]["cells_per_gene"], thresholds)
    assert alone.sum() < genes["kept"].sum()  # the gathered filter matters here
    assert genes["kept"].sum() == whole.n_vars < adata.n_vars
    sort = ["order", "sample_id"]
    pd.testing.assert_frame_equal(qc.sort_values(sort).reset_index(drop=True),
                                  table.sort_values(sort).reset_index(drop=True))
    prepared = [prepare.prepare_shard(part, record, genes, depth, thresholds, 7, f"s{i}")
                for i, (part, (record, _)) in enumerate(zip(shards, results, strict=True))]
    joined = ad.concat(prepared, merge="same")
    assert list(joined.obs_names) == list(whole.obs_names)
    assert (joined.X != whole.X).nnz == 0 and (joined.layers["counts"] != whole.layers["counts"]).nnz == 0
    pd.testing.assert_frame_equal(joined.obs.astype(str), whole.obs.astype(str))


def test_no_cell_passing_qc_in_any_shard_is_one_clear_error(small_cohort):
    strict = PrepareSettings(**{**THRESHOLDS.__dict__, "min_counts": 10**9})
    results = [prepare.qc_shard(part, strict) for part in split_by_samples(small_cohort[0], 2)]
    with pytest.raises(Exception, match="no cell passed the QC thresholds"):
        prepare.gather_qc([r for r, _ in results], [t for _, t in results], strict, ["a", "b"])


# --------------------------------------------------------------------------- scoring in shards


@pytest.fixture(scope="module")
def curated(axes):
    lr = [g for a in axes for g in (*a.ligands, *a.receptor_genes)]
    return gene_sets(axes), detection.axis_features(axes), lr


@pytest.fixture(scope="module")
def prepared_files(small_cohort, tmp_path_factory):
    """The small cohort prepared whole, and in 4 shards of whole samples (plus an empty one)."""
    adata = prepare.normalize(small_cohort[0][:2500].copy(), 1e4)
    root = tmp_path_factory.mktemp("prepared")
    write_h5ad(adata, root / "whole.h5ad")
    paths = []
    for i, part in enumerate([*split_by_samples(adata, 4), adata[:0].copy()]):
        paths.append(root / f"shard-{i + 1:03d}.h5ad")
        write_h5ad(part, paths[-1])
    return root / "whole.h5ad", paths


def test_one_plan_from_all_shards_equals_the_plan_of_the_whole_file(prepared_files, curated):
    whole, shards = prepared_files
    sets = curated[0]
    plan, stats, names = plan_from_files([whole], sets, PARAMS)
    shard_plan, shard_stats, shard_names = plan_from_files(shards, sets, PARAMS)
    # gene sums added value by value in row order: bit-identical, so the same bins and draws
    assert names.equals(shard_names) and stats.n_cells == shard_stats.n_cells
    assert np.array_equal(stats.sums, shard_stats.sums) and stats.sums.dtype == np.float32
    assert np.array_equal(stats.nonzero, shard_stats.nonzero)
    pd.testing.assert_frame_equal(plan.null_sets, shard_plan.null_sets)
    pd.testing.assert_frame_equal(plan.coverage, shard_plan.coverage)
    assert (plan.weights != shard_plan.weights).nnz == 0
    # a single shard's statistics would give another plan: the gathering matters
    alone, _, _ = plan_from_files(shards[:1], sets, PARAMS)
    assert not alone.null_sets.equals(plan.null_sets)


@pytest.mark.parametrize("method", ["mean", "weighted", "ucell"])
def test_shard_sums_add_up_to_the_tables_of_one_pass(prepared_files, curated, tmp_path, method):
    whole, shards = prepared_files
    sets, features, lr = curated
    params = ScoringParams(method=method, random_state=4, min_coverage=0.5, n_null=5,
                           chunk_nnz=60_000)
    reference = score_and_aggregate(whole, sets, features, lr, params)
    plan, _, names = plan_from_files(shards, sets, params)
    states = []
    for i, path in enumerate(shards):
        result = score_file(path, plan, names, features, lr,
                            cell_scores_path=tmp_path / f"scores-{i}.parquet",
                            cell_detection_path=tmp_path / f"detection-{i}.parquet")
        write_npz(result.state.to_arrays(), tmp_path / f"state-{i}.npz")  # through the file
        states.append(GroupState.from_arrays(read_npz(tmp_path / f"state-{i}.npz")))
    assert states[-1].n_groups == 0  # the empty shard
    tables = AggregateTables(combine_states(states), features)
    pairs = [(tables.donor_scores(), reference.donor_scores),
             (tables.cell_counts(), reference.cell_counts),
             (tables.gene_detection(), reference.gene_detection),
             (tables.receptor_detection(), reference.receptor_detection),
             (tables.null_calibration(), reference.null_calibration)]
    for ours, theirs in pairs:
        assert frame_differences(ours.reset_index(drop=True), theirs.reset_index(drop=True)) == []
    assert (tables.pseudobulk().X != reference.pseudobulk.X).nnz == 0
    assert list(tables.pseudobulk().obs_names) == list(reference.pseudobulk.obs_names)
    cells = pd.concat([pd.read_parquet(tmp_path / f"scores-{i}.parquet") for i in range(len(shards))])
    assert len(cells) == reference.n_cells and cells.index.is_unique
    assert pd.read_parquet(tmp_path / f"detection-{len(shards) - 1}.parquet").empty


def test_groups_split_across_states_add_up(prepared_files, curated, tmp_path):
    """The gather is generic over group keys: a group in two states sums both parts."""
    whole, _ = prepared_files
    sets, features, lr = curated
    plan, _, names = plan_from_files([whole], sets, PARAMS)
    full = score_file(whole, plan, names, features, lr).state
    adata = ad.read_h5ad(whole)
    halves = []
    for rows in (slice(0, 1000), slice(1000, None)):  # cuts through samples and groups
        write_h5ad(adata[rows].copy(), tmp_path / "half.h5ad")
        halves.append(score_file(tmp_path / "half.h5ad", plan, names, features, lr).state)
    combined = combine_states(halves)
    assert len(set(map(tuple, halves[0].keys.values)) & set(map(tuple, halves[1].keys.values))) > 0
    pd.testing.assert_frame_equal(combined.keys, full.keys)
    assert np.array_equal(combined.n_cells, full.n_cells)
    for name, values in full.sums.items():
        np.testing.assert_allclose(combined.sums[name], values, rtol=1e-12, atol=1e-12)
    assert (combined.bulk != full.bulk).nnz == 0
    with pytest.raises(ValueError, match="disagree on signatures"):
        other = GroupState.from_arrays({**halves[1].to_arrays(), "meta/signatures":
                                        np.array(["X.response"] * len(halves[1].signatures))})
        combine_states([halves[0], other])


# --------------------------------------------------------------------------- cell-type levels


def test_cell_types_at_each_level(vocabulary):
    assert at_level("CD4_T_memory", "fine", vocabulary) == "CD4_T_memory"
    assert at_level("CD4_T_memory", "lineage", vocabulary) == "CD4_T"
    assert at_level("B_cell", "fine", vocabulary) is None  # a coarse label says nothing finer
    assert at_level("B_cell", "lineage", vocabulary) == "B_cell"
    assert at_level("NK", "fine", vocabulary) == at_level("NK", "lineage", vocabulary) == "NK"
    assert at_level("unassigned", "fine", vocabulary) == "unassigned"
    with pytest.raises(ValueError, match="unknown cell-type level"):
        at_level("NK", "coarse", vocabulary)


def test_lineage_groups_equal_a_pass_over_cells_labelled_by_lineage(
        prepared_files, curated, tmp_path, vocabulary):
    """Regrouping the fine sums gives exactly what scoring cells relabelled to their lineage
    gives; the fine level keeps fine groups bit for bit and leaves out coarse-labelled cells."""
    whole, _ = prepared_files
    sets, features, lr = curated
    plan, _, names = plan_from_files([whole], sets, PARAMS)
    adata = ad.read_h5ad(whole)
    coarse = np.flatnonzero(adata.obs["cell_type"].astype(str).to_numpy() == "CD4_T_memory")[::2]
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    labels[coarse] = "CD4_T"  # half the memory CD4 T cells labelled only as CD4 T
    adata.obs["cell_type"] = labels
    write_h5ad(adata, tmp_path / "mixed.h5ad")
    cells = score_file(tmp_path / "mixed.h5ad", plan, names, features, lr).state
    adata.obs["cell_type"] = [at_level(c, "lineage", vocabulary) for c in labels]
    write_h5ad(adata, tmp_path / "lineage.h5ad")
    reference = score_file(tmp_path / "lineage.h5ad", plan, names, features, lr).state

    lineage = regroup(cells, partial(at_level, level="lineage", vocabulary=vocabulary))
    pd.testing.assert_frame_equal(lineage.keys, reference.keys)
    assert np.array_equal(lineage.n_cells, reference.n_cells)
    for name, values in reference.sums.items():
        np.testing.assert_allclose(lineage.sums[name], values, rtol=1e-12, atol=1e-12)
    assert (lineage.bulk != reference.bulk).nnz == 0
    assert len(lineage.keys) < len(cells.keys)

    fine = regroup(cells, partial(at_level, level="fine", vocabulary=vocabulary))
    assert "CD4_T" not in set(fine.keys["cell_type"]) and coarse.size
    assert fine.n_cells.sum() == cells.n_cells.sum() - coarse.size
    kept = cells.keys["cell_type"] != "CD4_T"
    pd.testing.assert_frame_equal(fine.keys, cells.keys[kept].reset_index(drop=True))
    for name, values in cells.sums.items():
        assert np.array_equal(fine.sums[name], values[kept.to_numpy()])  # bit for bit
