"""Specificity-aware cytokine activities: every response program fitted jointly, then tested across
donors.

Scoring each axis's response module alone lets programs that share genes, or that the same
stimulus induces, leak into each other (IFN-beta raises an IFN-gamma module too). Here each
sample's pseudobulk profile (log-CPM of one cell type, centred over its genes) is regressed on all
programs at once, genes being the observations: a multivariate linear model with an intercept,
the model of decoupler's `mlm` (tests/unit/test_activity.py checks the t-values against
decoupler 2.2.0). The programs are CytoSig's 43 signatures (Jiang et al. 2021, PMID 34594031)
when that optional reference is installed: weighted and learned from many experiments, they
separate type I from type II interferon where the curated 10-40-gene sets cannot; otherwise the
curated response modules. An axis's activity is the sum of the coefficients of its programs.

Every sample's activity is linear in its profile, so the difference of the arms' mean activities
is the joint model of the differential profile; testing the per-sample activities with the
compare stage's donor-level model (moderated t, permutation p-values, bootstrap-t interval,
BH-FDR) gives the donor-level uncertainty.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from neurokine.curated import references
from neurokine.curated.axes import Axis
from neurokine.errors import InputError
from neurokine.settings import CompareSettings, Contrast
from neurokine.stats import compare, pseudobulk
from neurokine.stats.enrichment import expressed_genes

log = logging.getLogger(__name__)

#: Columns of activity_tests.tsv: the compare stage's columns, with `activity` for the effect.
ACTIVITY_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "level", "tissue", "cell_type", "axis",
    "resource", "status", "reason", "n_donors_case", "n_donors_reference", "n_genes", "activity",
    "se", "ci_low", "ci_high", "hedges_g", "t", "df", "p_value", "fdr", "fdr_family",
    "perm_p_value", "perm_p_floor", "activity_shared_genes_removed", "mean_case",
    "mean_reference", "design", "test",
]
#: Columns of activity_leakage.tsv: how much two axes' programs can be confused.
LEAKAGE_COLUMNS = ["axis", "other_axis", "shared_response_genes", "jaccard",
                   "weight_correlation", "n_genes_in_data", "resource"]
#: Fewest genes a cell type's universe needs before programs are fitted.
MIN_GENES = 30
#: A gene enters a cell type's fit when this many counts are seen in min_donors_per_arm samples.
MIN_COUNT = 1
#: The cell-type level of a table without levels (every cell type at the finest resolution).
DEFAULT_LEVEL = "fine"


@dataclasses.dataclass(frozen=True)
class ActivityModel:
    """Program weights (genes x programs), the axis each program belongs to, and their source."""

    weights: pd.DataFrame
    axis_of: dict[str, str]
    resource: str
    #: True when a gene outside `weights` belongs to no program (curated membership): such genes
    #: join the fit with weight 0; CytoSig's weights are unknown outside its genes.
    zero_outside: bool = False

    def axes(self) -> list[str]:
        """Axes with at least one program, sorted."""
        return sorted(set(self.axis_of.values()))


def activity_model(axes: Sequence[Axis], resource: str = "auto") -> ActivityModel:
    """CytoSig's signatures when installed (`auto`, `cytosig`), else the curated response modules."""
    matrix = references.load_cytosig() if resource in ("auto", "cytosig") else None
    if matrix is not None:
        axis_of = {name: axis for axis, names in references.axis_reference_names(axes, "cytosig").items()
                   for name in names}
        # Every CytoSig signature enters the joint fit; unmapped ones absorb other cytokines.
        axis_of |= {name: f"other:{name}" for name in matrix.columns if name not in axis_of}
        return ActivityModel(matrix.astype(float), axis_of, "cytosig")
    if resource == "cytosig":
        raise InputError("secactpy", "cytosig", "the CytoSig reference is not installed",
                         references.FILES["cytosig"].install_hint)
    genes = sorted({g for axis in axes for g in axis.response})
    programs = [a for a in axes if a.response]
    weights = pd.DataFrame({a.id: [1.0 if g in a.response else 0.0 for g in genes] for a in programs},
                           index=genes)
    return ActivityModel(weights, {a.id: a.id for a in programs}, "curated", zero_outside=True)


