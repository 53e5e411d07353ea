"""Collapse cells to one row per sample x cell type: mean scores, counts, detection, pseudobulk.

A sample is one donor in one tissue, so paired CSF and blood from the same donor stay apart
here and are linked by `donor_id` in the compare stage.

The in-memory functions (`mean_scores`, `gene_detection`, `pseudobulk`) take a whole AnnData;
`StreamingAggregate` builds the same tables from row blocks as they are scored, so the scoring
pass aggregates without ever holding the matrix (tests check that both agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.scoring.checks import as_csr
from neurokine.scoring.methods.base import BlockScores, GroupSums

if TYPE_CHECKING:
    from neurokine.scoring.plan import ScoringPlan

#: Per-cell obs columns carried to the sample level when a dataset has them.
SAMPLE_COLUMNS = ("dataset_id", "sample_id", "donor_id", "tissue", "disease")
COVARIATE_COLUMNS = ("sex", "age", "batch")
#: Relative difference below which a null and an observed group mean count as tied.
TIE_TOLERANCE = 1e-9


def group_index(obs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the sorted sample x cell-type groups and each cell's group number."""
    keys = obs[["sample_id", "cell_type"]].astype(str)
    groups = keys.drop_duplicates().sort_values(["sample_id", "cell_type"]).reset_index(drop=True)
    lookup = {tuple(row): i for i, row in enumerate(groups.itertuples(index=False))}
    codes = np.fromiter((lookup[tuple(r)] for r in keys.itertuples(index=False)),
                        dtype=np.int64, count=len(keys))
    return groups, codes


