"""Ligand and receptor detection per cell and per donor x cell type, on sparse matrices.

A *feature* is one module of one axis (its ligand or its receptor) given as alternative
complexes, each a tuple of subunit genes. A complex is only as present as its scarcest subunit
(minimum over subunits); an axis module is present if any alternative is (maximum over
complexes). This is the rule of CellPhoneDB, LIANA and huCIRA's receiver layer.

Only the columns of the genes named by the features are ever extracted, and only one gene's
column is made dense at a time, so a cells x genes matrix is never densified.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.scoring.checks import as_csr

MODULE_NAMES: tuple[str, ...] = ("ligand", "receptor")


@dataclasses.dataclass(frozen=True)
class Feature:
    """One detectable module of an axis: alternative complexes of subunit genes."""

    axis: str
    module: str
    complexes: tuple[tuple[str, ...], ...]

    @property
    def id(self) -> str:
        """Stable identifier, e.g. 'IL2.receptor'."""
        return f"{self.axis}.{self.module}"

    @property
    def genes(self) -> tuple[str, ...]:
        """All subunit genes, deduplicated in curated order."""
        return tuple(dict.fromkeys(g for c in self.complexes for g in c))


def axis_features(axes: Iterable) -> list[Feature]:
    """Ligand and receptor features of every axis (ligand heteromers kept as complexes)."""
    features = []
    for axis in axes:
        features.append(Feature(axis.id, "ligand", tuple(axis.ligand_complexes)))
        features.append(Feature(axis.id, "receptor", tuple(axis.receptor_complexes)))
    return features


def _gene_columns(matrix: sp.csr_matrix, var_names: Sequence[str],
                  genes: Iterable[str]) -> tuple[sp.csc_matrix, dict[str, int]]:
    """Extract the columns of the present genes as CSC, with gene -> column position."""
    index = {g: i for i, g in enumerate(var_names)}
    present = [g for g in dict.fromkeys(genes) if g in index]
    sub = matrix[:, [index[g] for g in present]].tocsc()
    return sub, {g: j for j, g in enumerate(present)}


def _column(sub: sp.csc_matrix, j: int) -> np.ndarray:
    """One gene's values for all cells as a dense float vector."""
    column = np.zeros(sub.shape[0], dtype=np.float64)
    start, end = sub.indptr[j], sub.indptr[j + 1]
    column[sub.indices[start:end]] = sub.data[start:end]
    return column


def _measurable(features: Sequence[Feature], columns: dict[str, int]) -> list[list[tuple]]:
    """Per feature, the complexes whose subunits are all measured (others cannot be judged)."""
    return [[c for c in f.complexes if all(g in columns for g in c)] for f in features]


def cell_detection(matrix: sp.spmatrix | sp.sparray, var_names: Sequence[str],
                   features: Sequence[Feature]) -> pd.DataFrame:
    """Per cell and feature: max over complexes of the min subunit value (NaN if unmeasurable)."""
    csr = as_csr(matrix, "cell_detection", "X", dense_ok=False)
    sub, columns = _gene_columns(csr, var_names, (g for f in features for g in f.genes))
    out = np.full((csr.shape[0], len(features)), np.nan, dtype=np.float32)
    for k, complexes in enumerate(_measurable(features, columns)):
        best = None
        for complex_ in complexes:
            value = _column(sub, columns[complex_[0]])
            for gene in complex_[1:]:
                np.minimum(value, _column(sub, columns[gene]), out=value)
            best = value if best is None else np.maximum(best, value)
        if best is not None:
            out[:, k] = best
    return pd.DataFrame(out, columns=[f.id for f in features])


