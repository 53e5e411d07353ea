"""The one-pass scoring engine equals the reference implementations it claims to reproduce.

`mean` == scanpy.tl.score_genes (same seed), `weighted` == decoupler ulm t-values, `ucell` ==
pyUCell (missing genes skipped), on real PBMCs bundled with scanpy and on random sparse data;
plus the block reading, thread count and bad-input behaviour of the engine itself, its settings,
and the method registry as an extension point.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.io.files import read_yaml
from neurokine.scoring.engine import score_cells
from neurokine.scoring.genestats import GeneStats, gene_statistics
from neurokine.scoring.methods import METHODS, register
from neurokine.scoring.methods.base import GroupSums
from neurokine.scoring.methods.linear import LinearMethod
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.plan import build_plan
from neurokine.scoring.rows import MemoryRows, row_blocks
from neurokine.scoring.sampling import ExpressionBins, control_positions


@pytest.fixture(scope="module")
def pbmc():
    """Real 10x PBMCs bundled with scanpy: log-normalized values in .raw, as sparse CSR."""
    reduced = sc.datasets.pbmc68k_reduced()
    adata = sc.AnnData(X=sp.csr_matrix(reduced.raw.X, dtype=np.float32),
                       var=pd.DataFrame(index=reduced.raw.var_names))
    adata.obs_names = reduced.obs_names
    return adata


PBMC_SETS = {
    "monocyte": ["LYZ", "S100A8", "S100A9", "FCN1", "CST3", "NOT_A_GENE"],
    "b_cell": ["MS4A1", "CD79A", "CD79B"],
    "single": ["IL7R"],
}


def scanpy_scores(adata, gene_sets, seed):
    """Reference: one scanpy call per gene set."""
    out = {}
    for name, genes in gene_sets.items():
        sc.tl.score_genes(adata, genes, random_state=seed, score_name="ref")
        out[name] = adata.obs["ref"].to_numpy()
    return pd.DataFrame(out)


def gene_means(matrix):
    """Gene means through the engine's own first pass (default row blocks)."""
    rows = MemoryRows(matrix)
    names = pd.Index(np.arange(rows.shape[1]).astype(str))
    return gene_statistics(rows, names, row_blocks(rows)).means


def mean_plan(gene_sets, adata, min_coverage):
    """The `mean` method's plan (no nulls) for gene sets on `adata`."""
    rows = MemoryRows(adata.X)
    stats = gene_statistics(rows, adata.var_names, row_blocks(rows))
    return build_plan(gene_sets, adata.var_names, stats, ScoringParams(min_coverage=min_coverage))


def random_log_matrix(n_cells, n_genes, density, seed):
    """Random sparse log1p-like data (float32 CSR)."""
    rng = np.random.default_rng(seed)
    matrix = sp.random(n_cells, n_genes, density=density, random_state=seed, format="csr",
                       dtype=np.float32)
    matrix.data = np.log1p(rng.poisson(3, matrix.nnz) + 1).astype(np.float32)
    return matrix


# --------------------------------------------------------------------------- mean == scanpy


def test_mean_matches_scanpy_on_real_pbmcs(pbmc):
    gene_sets = {**PBMC_SETS, "wide": list(pbmc.var_names[100:160])}
    for seed in (0, 11):
        ours, coverage = score_cells(pbmc.X, pbmc.var_names, gene_sets, random_state=seed)
        reference = scanpy_scores(pbmc, gene_sets, seed)
        assert np.abs(ours.to_numpy() - reference.to_numpy()).max() < 1e-5
    assert coverage.set_index("signature").loc["monocyte", "missing_genes"] == "NOT_A_GENE"


def test_mean_matches_scanpy_on_random_sparse_matrix():
    matrix = random_log_matrix(300, 400, 0.08, 1)
    names = pd.Index([f"G{i}" for i in range(400)])
    adata = sc.AnnData(X=matrix, var=pd.DataFrame(index=names))
    rng = np.random.default_rng(0)
    sets = {f"s{k}": list(rng.choice(names, size=k * 3 + 1, replace=False)) for k in range(6)}
    ours, _ = score_cells(matrix, names, sets, random_state=5)
    reference = scanpy_scores(adata, sets, 5)
    assert np.abs(ours.to_numpy() - reference.to_numpy()).max() < 1e-5