def indicator(codes: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """Sparse groups x cells membership matrix, so group sums are one product."""
    n_cells = len(codes)
    return sp.csr_matrix((np.ones(n_cells), (codes, np.arange(n_cells))), shape=(n_groups, n_cells))


def sample_table(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per sample with its donor, tissue, disease and any donor covariates."""
    columns = [c for c in (*SAMPLE_COLUMNS, *COVARIATE_COLUMNS) if c in obs.columns]
    table = obs[columns].astype({c: str for c in columns if c != "age"}).drop_duplicates()
    duplicated = table["sample_id"].duplicated()
    if duplicated.any():
        bad = table.loc[duplicated, "sample_id"].iloc[0]
        raise ValueError(f"sample {bad!r} has more than one donor/tissue/disease/covariate value")
    return table.sort_values("sample_id").reset_index(drop=True)


def mean_scores(obs: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Long table of the mean per-cell score per sample x cell type x signature."""
    groups, codes = group_index(obs)
    member = indicator(codes, len(groups))
    n_cells = np.asarray(member.sum(axis=1)).ravel()
    sums = member @ scores.to_numpy(dtype=np.float64)
    return _long_scores(groups, n_cells, sums, list(scores.columns), obs)


def _long_scores(groups: pd.DataFrame, n_cells: np.ndarray, sums: np.ndarray,
                 signatures: Sequence[str], obs: pd.DataFrame) -> pd.DataFrame:
    """Long sample x cell type x signature table of mean scores from per-group sums."""
    wide = pd.DataFrame(sums / n_cells[:, None], columns=list(signatures))
    wide[["sample_id", "cell_type"]] = groups
    wide["n_cells"] = n_cells.astype(np.int64)
    long = wide.melt(id_vars=["sample_id", "cell_type", "n_cells"], var_name="signature",
                     value_name="mean_score")
    long[["axis", "module"]] = _axis_module(long["signature"])
    return long.merge(sample_table(obs), on="sample_id", how="left")


def _axis_module(signature: pd.Series) -> pd.DataFrame:
    """Split 'AXIS.module' ids (a name without a dot is all axis, with an empty module)."""
    parts = signature.astype(str).str.rsplit(".", n=1, expand=True)
    if parts.shape[1] == 1:
        parts[1] = ""
    return parts.fillna("").set_axis(["axis", "module"], axis=1)


def cell_counts(obs: pd.DataFrame, cell_types: Sequence[str] | None = None) -> pd.DataFrame:
    """Cells per sample x cell type, including zeros, with each sample's total (for composition)."""
    types = sorted(set(obs["cell_type"].astype(str)) | set(cell_types or []))
    counts = pd.crosstab(obs["sample_id"].astype(str), obs["cell_type"].astype(str))
    counts = counts.reindex(columns=types, fill_value=0)
    long = counts.stack().rename("n_cells").reset_index()
    long.columns = ["sample_id", "cell_type", "n_cells"]
    long["n_cells_sample"] = long.groupby("sample_id")["n_cells"].transform("sum")
    return long.merge(sample_table(obs), on="sample_id", how="left")


def gene_detection(adata: ad.AnnData, genes: Sequence[str]) -> pd.DataFrame:
    """Mean log-normalized expression and fraction of cells with counts > 0, per group x gene."""
    present = [g for g in dict.fromkeys(genes) if g in adata.var_names]
    groups, codes = group_index(adata.obs)
    member = indicator(codes, len(groups))
    n_cells = np.asarray(member.sum(axis=1)).ravel()[:, None]
    columns = adata.var_names.get_indexer(present)
    expression = as_csr(adata.X, "gene_detection", "X")[:, columns]
    counts = as_csr(adata.layers["counts"], "gene_detection", "layers/counts")[:, columns]
    sums = np.asarray((member @ expression).todense())
    expressing = np.asarray((member @ (counts > 0).astype(np.float64)).todense())
    return _gene_table(groups, n_cells.ravel(), present, sums, expressing)


def _gene_table(groups: pd.DataFrame, n_cells: np.ndarray, genes: Sequence[str], sums: np.ndarray,
                expressing: np.ndarray) -> pd.DataFrame:
    """Long group x gene table of mean expression and fraction of cells with counts > 0."""
    mean = sums / n_cells[:, None]
    fraction = expressing / n_cells[:, None]
    if not len(genes):
        return pd.DataFrame(columns=[*groups.columns, "gene", "mean_expression",
                                     "fraction_expressing"])
    return pd.concat(
        [groups.assign(gene=g, mean_expression=mean[:, j], fraction_expressing=fraction[:, j])
         for j, g in enumerate(genes)], ignore_index=True)


def pseudobulk(adata: ad.AnnData) -> ad.AnnData:
    """Summed raw counts per sample x cell type, with group metadata in obs."""
    groups, codes = group_index(adata.obs)
    member = indicator(codes, len(groups))
    counts = as_csr(adata.layers["counts"], "pseudobulk", "layers/counts").astype(np.float64)
    summed = sp.csr_matrix(member @ counts)
    n_cells = np.asarray(member.sum(axis=1)).ravel()
    return _pseudobulk_anndata(groups, n_cells, summed, adata.obs, adata.var_names)


def _pseudobulk_anndata(groups: pd.DataFrame, n_cells: np.ndarray, summed: sp.spmatrix,
                        obs: pd.DataFrame, var_names: pd.Index) -> ad.AnnData:
    """The pseudobulk AnnData: integer count sums, group metadata in obs."""
    table = groups.copy()
    table["n_cells"] = n_cells.astype(np.int64)
    table = table.merge(sample_table(obs), on="sample_id", how="left")
    table.index = (table["sample_id"] + "|" + table["cell_type"]).to_numpy()
    return ad.AnnData(X=sp.csr_matrix(summed).astype(np.int64), obs=table,
                      var=pd.DataFrame(index=pd.Index(var_names).copy()))


class StreamingAggregate:
    """Sample x cell-type aggregation fed one row block at a time, during the scoring pass.

    Holds only per-group sums (groups x signatures, x ligand/receptor genes, x complexes and a
    sparse groups x genes pseudobulk), never per-cell data, so memory does not grow with cells.
    """

    def __init__(self, obs: pd.DataFrame, var_names: Sequence[str], signatures: Sequence[str],
                 n_null: int, features: Sequence, genes: Sequence[str]) -> None:
        from neurokine.scoring.detection import measurable_complexes

        self.obs = obs
        self.var_names = pd.Index(var_names)
        self.groups, self.codes = group_index(obs)
        n_groups = len(self.groups)
        self.n_cells = np.bincount(self.codes, minlength=n_groups).astype(np.float64)
        self.signatures, self.n_null = list(signatures), int(n_null)
        self.features = list(features)
        self.genes = [g for g in dict.fromkeys(genes) if g in self.var_names]
        self.gene_columns = self.var_names.get_indexer(self.genes)
        self.complexes = measurable_complexes(self.features, self.genes)
        position = {g: j for j, g in enumerate(self.genes)}
        self.complex_columns = [[position[g] for g in c] for c in self.complexes]
        self.score_sums = np.zeros((n_groups, len(self.signatures)))
        self.null_parts = GroupSums()
        self.value_sums = np.zeros((n_groups, len(self.genes)))
        self.value_expressing = np.zeros((n_groups, len(self.genes)))
        self.count_expressing = np.zeros((n_groups, len(self.genes)))
        self.all_on = np.zeros((n_groups, len(self.complexes)))
        self.bulk = sp.csr_matrix((n_groups, len(self.var_names)), dtype=np.int64)

    def add(self, start: int, stop: int, values: sp.csr_matrix, counts: sp.csr_matrix | None,
            scores: BlockScores) -> None:
        """Add the cells start:stop: normalized values, raw counts (optional) and their scores."""
        codes = self.codes[start:stop]
        member = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                               shape=(len(self.groups), len(codes)))
        self.score_sums += member @ scores.real
        self.null_parts.add(member, scores)
        dense = values[:, self.gene_columns].toarray().astype(np.float64)
        on = dense > 0
        self.value_sums += member @ dense
        self.value_expressing += member @ on
        for k, cols in enumerate(self.complex_columns):
            self.all_on[:, k] += member @ on[:, cols].all(axis=1)
        if counts is None:
            return
        self.count_expressing += member @ (counts[:, self.gene_columns].toarray() > 0)
        member_int = sp.csr_matrix((np.ones(len(codes), np.int64), member.indices, member.indptr),
                                   shape=member.shape)
        self.bulk = self.bulk + member_int @ counts.astype(np.int64)

    def donor_scores(self) -> pd.DataFrame:
        """Mean score per sample x cell type x signature (as `mean_scores`)."""
        return _long_scores(self.groups, self.n_cells, self.score_sums, self.signatures, self.obs)

    def gene_detection(self) -> pd.DataFrame:
        """Mean normalized expression and fraction with counts > 0 (as `gene_detection`)."""
        return _gene_table(self.groups, self.n_cells, self.genes, self.value_sums,
                           self.count_expressing)

    def receptor_detection(self) -> pd.DataFrame:
        """Ligand/receptor complexes per group (as `detection.group_detection` on X)."""
        from neurokine.scoring.detection import detection_table

        columns = {g: j for j, g in enumerate(self.genes)}
        table = detection_table(self.groups, self.n_cells, columns, self.value_sums,
                                self.value_expressing, self.complexes, self.all_on, self.features)
        return table.merge(sample_table(self.obs), on="sample_id", how="left")

    def pseudobulk(self) -> ad.AnnData:
        """Summed raw counts per group (as `pseudobulk`)."""
        return _pseudobulk_anndata(self.groups, self.n_cells, self.bulk, self.obs, self.var_names)

    def null_calibration(self, plan: ScoringPlan) -> pd.DataFrame:
        """Each group's mean score against the same group's means of its null signatures."""
        observed = self.score_sums / self.n_cells[:, None]
        if self.n_null:
            null = plan.null_group_means(self.null_parts, self.n_cells)
        else:
            null = np.zeros((len(self.groups), len(self.signatures), 0))
        return calibration_table(self.groups, self.n_cells, self.signatures, observed, null,
                                 self.obs)


def calibration_table(groups: pd.DataFrame, n_cells: np.ndarray, signatures: Sequence[str],
                      observed: np.ndarray, null: np.ndarray, obs: pd.DataFrame) -> pd.DataFrame:
    """Long table: observed group mean, null mean/sd, z and empirical tail fractions.

    ``null_p_upper`` is (1 + #nulls >= observed) / (1 + n_null), ``null_p_lower`` the same for
    <=; with 0 or 1 null the standard deviation and z are NaN.
    """
    n_null = null.shape[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = null.mean(axis=2) if n_null else np.full(observed.shape, np.nan)
        sd = null.std(axis=2, ddof=1) if n_null > 1 else np.full(observed.shape, np.nan)
        z = np.where(sd > 0, (observed - mean) / sd, np.nan)
    # A null that equals the observed mean in exact arithmetic (groups of cells expressing
    # neither set) may differ from it in the last bits, depending on summation order; counting
    # it as a tie keeps the tail fractions identical across machines and thread counts.
    tolerance = TIE_TOLERANCE * np.maximum(1.0, np.abs(observed))[:, :, None]
    upper = (1 + (null >= observed[:, :, None] - tolerance).sum(axis=2)) / (1 + n_null)
    lower = (1 + (null <= observed[:, :, None] + tolerance).sum(axis=2)) / (1 + n_null)
    frames = []
    for j, name in enumerate(signatures):
        frame = groups.copy()
        frame["signature"] = name
        frame["n_cells"] = n_cells.astype(np.int64)
        frame["mean_score"] = observed[:, j]
        frame["null_mean"], frame["null_sd"], frame["null_z"] = mean[:, j], sd[:, j], z[:, j]
        frame["null_p_upper"], frame["null_p_lower"] = upper[:, j], lower[:, j]
        frame["n_null"] = n_null
        frames.append(frame)
    columns = [*groups.columns, "signature", "n_cells", "mean_score", "null_mean", "null_sd",
               "null_z", "null_p_upper", "null_p_lower", "n_null"]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    long[["axis", "module"]] = _axis_module(long["signature"]) if len(long) else None
    return long.merge(sample_table(obs), on="sample_id", how="left")
