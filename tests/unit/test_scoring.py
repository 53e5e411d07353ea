"""The one-pass scoring engine equals scanpy.tl.score_genes given the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp

from neurokine.scoring import build_weights, control_genes, expression_bins, gene_means, score_cells


@pytest.fixture(scope="module")
def pbmc():
    """Real 10x PBMCs bundled with scanpy: log-normalized values in .raw, as sparse CSR."""
    reduced = sc.datasets.pbmc68k_reduced()
    return sc.AnnData(X=sp.csr_matrix(reduced.raw.X, dtype=np.float32),
                      var=pd.DataFrame(index=reduced.raw.var_names))


def scanpy_scores(adata, gene_sets, seed):
    """Reference: one scanpy call per gene set."""
    out = {}
    for name, genes in gene_sets.items():
        sc.tl.score_genes(adata, genes, random_state=seed, score_name="ref")
        out[name] = adata.obs["ref"].to_numpy()
    return pd.DataFrame(out)


def test_matches_scanpy_on_real_pbmcs(pbmc):
    gene_sets = {
        "monocyte": ["LYZ", "S100A8", "S100A9", "FCN1", "CST3", "NOT_A_GENE"],
        "b_cell": ["MS4A1", "CD79A", "CD79B"],
        "single": ["IL7R"],
        "wide": list(pbmc.var_names[100:160]),
    }
    for seed in (0, 11):
        ours, coverage = score_cells(pbmc.X, pbmc.var_names, gene_sets, random_state=seed)
        reference = scanpy_scores(pbmc, gene_sets, seed)
        assert np.abs(ours.to_numpy() - reference.to_numpy()).max() < 1e-5
    assert coverage.set_index("signature").loc["monocyte", "missing_genes"] == "NOT_A_GENE"


def test_matches_scanpy_on_random_sparse_matrix():
    rng = np.random.default_rng(0)
    matrix = sp.random(300, 400, density=0.08, random_state=1, format="csr", dtype=np.float32)
    matrix.data = np.log1p(rng.poisson(3, matrix.nnz) + 1).astype(np.float32)
    names = pd.Index([f"G{i}" for i in range(400)])
    adata = sc.AnnData(X=matrix, var=pd.DataFrame(index=names))
    sets = {f"s{k}": list(rng.choice(names, size=k * 3 + 1, replace=False)) for k in range(6)}
    ours, _ = score_cells(matrix, names, sets, random_state=5)
    reference = scanpy_scores(adata, sets, 5)
    assert np.abs(ours.to_numpy() - reference.to_numpy()).max() < 1e-5


def test_control_genes_replicate_scanpy_sampling(pbmc):
    means = gene_means(pbmc.X)
    bins = expression_bins(means, pbmc.var_names, 25)
    genes = pd.Index(["LYZ", "CST3"]).intersection(pbmc.var_names)
    first = control_genes(genes, bins, 50, 3)
    assert first.equals(control_genes(genes, bins, 50, 3))
    assert not first.intersection(genes).size  # a set gene is never its own control


def test_low_coverage_signatures_are_skipped_with_a_reason(pbmc):
    weights, kept, coverage = build_weights(
        {"ok": ["LYZ", "CST3"], "half": ["LYZ", "NOPE1", "NOPE2"], "none": ["NOPE3"]},
        pbmc.var_names, gene_means(pbmc.X), ctrl_size=50, n_bins=25, random_state=0,
        min_coverage=0.5)
    assert kept == ["ok"]
    assert weights.shape == (pbmc.n_vars, 1)
    reasons = coverage.set_index("signature")["reason"]
    assert "below scoring.min_gene_coverage=0.5" in reasons["half"]
    assert reasons["none"] == "no gene of the signature is in the data"


def test_weights_sum_to_zero_so_constant_cells_score_zero(pbmc):
    weights, _, _ = build_weights({"a": ["LYZ", "CST3", "IL7R"]}, pbmc.var_names,
                                  gene_means(pbmc.X), ctrl_size=50, n_bins=25, random_state=0,
                                  min_coverage=0)
    constant = sp.csr_matrix(np.full((2, pbmc.n_vars), 3.0))
    np.testing.assert_allclose((constant @ weights).toarray(), 0.0, atol=1e-12)