def _group_codes(groups: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer code per cell for each distinct row of the grouping columns, sorted."""
    keys = groups.astype(str)
    uniques = keys.drop_duplicates().sort_values(list(keys.columns)).reset_index(drop=True)
    lookup = {tuple(row): i for i, row in enumerate(uniques.itertuples(index=False))}
    codes = np.fromiter((lookup[tuple(r)] for r in keys.itertuples(index=False)),
                        dtype=np.int64, count=len(keys))
    return codes, uniques


def measurable_complexes(features: Sequence[Feature], present: Iterable[str]) -> list[tuple[str, ...]]:
    """Every distinct complex (first-seen order) whose subunits are all among `present` genes."""
    present = set(present)
    return list(dict.fromkeys(c for f in features for c in f.complexes
                              if all(g in present for g in c)))


def group_detection(matrix: sp.spmatrix | sp.sparray, var_names: Sequence[str],
                    groups: pd.DataFrame, features: Sequence[Feature],
                    threshold: float = 0.0) -> pd.DataFrame:
    """Per group (e.g. donor x cell type) and feature: mean and fraction of cells expressing.

    ``mean`` and ``fraction`` are per-gene group means/fractions (value > threshold), reduced by
    the minimum over a complex's subunits and the maximum over alternative complexes;
    ``fraction_all_subunits`` is the fraction of cells that express every subunit of the best
    complex themselves (max over complexes). Unmeasurable features get NaN and a reason.
    """
    csr = as_csr(matrix, "group_detection", "X", dense_ok=False)
    if len(groups) != csr.shape[0]:
        raise InputError("group_detection", "groups", f"{len(groups)} rows for "
                         f"{csr.shape[0]} cells", "pass one grouping row per cell (obs order)")
    codes, uniques = _group_codes(groups)
    n_groups = len(uniques)
    indicator = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                              shape=(n_groups, len(codes)))
    n_cells = np.asarray(indicator.sum(axis=1)).ravel()
    sub, columns = _gene_columns(csr, var_names, (g for f in features for g in f.genes))
    sums = np.asarray((indicator @ sub).todense())
    expressed = sub.copy()
    expressed.data = (expressed.data > threshold).astype(np.float64)
    expressing = np.asarray((indicator @ expressed).todense())
    complexes = measurable_complexes(features, columns)
    all_on = np.zeros((n_groups, len(complexes)))
    for k, complex_ in enumerate(complexes):
        cells_on = np.ones(csr.shape[0], dtype=bool)
        for gene in complex_:
            cells_on &= _column(sub, columns[gene]) > threshold
        all_on[:, k] = np.bincount(codes, weights=cells_on, minlength=n_groups)
    return detection_table(uniques, n_cells, columns, sums, expressing, complexes, all_on, features)


def detection_table(uniques: pd.DataFrame, n_cells: np.ndarray, columns: dict[str, int],
                    sums: np.ndarray, expressing: np.ndarray, complexes: Sequence[tuple[str, ...]],
                    all_on: np.ndarray, features: Sequence[Feature]) -> pd.DataFrame:
    """Assemble the group x feature table from per-group sums (shared by the streaming pass).

    ``sums``/``expressing`` are groups x genes (columns as in ``columns``) sums of values and
    counts of cells above the threshold; ``all_on`` is groups x complexes counts of cells with
    every subunit above it.
    """
    n_groups = len(uniques)
    means = sums / n_cells[:, None]
    fractions = expressing / n_cells[:, None]
    complex_index = {c: k for k, c in enumerate(complexes)}
    keys = list(uniques.itertuples(index=False, name=None))  # not .iloc per row: too slow
    rows = []
    for feature, measurable in zip(features, _measurable(features, columns), strict=True):
        missing = ";".join(g for g in feature.genes if g not in columns)
        if not measurable:
            for gi in range(n_groups):
                rows.append((*keys[gi], feature.axis, feature.module, int(n_cells[gi]),
                             np.nan, np.nan, np.nan, "", "", missing))
            continue
        cmean = np.stack([means[:, [columns[g] for g in c]].min(axis=1) for c in measurable], 1)
        cfrac = np.stack([fractions[:, [columns[g] for g in c]].min(axis=1) for c in measurable],
                         1)
        call = np.stack([all_on[:, complex_index[c]] / n_cells for c in measurable], 1)
        best = cmean.argmax(axis=1)
        for gi in range(n_groups):
            complex_ = measurable[best[gi]]
            limiting = min(complex_, key=lambda g, gi=gi: (means[gi, columns[g]], g))
            rows.append((*keys[gi], feature.axis, feature.module, int(n_cells[gi]),
                         float(cmean[gi].max()), float(cfrac[gi].max()), float(call[gi].max()),
                         "+".join(complex_), limiting, missing))
    names = [*uniques.columns, "axis", "module", "n_cells", "mean", "fraction",
             "fraction_all_subunits", "best_complex", "limiting_gene", "genes_missing"]
    return pd.DataFrame(rows, columns=names)
