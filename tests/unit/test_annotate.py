"""Marker-based annotation: calls, confidence, unassigned class and measured accuracy."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fixtures import deposits

from neurokine.io import annotate

REPO = Path(__file__).resolve().parents[2]




def _simulated(n: int = 400, seed: int = 11) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    genes = deposits.gene_table().drop_duplicates("symbol")
    types = list(rng.choice(list(deposits.FIXTURE_MARKERS), size=n))
    counts = deposits.simulate_counts(rng, types, genes)
    return ad.AnnData(X=counts.astype(np.int32),
                      obs=pd.DataFrame({"cell_type": types}, index=[f"c{i}" for i in range(n)]),
                      var=pd.DataFrame(index=genes["symbol"].to_numpy()))


def test_simulated_labels_are_recovered(vocabulary):
    adata = _simulated()
    result = annotate.demo_accuracy(adata, vocabulary)
    assert result["n_cells"] == adata.n_obs
    assert result["accuracy"] > 0.9
    assert set(result["per_label"]["true_label"]) == set(adata.obs["cell_type"])


def test_shuffled_markers_destroy_accuracy(vocabulary):
    # The same cells scored against a vocabulary whose markers are permuted between types
    # must do badly: the accuracy above comes from the markers, not from the evaluation.
    adata = _simulated()
    ids = list(vocabulary)
    shifted = {k: vocabulary[ids[(i + 3) % len(ids)]] for i, k in enumerate(ids)}
    import dataclasses
    wrong = {k: dataclasses.replace(v, id=k) for k, v in shifted.items()}
    result = annotate.demo_accuracy(adata, wrong)
    assert result["accuracy"] < 0.3


def test_cells_without_marker_signal_are_unassigned(vocabulary):
    genes = deposits.gene_table().drop_duplicates("symbol")
    X = sp.csr_matrix((5, len(genes)), dtype=np.int32)
    X = sp.lil_matrix(X)
    X[:, list(genes["symbol"]).index("GENE001")] = 3  # library with no marker expression
    adata = ad.AnnData(X=X.tocsr(), var=pd.DataFrame(index=genes["symbol"].to_numpy()))
    calls = annotate.annotate_cells(adata, vocabulary)
    assert set(calls["cell_type"]) == {"unassigned"}
    assert (calls["confidence"] == 0).all()


def test_ambiguous_cells_are_unassigned(vocabulary):
    genes = deposits.gene_table().drop_duplicates("symbol")
    symbols = list(genes["symbol"])
    row = np.zeros(len(symbols), dtype=np.int32)
    for g in deposits.FIXTURE_MARKERS["NK"] + deposits.FIXTURE_MARKERS["B_naive"]:
        row[symbols.index(g)] = 10  # equally NK and B: no margin
    adata = ad.AnnData(X=sp.csr_matrix(np.vstack([row, row])),
                       var=pd.DataFrame(index=symbols))
    calls = annotate.annotate_cells(adata, vocabulary, min_margin=0.05)
    assert set(calls["cell_type"]) == {"unassigned"}


def test_types_with_too_few_markers_are_skipped(vocabulary):
    adata = _simulated(50)
    _, skipped = annotate.marker_scores(adata, vocabulary)
    # The fixture genes hold no pDC/plasmablast/Treg-specific markers: not callable.
    assert "pDC" in skipped and "plasmablast" in skipped
    scores, _ = annotate.marker_scores(adata, vocabulary, compartments=["CNS"])
    assert all("CNS" in vocabulary[t].compartments for t in scores.columns)
    scores, _ = annotate.marker_scores(adata, vocabulary, candidates=["NK", "CD8_T"])
    assert set(scores.columns) == {"NK", "CD8_T"}
    subtypes = {k for k, v in vocabulary.items() if getattr(v, "parent", None)}
    scores, _ = annotate.marker_scores(adata, vocabulary)
    assert not subtypes & set(scores.columns)  # subtypes are called only on request


def test_pbmc68k_reduced_accuracy_on_shared_types(vocabulary):
    result = annotate.pbmc68k_accuracy(vocabulary)
    per_label = result["per_label"]
    print("pbmc68k_reduced bulk_labels:",
          {k: round(v, 3) for k, v in result.items() if isinstance(v, float)},
          f"n={result['n_cells']}")
    # CD34+ progenitors are the only bulk label without a vocabulary type.
    assert result["n_excluded_not_shared"] == 13
    assert result["n_cells"] == 687
    # Baseline: always calling the most frequent true label ("Dendritic") is right for
    # 240/687 = 0.35 of cells; the annotator must beat it, and do better at lineage level
    # (the vocabulary's CL lineages: CD4 vs CD8 T, monocyte vs DC, so a CD4/CD8 or a
    # monocyte/DC confusion still counts as wrong there).
    majority = per_label["n_cells"].max() / per_label["n_cells"].sum()
    assert result["accuracy"] > majority
    assert result["lineage_accuracy"] > result["accuracy"] + 0.03
    assert 0 < result["coverage"] <= 1
    # Monocytes and NK cells have specific markers in this 765-gene panel: they must be found.
    recall = per_label.set_index("true_label")["recall"]
    assert recall["CD14+ Monocyte"] > 0.8 and recall["CD56+ NK"] > 0.5


def test_evaluate_annotation_counts_unassigned_as_wrong():
    truth = pd.Series(["NK", "NK", "B_naive", "weird"])
    pred = pd.Series(["NK", "unassigned", "B_memory", "NK"])
    res = annotate.evaluate_annotation(pred, truth, {"NK": ["NK"], "B_naive": ["B_naive"]})
    assert res["n_cells"] == 3 and res["n_excluded_not_shared"] == 1
    assert res["accuracy"] == pytest.approx(1 / 3)
    assert res["accuracy_assigned"] == pytest.approx(1 / 2)
    assert res["coverage"] == pytest.approx(2 / 3)