def fit_programs(profiles: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per profile (rows: samples; columns: genes), the coefficient and t-value of every program
    (columns of `weights`) in one least-squares fit with an intercept, genes as observations."""
    design = np.column_stack([np.ones(weights.shape[0]), weights])
    solver = np.linalg.pinv(design)                               # (1 + programs) x genes
    unscaled = solver @ solver.T                                  # (X'X)^-1, positive semi-definite
    coefficients = profiles @ solver.T                            # samples x (1 + programs)
    residuals = profiles - coefficients @ design.T
    df = design.shape[0] - design.shape[1]
    sigma2 = (residuals**2).sum(axis=1) / df
    se = np.sqrt(np.outer(sigma2, np.diag(unscaled)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, coefficients / se, np.nan)
    return coefficients[:, 1:], t[:, 1:]


def shared_response_genes(axes: Sequence[Axis]) -> set[str]:
    """Genes that two or more axes' curated response modules name."""
    seen: dict[str, int] = {}
    for axis in axes:
        for gene in set(axis.response):
            seen[gene] = seen.get(gene, 0) + 1
    return {gene for gene, n in seen.items() if n > 1}


def sample_activities(pb: ad.AnnData, model: ActivityModel, *, min_cells: int, min_samples: int,
                      drop_genes: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """Activity of every axis in every sample x cell type (one joint fit per sample), long format
    with the pseudobulk's obs columns, `signature` = '<AXIS>.activity' and `n_genes`."""
    pseudobulk.check_pseudobulk(pb, "pseudobulk AnnData")
    obs = pb.obs.reset_index(drop=True)
    counts = pb.X.toarray() if hasattr(pb.X, "toarray") else np.asarray(pb.X)
    expression = pseudobulk.expression(pb)
    in_model = (np.ones(pb.n_vars, dtype=bool) if model.zero_outside
                else pd.Index(pb.var_names).isin(model.weights.index))
    if drop_genes:
        in_model &= ~pd.Index(pb.var_names).isin(list(drop_genes))
    axes = [a for a in model.axes() if not a.startswith("other:")]  # fitted, not reported
    summing = np.array([[model.axis_of[p] == a for a in axes] for p in model.weights.columns], float)
    frames = []
    keys = [c for c in ("level", "tissue", "cell_type") if c in obs.columns]
    for _, index in obs.groupby(keys, sort=True, observed=True).groups.items():
        rows = np.array([i for i in index if obs.loc[i, "n_cells"] >= min_cells], dtype=np.int64)
        if rows.size == 0:
            continue
        # Every program gene the cell type detects: a gene that does not change still tells
        # programs apart (on Kang IFN-beta, keeping only genes with 5+ counts raised IL27's
        # leakage from 0.19 to 0.41 of IFN_I).
        genes = np.intersect1d(expressed_genes(counts[rows], MIN_COUNT, min(min_samples, rows.size)),
                               np.flatnonzero(in_model))
        if genes.size < MIN_GENES:
            continue
        weights = model.weights.reindex(pb.var_names[genes], fill_value=0.0).to_numpy()
        profiles = expression[np.ix_(rows, genes)]
        coefficients, _ = fit_programs(profiles - profiles.mean(axis=1, keepdims=True), weights)
        per_axis = coefficients @ summing                          # samples x axes
        meta = obs.loc[rows].reset_index(drop=True)
        for j, axis in enumerate(axes):
            frames.append(meta.assign(signature=f"{axis}.activity", mean_score=per_axis[:, j],
                                      n_genes=genes.size))
    if not frames:
        return pd.DataFrame(columns=[*obs.columns, "signature", "mean_score", "n_genes"])
    long = pd.concat(frames, ignore_index=True)
    for column in ("sample_id", "cell_type", "donor_id", "tissue", "disease", "dataset_id"):
        long[column] = long[column].astype(str)
    return long


def activity_tests(pb: ad.AnnData, contrasts: Sequence[Contrast], model: ActivityModel,
                   settings: CompareSettings, seed: int,
                   shared_genes: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """Donor-level test of every axis's activity per contrast x level x tissue x cell type, with the
    activity refitted without the genes several axes' modules share (`shared_genes`) beside it."""
    options = {"min_cells": settings.min_cells_per_donor, "min_samples": settings.min_donors_per_arm}
    long = sample_activities(pb, model, **options)
    if long.empty or not contrasts:
        return pd.DataFrame(columns=ACTIVITY_COLUMNS)
    coverage = pd.DataFrame({"signature": sorted(long["signature"].unique()), "status": "scored",
                             "reason": "", "coverage": np.nan})
    tested = _test(long, coverage, contrasts, settings, seed)
    if shared_genes:
        without = _test(sample_activities(pb, model, drop_genes=shared_genes, **options), coverage,
                        contrasts, settings, seed)
        keys = ["contrast", "level", "tissue", "cell_type", "signature"]
        tested = tested.merge(without[[*keys, "effect"]].rename(
            columns={"effect": "activity_shared_genes_removed"}), on=keys, how="left")
    genes = long.drop_duplicates(["cell_type"] + (["level"] if "level" in long else []))
    tested = tested.merge(genes[[c for c in ("level", "cell_type", "n_genes") if c in genes]],
                          on=[c for c in ("level", "cell_type") if c in genes], how="left")
    tested["resource"] = model.resource
    return tested.rename(columns={"effect": "activity"}).reindex(columns=ACTIVITY_COLUMNS)


def _test(long: pd.DataFrame, coverage: pd.DataFrame, contrasts: Sequence[Contrast],
          settings: CompareSettings, seed: int) -> pd.DataFrame:
    """The compare stage's donor-level tests of per-sample activities, one run per level."""
    frames = []
    levels = long.groupby("level", sort=True) if "level" in long else [(DEFAULT_LEVEL, long)]
    for level, table in levels:
        result = compare.compare_groups(table, coverage, contrasts, measure="activity",
                                        **compare.compare_options(settings, seed))
        frames.append(result.assign(level=level))
    return pd.concat(frames, ignore_index=True)


def leakage_table(axes: Sequence[Axis], model: ActivityModel, genes_in_data: Sequence[str]) -> pd.DataFrame:
    """Axis x axis: response genes shared by their curated modules (count, Jaccard) and the
    correlation of their program weights over the genes this dataset measured."""
    response = {a.id: set(a.response) for a in axes if a.response}
    present = model.weights.index.intersection(pd.Index(genes_in_data))
    per_axis = {axis: model.weights.loc[present, [p for p, a in model.axis_of.items() if a == axis]]
                .sum(axis=1) for axis in model.axes() if not axis.startswith("other:")}
    rows = []
    for axis in sorted(per_axis):
        for other in sorted(per_axis):
            if axis == other:
                continue
            left, right = response.get(axis, set()), response.get(other, set())
            union = left | right
            with np.errstate(invalid="ignore", divide="ignore"):
                correlation = float(np.corrcoef(per_axis[axis], per_axis[other])[0, 1])
            rows.append({"axis": axis, "other_axis": other, "shared_response_genes": len(left & right),
                         "jaccard": len(left & right) / len(union) if union else np.nan,
                         "weight_correlation": correlation, "n_genes_in_data": len(present),
                         "resource": model.resource})
    return pd.DataFrame(rows, columns=LEAKAGE_COLUMNS)