def test_block_gene_sums_are_bit_identical_to_scipy(pbmc):
    """Expression bins rank gene means; any rounding difference would move control genes."""
    rows = MemoryRows(pbmc.X)
    expected = np.asarray(pbmc.X.sum(axis=0, dtype=np.float64)).ravel() / pbmc.n_obs
    for chunk_nnz in (10_000, 123_457, 10**9):
        stats = gene_statistics(rows, pbmc.var_names, row_blocks(rows, chunk_nnz))
        assert np.array_equal(stats.means, expected)
    assert np.array_equal(gene_means(pbmc.X), expected)


def test_control_sampler_replays_scanpy_and_excludes_set_genes(pbmc):
    bins = ExpressionBins(gene_means(pbmc.X), pbmc.var_names, 25)
    names = ["LYZ", "CST3", "IL7R"]
    genes = pbmc.var_names.get_indexer(names)
    # bins of PBMC's 765 genes hold ~32 genes: draw 10 so the sampler (and the seed) matter
    controls = control_positions(genes, bins, 10, 3)
    assert len(controls) and not set(controls) & set(genes)  # set genes are never controls
    assert set(control_positions(genes, bins, 10, 4)) != set(controls)
    adata = pbmc.copy()
    sc.tl.score_genes(adata, names, ctrl_size=10, random_state=3, score_name="ref")
    reference = adata.obs["ref"].to_numpy()
    # scanpy's score is the set mean minus the mean of its control genes: only scanpy's own
    # draw of controls reproduces it
    values = pbmc.X.astype(np.float64)
    direct = (np.asarray(values[:, genes].mean(axis=1)).ravel()
              - np.asarray(values[:, controls].mean(axis=1)).ravel())
    assert np.abs(direct - reference).max() < 1e-5
    ours, _ = score_cells(pbmc.X, pbmc.var_names, {"s": names}, ctrl_size=10, random_state=3)
    assert np.abs(ours["s"].to_numpy() - reference).max() < 1e-5


def test_background_controls_leave_out_every_scored_signatures_genes(pbmc):
    """With control_pool 'background' no gene of another scored set is a control, so a program
    induced on one set cannot lower another set's score through its controls."""
    bins = ExpressionBins(gene_means(pbmc.X), pbmc.var_names, 25)
    genes = pbmc.var_names.get_indexer(["LYZ", "CST3", "IL7R"])
    scanpy_controls = control_positions(genes, bins, 10, 3)
    other = scanpy_controls[:4]  # genes scanpy draws as controls of s, here another set's genes
    excluded = np.zeros(pbmc.n_vars, dtype=bool)
    excluded[other] = True
    background = control_positions(genes, bins, 10, 3, excluded)
    assert not set(background) & set(other) and not set(background) & set(genes)
    assert len(background) >= len(scanpy_controls) - 4  # the bins refill from other genes
    sets = {"s": ["LYZ", "CST3", "IL7R"], "t": list(pbmc.var_names[other])}
    rows = MemoryRows(pbmc.X)
    stats = gene_statistics(rows, pbmc.var_names, row_blocks(rows))
    for pool, shares in (("scanpy", True), ("background", False)):
        plan = build_plan(sets, pbmc.var_names, stats, ScoringParams(ctrl_size=10, random_state=3,
                                                                      control_pool=pool))
        column = plan.weights[:, plan.signatures.index("s")].toarray().ravel()
        controls = set(np.flatnonzero(column < 0))
        assert bool(controls & set(other)) == shares, pool
    # the engine passes the choice through
    plain, _ = score_cells(pbmc.X, pbmc.var_names, sets, ctrl_size=10, random_state=3)
    pooled, _ = score_cells(pbmc.X, pbmc.var_names, sets, ctrl_size=10, random_state=3,
                            control_pool="background")
    assert not np.allclose(plain["s"], pooled["s"])


def test_low_coverage_signatures_are_skipped_with_a_reason(pbmc, caplog):
    plan = mean_plan({"ok": ["LYZ", "CST3"], "half": ["LYZ", "NOPE1", "NOPE2"], "none": ["NOPE3"]},
                     pbmc, min_coverage=0.5)
    assert plan.signatures == ["ok"]
    assert plan.weights.shape == (pbmc.n_vars, 1)
    reasons = plan.coverage.set_index("signature")["reason"]
    assert "below scoring.min_gene_coverage=0.5" in reasons["half"]
    assert reasons["none"] == "no gene of the signature is in the data"
    with caplog.at_level(logging.WARNING, logger="neurokine.scoring.engine"):
        scores, _ = score_cells(pbmc.X, pbmc.var_names, {"ok": ["LYZ"], "none": ["NOPE3"]})
    assert list(scores.columns) == ["ok"]
    assert "1 of 2 signatures not scored" in caplog.text
    assert "none (no gene of the signature is in the data)" in caplog.text


