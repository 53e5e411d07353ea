"""Marker-based cell-type annotation for deposits without author labels.

Method (deliberately simple and transparent):
1. Expression of the vocabulary's marker genes only: counts / library size * 1e4 (linear, not
   log: on a log scale a marker at a fifth of its usual level still looks well expressed), with
   the library size taken over all genes; the cells x markers matrix stays sparse.
2. Each marker is scaled to [0, 1] by the 90th percentile of its non-zero values, so a highly
   expressed marker (LYZ) does not outweigh a modest but specific one (FOXP3).
3. Score per type = mean scaled expression of its positive markers present in the data, minus
   the mean of its negative markers, minus `specificity_penalty` x the strongest evidence for a
   competing type from markers this type does not list (so naive and memory T cells, which
   share CD3E/CD4, are told apart by what is specific to each). Types with fewer than
   `min_markers` positive markers in the data are not called (a one-gene call is not a call)
   and are listed in `skipped`.
4. Call = best-scoring type; confidence = best minus runner-up score (0..1). A cell is
   `unassigned` when its best score is below `min_score` or its margin below `min_margin`.
Candidate types can be restricted to the tissue compartments present (CSF/blood vs CNS) or to
an explicit list; vocabulary subtypes (entries with a `parent`) are only called on request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.io.registry import UNASSIGNED

#: Ground truth of scanpy's bundled pbmc68k_reduced `bulk_labels` -> acceptable vocabulary ids.
#: bulk_labels come from correlation with FACS-sorted bulk references (Zheng 2017), which had no
#: CD16+ monocyte population, so FCGR3A-high monocytes carry "CD14+ Monocyte" (in this subset
#: that label has higher FCGR3A than LYZ): both monocyte types count as correct for it.
#: CD34+ progenitors have no vocabulary type and are left out of the comparison.
PBMC68K_TRUTH: dict[str, tuple[str, ...]] = {
    "CD14+ Monocyte": ("mono_classical", "mono_intermediate", "mono_nonclassical"),
    "CD19+ B": ("B_naive", "B_memory"),
    "CD4+/CD25 T Reg": ("Treg",),
    "CD4+/CD45RA+/CD25- Naive T": ("CD4_T_naive",),
    "CD4+/CD45RO+ Memory": ("CD4_T_memory",),
    "CD56+ NK": ("NK",),
    "CD8+ Cytotoxic T": ("CD8_T",),
    "CD8+/CD45RA+ Naive Cytotoxic": ("CD8_T",),
    "Dendritic": ("mDC", "pDC"),
}


def _marker_expression(adata: ad.AnnData, genes: list[str], log_normalized: bool,
                       target_sum: float, layer: str | None) -> sp.csc_matrix:
    """cells x genes normalized (linear) expression of the requested genes (sparse)."""
    X = adata.layers[layer] if layer else adata.X
    X = sp.csr_matrix(X) if not sp.issparse(X) else X.tocsr()
    cols = [adata.var_names.get_loc(g) for g in genes]
    sub = X[:, cols].astype(np.float64).tocsr()
    if log_normalized:
        # Back to the linear scale: on log1p values a marker at 1/5 of its typical level still
        # reads as ~60% expressed, which blurs e.g. CD3E-low NK from T cells.
        sub.data = np.expm1(sub.data)
        return sub.tocsc()
    library = np.asarray(X.sum(axis=1)).ravel()
    scale = np.divide(target_sum, library, out=np.zeros_like(library, dtype=np.float64),
                      where=library > 0)
    return (sp.diags(scale) @ sub).tocsc()


def marker_scores(adata: ad.AnnData, vocabulary: Mapping[str, object], *,
                  log_normalized: bool = False, target_sum: float = 1e4, layer: str | None = None,
                  min_markers: int = 2, compartments: Iterable[str] | None = None,
                  quantile: float = 0.9, specificity_penalty: float = 0.5,
                  include_subtypes: bool = False, candidates: Iterable[str] | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """Score every eligible vocabulary type per cell; return scores and skipped type ids."""
    allowed = set(compartments) if compartments is not None else None
    wanted = set(candidates) if candidates is not None else None
    present = set(adata.var_names)
    types, skipped = [], []
    for ct in vocabulary.values():
        if allowed is not None and not allowed & set(ct.compartments):
            continue
        if wanted is not None and ct.id not in wanted:
            continue
        # Subtypes (Th17 under CD4_T_memory, neuron subclasses) refine a parent: calling them
        # from a handful of markers is not reliable, so by default the parent level is called.
        if not include_subtypes and getattr(ct, "parent", None):
            continue
        if not ct.markers:  # a lineage-only term: reached through the Cell Ontology, never called
            continue
        positives = [g for g in ct.markers if g in present]
        if len(positives) < min_markers:
            skipped.append(ct.id)
            continue
        types.append((ct.id, positives, [g for g in ct.negative_markers if g in present]))
    genes = sorted({g for _, pos, neg in types for g in (*pos, *neg)})
    if not types:
        return pd.DataFrame(index=adata.obs_names), skipped
    expr = _marker_expression(adata, genes, log_normalized, target_sum, layer)
    scale = np.ones(len(genes))
    for j in range(len(genes)):
        values = expr.data[expr.indptr[j]:expr.indptr[j + 1]]
        values = values[values > 0]
        if values.size:
            scale[j] = max(np.quantile(values, quantile), 1e-12)
    scaled = (expr @ sp.diags(1.0 / scale)).tocsr()
    scaled.data = np.minimum(scaled.data, 1.0)
    column = {g: j for j, g in enumerate(genes)}

    def mean_of(gene_list: Iterable[str], sign: float = 1.0) -> np.ndarray:
        chosen = [column[g] for g in gene_list]
        if not chosen:
            return np.zeros(scaled.shape[0])
        weights = np.zeros(len(genes))
        weights[chosen] = sign / len(chosen)
        return np.asarray(scaled @ weights).ravel()

    positive = {t: mean_of(pos) for t, pos, _ in types}
    scores = {}
    for type_id, pos, neg in types:
        own = set(pos)
        # Evidence for a competing type that this type does not share (e.g. CCR7/SELL for a
        # naive cell scored as memory): without it, a type whose specific markers are absent
        # from the data would tie with the right type on shared markers (CD3E, CD4) alone.
        competing = [mean_of([g for g in other_pos if g not in own])
                     for other, other_pos, _ in types if other != type_id]
        penalty = np.max(competing, axis=0) if competing else 0.0
        scores[type_id] = positive[type_id] + mean_of(neg, -1.0) - specificity_penalty * penalty
    return pd.DataFrame(scores, index=adata.obs_names), skipped


def annotate_cells(adata: ad.AnnData, vocabulary: Mapping[str, object], *,
                   min_score: float = 0.2, min_margin: float = 0.05, **score_options
                   ) -> pd.DataFrame:
    """Call a vocabulary type (or `unassigned`) per cell with a confidence in [0, 1]."""
    scores, _ = marker_scores(adata, vocabulary, **score_options)
    if scores.shape[1] == 0:
        return pd.DataFrame({"cell_type": UNASSIGNED, "confidence": 0.0, "score": 0.0},
                            index=adata.obs_names)
    values = scores.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")
    best = values[np.arange(len(values)), order[:, 0]]
    second = (values[np.arange(len(values)), order[:, 1]] if values.shape[1] > 1
              else np.zeros(len(values)))
    margin = np.clip(best - second, 0.0, 1.0)
    calls = np.asarray(scores.columns)[order[:, 0]].astype(object)
    calls[(best < min_score) | (margin < min_margin)] = UNASSIGNED
    return pd.DataFrame({"cell_type": calls.astype(str), "confidence": margin, "score": best},
                        index=adata.obs_names)


def evaluate_annotation(predicted: pd.Series, truth: pd.Series,
                        truth_map: Mapping[str, Iterable[str]] | None = None,
                        vocabulary: Mapping[str, object] | None = None) -> dict:
    """Accuracy of calls against known labels, on the cells whose label maps to a called type.

    `truth_map` maps each true label to the acceptable vocabulary ids (default: the label
    itself). Cells whose label has no acceptable id are left out (types not shared). Returns
    accuracy (unassigned counts as wrong), coverage, accuracy among assigned cells, lineage-level
    accuracy when a vocabulary is given, and a per-label table.
    """
    predicted = predicted.astype(str)
    truth = truth.astype(str)
    accept = {k: set(v) for k, v in (truth_map or {t: (t,) for t in truth.unique()}).items()}
    shared = truth.map(lambda t: bool(accept.get(t)))
    pred, true = predicted[shared.to_numpy()], truth[shared.to_numpy()]
    correct = np.array([p in accept[t] for p, t in zip(pred, true, strict=True)])
    assigned = (pred != UNASSIGNED).to_numpy()
    result = {
        "n_cells": len(true),
        "n_excluded_not_shared": int((~shared).sum()),
        "accuracy": float(correct.mean()) if len(true) else float("nan"),
        "coverage": float(assigned.mean()) if len(true) else float("nan"),
        "accuracy_assigned": float(correct[assigned].mean()) if assigned.any() else float("nan"),
    }
    if vocabulary is not None and len(true):
        lineage = {k: v.lineage for k, v in vocabulary.items()}
        ok = [lineage.get(p) in {lineage.get(a) for a in accept[t]}
              for p, t in zip(pred, true, strict=True)]
        result["lineage_accuracy"] = float(np.mean(ok))
    rows = []
    for label in sorted(set(true)):
        sel = (true == label).to_numpy()
        top = pred[sel].value_counts()
        rows.append({"true_label": label, "n_cells": int(sel.sum()),
                     "recall": float(correct[sel].mean()),
                     "most_common_call": str(top.index[0]) if len(top) else ""})
    result["per_label"] = pd.DataFrame(rows)
    return result


def pbmc68k_accuracy(vocabulary: Mapping[str, object], closed_world: bool = True,
                     **options) -> dict:
    """Annotate scanpy's bundled pbmc68k_reduced (.raw is log-normalized) vs its bulk_labels.

    closed_world=True offers only the vocabulary types that some bulk label maps to (accuracy
    "on the shared types"); False offers every blood type of the vocabulary.
    """
    import scanpy as sc  # bundled data set: no download

    pbmc = sc.datasets.pbmc68k_reduced()
    data = ad.AnnData(X=sp.csr_matrix(pbmc.raw.X), obs=pbmc.obs[["bulk_labels"]].copy(),
                      var=pd.DataFrame(index=pbmc.raw.var_names))
    if closed_world:
        options.setdefault("candidates", {t for ids in PBMC68K_TRUTH.values() for t in ids})
    options.setdefault("compartments", ["blood"])
    calls = annotate_cells(data, vocabulary, log_normalized=True, **options)
    result = evaluate_annotation(calls["cell_type"], data.obs["bulk_labels"], PBMC68K_TRUTH,
                                 vocabulary)
    result["calls"] = calls
    return result


def demo_accuracy(adata: ad.AnnData, vocabulary: Mapping[str, object],
                  truth_column: str = "cell_type", closed_world: bool = False,
                  **options) -> dict:
    """Annotate a count AnnData with known labels (e.g. the demo cohort) and score the calls.

    closed_world=True offers only the types present among the true labels.
    """
    if closed_world:
        options.setdefault("candidates", set(adata.obs[truth_column].astype(str)))
    calls = annotate_cells(adata, vocabulary, **options)
    result = evaluate_annotation(calls["cell_type"], adata.obs[truth_column], None, vocabulary)
    result["calls"] = calls
    return result