def test_weights_sum_to_zero_so_constant_cells_score_zero(pbmc):
    weights = mean_plan({"a": ["LYZ", "CST3", "IL7R"]}, pbmc, min_coverage=0).weights
    constant = sp.csr_matrix(np.full((2, pbmc.n_vars), 3.0))
    np.testing.assert_allclose((constant @ weights).toarray(), 0.0, atol=1e-12)


def test_block_size_and_threads_do_not_change_scores(pbmc):
    sets = {**PBMC_SETS, "wide": list(pbmc.var_names[300:340])}
    for method in ("mean", "weighted", "ucell"):
        one, _ = score_cells(pbmc.X, pbmc.var_names, sets, method=method, threads=1)
        many, _ = score_cells(pbmc.X, pbmc.var_names, sets, method=method, chunk_nnz=20_000,
                              threads=2)
        assert np.array_equal(one.to_numpy(), many.to_numpy()), method


def test_matrix_layouts_are_converted_once_with_a_log_line(pbmc, caplog):
    reference, _ = score_cells(pbmc.X, pbmc.var_names, PBMC_SETS)
    for layout in (sp.csc_matrix(pbmc.X), sp.coo_matrix(pbmc.X), pbmc.X.toarray()):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="neurokine.scoring.checks"):
            scores, _ = score_cells(layout, pbmc.var_names, PBMC_SETS)
        assert "converting it to CSR once" in caplog.text
        np.testing.assert_allclose(scores.to_numpy(), reference.to_numpy(), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- bad input


def test_bad_input_names_the_genes_or_the_signature(pbmc):
    broken = pbmc.X.copy()
    broken.data[broken.indptr[5]] = np.nan
    with pytest.raises(InputError, match="NaN or infinite") as info:
        score_cells(broken, pbmc.var_names, PBMC_SETS)
    assert pbmc.var_names[broken.indices[broken.indptr[5]]] in str(info.value)
    doubled = list(pbmc.var_names)
    doubled[1] = doubled[0]
    with pytest.raises(InputError, match="duplicated gene names") as info:
        score_cells(pbmc.X, doubled, PBMC_SETS)
    assert doubled[0] in str(info.value)
    with pytest.raises(InputError, match="signed") as info:
        score_cells(pbmc.X, pbmc.var_names, {"signed": {"LYZ": 1.0, "CST3": -1.0}})
    assert info.value.field == "signed" and "CST3" in str(info.value)
    with pytest.raises(InputError, match="unknown method"):
        score_cells(pbmc.X, pbmc.var_names, PBMC_SETS, method="gsva")


# --------------------------------------------------------------------------- weighted == ulm


def decoupler_ulm(matrix, names, weights: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Reference t-values from decoupler (a test dependency, not a runtime one)."""
    dc = pytest.importorskip("decoupler", reason="decoupler==2.2.0 is a test-only dependency")
    adata = sc.AnnData(X=sp.csr_matrix(matrix), var=pd.DataFrame(index=names))
    adata.obs_names = [f"c{i}" for i in range(matrix.shape[0])]
    net = pd.DataFrame([(k, g, w) for k, genes in weights.items() for g, w in genes.items()],
                       columns=["source", "target", "weight"])
    result = dc.mt.ulm(adata, net, tmin=1)
    scored = result if result is not None else adata
    return scored.obsm["score_ulm"].rename(index=lambda c: int(c[1:]))


def test_weighted_matches_decoupler_ulm_on_real_pbmcs(pbmc):
    rng = np.random.default_rng(3)
    signed = {g: float(w) for g, w in zip(pbmc.var_names[200:240], rng.normal(size=40), strict=True)}
    sets = {"monocyte": dict.fromkeys(PBMC_SETS["monocyte"][:5], 1.0),
            "single": {"IL7R": 1.0}, "signed": signed}
    ours, coverage = score_cells(pbmc.X, pbmc.var_names, sets, method="weighted")
    reference = decoupler_ulm(pbmc.X, pbmc.var_names, sets)
    diff = np.abs(ours.loc[reference.index, reference.columns].to_numpy() - reference.to_numpy())
    assert diff.max() < 1e-5
    assert (coverage["n_genes_scored"] == [5, 1, 40]).all()


def test_weighted_matches_ulm_with_empty_cells_and_all_zero_genes():
    matrix = random_log_matrix(120, 200, 0.1, 7).tolil()
    matrix[[3, 50], :] = 0          # empty cells: decoupler drops them, neurokine scores 0
    matrix[:, [0, 1, 2]] = 0        # all-zero genes: outside the universe of both
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    names = pd.Index([f"G{i}" for i in range(200)])
    sets = {"with_zero_genes": dict.fromkeys(["G0", "G1", "G5", "G9", "G20"], 1.0),
            "plain": dict.fromkeys(names[30:45], 1.0)}
    ours, coverage = score_cells(matrix, names, sets, method="weighted")
    reference = decoupler_ulm(matrix, names, sets)
    assert set(reference.index) == set(range(120)) - {3, 50}
    diff = np.abs(ours.loc[reference.index, reference.columns].to_numpy() - reference.to_numpy())
    assert diff.max() < 1e-5
    assert (ours.loc[[3, 50]] == 0).all().all()
    assert coverage.set_index("signature").loc["with_zero_genes", "n_genes_scored"] == 3


# --------------------------------------------------------------------------- ucell == pyUCell


def pyucell_scores(matrix, names, sets, max_rank):
    """Reference UCell scores from pyUCell (a test-only dependency), missing genes skipped."""
    pyucell = pytest.importorskip("pyucell", reason="pyucell==0.8.0 is a test-only dependency")
    adata = sc.AnnData(X=sp.csr_matrix(matrix), var=pd.DataFrame(index=names))
    pyucell.compute_ucell_scores(adata, sets, max_rank=max_rank, missing_genes="skip", n_jobs=1)
    return adata.obs[[f"{k}_UCell" for k in sets]].to_numpy()


def test_ucell_matches_pyucell_on_real_pbmcs(pbmc):
    sets = {**PBMC_SETS, "wide": list(pbmc.var_names[100:160])}
    for max_rank in (1500, 100):
        ours, _ = score_cells(pbmc.X, pbmc.var_names, sets, method="ucell", max_rank=max_rank)
        reference = pyucell_scores(pbmc.X, pbmc.var_names, sets, max_rank)
        assert np.abs(ours.to_numpy() - reference).max() < 1e-5


def test_ucell_does_not_depend_on_normalization():
    counts = sp.random(80, 300, density=0.2, random_state=2, format="csr", dtype=np.float32)
    counts.data = np.ceil(counts.data * 20)
    names = pd.Index([f"G{i}" for i in range(300)])
    sets = {"a": list(names[:10]), "b": list(names[100:130])}
    raw, _ = score_cells(counts, names, sets, method="ucell", max_rank=100)
    scaled = sp.diags(np.linspace(0.1, 7, 80)) @ counts      # any per-cell size factor
    scaled.data = np.log1p(scaled.data)                     # and a monotone transform
    normalized, _ = score_cells(sp.csr_matrix(scaled, dtype=np.float32), names, sets,
                                method="ucell", max_rank=100)
    np.testing.assert_allclose(raw.to_numpy(), normalized.to_numpy(), atol=1e-12)


# --------------------------------------------------------------------------- null signatures


def test_null_signatures_are_size_and_expression_matched(pbmc):
    stats = GeneStats(pbmc.n_obs, np.asarray(pbmc.X.sum(axis=0)).ravel(),
                      np.diff(sp.csc_matrix(pbmc.X).indptr))
    sets = {"monocyte": PBMC_SETS["monocyte"], "wide": list(pbmc.var_names[100:130])}
    params = ScoringParams(n_null=15, random_state=9)
    plan = build_plan(sets, pbmc.var_names, stats, params)
    bins = ExpressionBins(stats.means, pbmc.var_names, params.n_bins)
    position = {g: i for i, g in enumerate(pbmc.var_names)}
    for name, genes in sets.items():
        present = [position[g] for g in genes if g in position]
        nulls = plan.null_sets[plan.null_sets["signature"] == name]
        assert len(nulls) == 15
        for row in nulls.itertuples():
            drawn = [position[g] for g in row.genes.split(",")]
            assert len(drawn) == len(set(drawn)) == len(present)
            assert not set(drawn) & set(present)
            assert sorted(bins.code[drawn]) == sorted(bins.code[present])  # same bins, gene by gene
    again = build_plan({"wide": sets["wide"]}, pbmc.var_names, stats, params)
    pd.testing.assert_frame_equal(again.null_sets.reset_index(drop=True),
                                  plan.null_sets[plan.null_sets["signature"] == "wide"]
                                  .reset_index(drop=True))  # other signatures do not matter


def test_null_scores_use_the_method_of_the_real_scores(pbmc):
    """Null group means (from group sums for mean/ucell, per cell for weighted) equal scoring
    each null gene set directly; a `mean` null shares its signature's control genes."""
    rows = MemoryRows(pbmc.X)
    stats = gene_statistics(rows, pbmc.var_names, row_blocks(rows))
    halves = np.arange(pbmc.n_obs) % 2  # two groups of cells
    n_cells = np.bincount(halves).astype(float)
    member = sp.csr_matrix((np.ones(pbmc.n_obs), (halves, np.arange(pbmc.n_obs))))
    for method in ("mean", "weighted", "ucell"):
        plan = build_plan(PBMC_SETS, pbmc.var_names, stats,
                          ScoringParams(method=method, n_null=4, random_state=2))
        block = plan.score_block(rows.read(0, pbmc.n_obs))
        sums = GroupSums()
        sums.add(member, block)
        null = plan.null_group_means(sums, n_cells)
        genes = plan.null_sets.iloc[5]["genes"].split(",")  # signature 1 (b_cell), null 1
        direct, _ = score_cells(pbmc.X, pbmc.var_names, {"null": genes}, method=method)
        per_cell = direct["null"].to_numpy()
        if method == "mean":  # own-set mean minus the signature's control mean, not its own
            values = pbmc.X[:, pbmc.var_names.get_indexer(genes)].astype(np.float64)
            per_cell = np.asarray(values.mean(axis=1)).ravel() + block.control[:, 1]
        np.testing.assert_allclose(null[:, 1, 1], (member @ per_cell) / n_cells, atol=1e-9)
        assert not np.allclose(null[:, 1, 1], (member @ block.real[:, 1]) / n_cells)


# --------------------------------------------------------------------------- settings


def test_scoring_params_take_every_setting_as_validated():
    from conftest import demo_settings

    settings = dataclasses.replace(demo_settings().scoring, n_null=7, ucell_max_rank=300)
    params = ScoringParams.from_settings(settings, seed=5)
    assert (params.method, params.n_null, params.max_rank, params.random_state) == (
        settings.method, 7, 300, 5)
    assert (params.chunk_nnz, params.min_coverage) == (settings.chunk_nnz, settings.min_gene_coverage)


# --------------------------------------------------------------------------- the method registry


class SumMethod(LinearMethod):
    """The plain sum of a set's values: a fourth method is one class like this, registered."""

    name = "sum"

    def gene_weight(self, n_genes, params):
        return 1.0


@pytest.fixture
def sum_method():
    """SumMethod registered for one test, then removed again."""
    method = register(SumMethod())
    yield method
    del METHODS[method.name]


def test_a_registered_method_scores_through_the_engine_with_nulls(sum_method):
    matrix = random_log_matrix(40, 30, 0.3, 4)
    names = pd.Index([f"G{i}" for i in range(30)])
    sets = {"a": ["G1", "G4", "G9", "MISSING"], "b": list(names[10:20])}
    ours, coverage = score_cells(matrix, names, sets, method="sum")
    for name, genes in sets.items():
        present = names.get_indexer([g for g in genes if g in names])
        expected = np.asarray(matrix[:, present].astype(np.float64).sum(axis=1)).ravel()
        np.testing.assert_allclose(ours[name].to_numpy(), expected, rtol=1e-12)
    assert (coverage["method"] == "sum").all()
    # the nulls of a linear method come for free: group means from group sums
    rows = MemoryRows(matrix)
    stats = gene_statistics(rows, names, row_blocks(rows))
    plan = build_plan(sets, names, stats, ScoringParams(method="sum", n_null=3, random_state=1))
    halves = np.arange(40) % 2
    member = sp.csr_matrix((np.ones(40), (halves, np.arange(40))))
    sums = GroupSums()
    sums.add(member, plan.score_block(rows.read(0, 40)))
    null = plan.null_group_means(sums, np.bincount(halves).astype(float))
    row = plan.null_sets.iloc[4]  # signature b, null 1
    drawn = names.get_indexer(row.genes.split(","))
    direct = np.asarray(matrix[:, drawn].astype(np.float64).sum(axis=1)).ravel()
    np.testing.assert_allclose(null[:, 1, 1], (member @ direct) / np.bincount(halves), rtol=1e-12)
    with pytest.raises(ValueError, match="already registered"):
        register(SumMethod())


def test_the_config_schema_offers_exactly_the_registered_methods(repo):
    schema = read_yaml(repo / "workflow/schemas/config.schema.yaml")
    assert schema["properties"]["scoring"]["properties"]["method"]["enum"] == list(METHODS)
