"""Collapse cells to one row per sample x cell type: mean scores, counts, detection, pseudobulk.

A sample is one donor in one tissue, so paired CSF and blood from the same donor stay apart
here and are linked by `donor_id` in the compare stage.

The in-memory functions (`mean_scores`, `gene_detection`, `pseudobulk`) take a whole AnnData;
`StreamingAggregate` builds the same tables from row blocks as they are scored, so the scoring
pass aggregates without ever holding the matrix (tests check that both agree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
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


#: Columns that make a group: one row of every aggregate table per distinct combination.
GROUP_KEYS = ("sample_id", "cell_type")


def group_index(obs: pd.DataFrame, keys: Sequence[str] = GROUP_KEYS) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the sorted groups (one column per key) and each cell's group number."""
    keys = obs[list(keys)].astype(str)
    groups = keys.drop_duplicates().sort_values(list(keys.columns)).reset_index(drop=True)
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
    return _long_scores(groups, n_cells, sums, list(scores.columns), sample_table(obs))


def _long_scores(groups: pd.DataFrame, n_cells: np.ndarray, sums: np.ndarray,
                 signatures: Sequence[str], samples: pd.DataFrame) -> pd.DataFrame:
    """Long group x signature table of mean scores from per-group sums."""
    keys = list(groups.columns)
    wide = pd.DataFrame(sums / n_cells[:, None], columns=list(signatures))
    wide[keys] = groups
    wide["n_cells"] = n_cells.astype(np.int64)
    long = wide.melt(id_vars=[*keys, "n_cells"], var_name="signature", value_name="mean_score")
    long[["axis", "module"]] = _axis_module(long["signature"])
    return long.merge(samples, on="sample_id", how="left")


def _axis_module(signature: pd.Series) -> pd.DataFrame:
    """Split 'AXIS.module' ids (a name without a dot is all axis, with an empty module)."""
    parts = signature.astype(str).str.rsplit(".", n=1, expand=True)
    if parts.shape[1] == 1:
        parts[1] = ""
    return parts.fillna("").set_axis(["axis", "module"], axis=1)


def cell_counts(obs: pd.DataFrame, cell_types: Sequence[str] | None = None) -> pd.DataFrame:
    """Cells per sample x cell type, including zeros, with each sample's total (for composition)."""
    groups, codes = group_index(obs)
    n_cells = np.bincount(codes, minlength=len(groups))
    return group_cell_counts(groups, n_cells, sample_table(obs), cell_types)


def group_cell_counts(groups: pd.DataFrame, n_cells: np.ndarray, samples: pd.DataFrame,
                      cell_types: Sequence[str] | None = None) -> pd.DataFrame:
    """`cell_counts` from the cells of each sample x cell-type group (zeros filled in)."""
    types = sorted(set(groups["cell_type"]) | set(cell_types or []))
    counts = pd.DataFrame({"sample_id": groups["sample_id"], "cell_type": groups["cell_type"],
                           "n_cells": np.asarray(n_cells, dtype=np.int64)})
    counts = counts.pivot_table(index="sample_id", columns="cell_type", values="n_cells",
                                aggfunc="sum", fill_value=0)
    counts = counts.reindex(columns=types, fill_value=0).astype(np.int64)
    long = counts.stack().rename("n_cells").reset_index()
    long.columns = ["sample_id", "cell_type", "n_cells"]
    long["n_cells_sample"] = long.groupby("sample_id")["n_cells"].transform("sum")
    return long.merge(samples, on="sample_id", how="left")


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
    return _pseudobulk_anndata(groups, n_cells, summed, sample_table(adata.obs), adata.var_names)


def _pseudobulk_anndata(groups: pd.DataFrame, n_cells: np.ndarray, summed: sp.spmatrix,
                        samples: pd.DataFrame, var_names: pd.Index) -> ad.AnnData:
    """The pseudobulk AnnData: integer count sums, group metadata in obs."""
    table = groups.copy()
    table["n_cells"] = n_cells.astype(np.int64)
    table = table.merge(samples, on="sample_id", how="left")
    table.index = table[list(groups.columns)].astype(str).agg("|".join, axis=1).to_numpy()
    return ad.AnnData(X=sp.csr_matrix(summed).astype(np.int64), obs=table,
                      var=pd.DataFrame(index=pd.Index(var_names).copy()))


#: Per-group sums a shard contributes, by name: all additive over cells (float64; the
#: "expressing"/"all_on" ones are counts of cells held as floats, exact below 2^53).
SUM_NAMES = ("score_sums", "null_sums", "value_sums", "value_expressing", "count_expressing",
             "all_on")


@dataclasses.dataclass
class GroupState:
    """Everything the aggregate tables are made of, in a form that adds up across shards.

    One row per group (the `keys` columns, e.g. sample_id and cell_type; a group may gain more
    key columns, such as a cell-type level): cells, the sums of SUM_NAMES (groups first), the
    integer pseudobulk counts (groups x genes) and the sample table of the samples seen. Two
    states over disjoint cells combine by adding rows with equal keys (`combine_states`); the
    tables (`donor_scores`, ...) are derived from the combined sums only.
    """

    keys: pd.DataFrame
    n_cells: np.ndarray
    sums: dict[str, np.ndarray]
    bulk: sp.csr_matrix | None
    samples: pd.DataFrame
    signatures: list[str]
    genes: list[str]
    var_names: pd.Index

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.keys)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays of numbers and text (for `write_npz`; no pickling)."""
        arrays = {"meta/keys": np.asarray(self.keys.columns, dtype=str),
                  "meta/sample_columns": np.asarray(self.samples.columns, dtype=str),
                  "meta/signatures": np.asarray(self.signatures, dtype=str),
                  "meta/genes": np.asarray(self.genes, dtype=str),
                  "meta/var_names": np.asarray(self.var_names, dtype=str),
                  "n_cells": np.asarray(self.n_cells, dtype=np.int64)}
        for column in self.keys.columns:
            arrays[f"key/{column}"] = self.keys[column].to_numpy(dtype=str)
        for column in self.samples.columns:
            values = self.samples[column]
            numeric = pd.api.types.is_numeric_dtype(values)
            arrays[f"sample/{column}"] = values.to_numpy() if numeric else values.to_numpy(dtype=str)
        for name, values in self.sums.items():
            arrays[f"sum/{name}"] = values
        if self.bulk is not None:
            bulk = sp.csr_matrix(self.bulk)
            arrays.update({"bulk/data": bulk.data, "bulk/indices": bulk.indices,
                           "bulk/indptr": bulk.indptr, "bulk/shape": np.asarray(bulk.shape)})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GroupState:
        """The state `to_arrays` wrote."""
        def text(key: str) -> list[str]:
            return [str(v) for v in arrays[key]]

        keys = pd.DataFrame({c: text(f"key/{c}") for c in text("meta/keys")},
                            columns=text("meta/keys"))
        samples = pd.DataFrame(
            {c: (arrays[f"sample/{c}"] if arrays[f"sample/{c}"].dtype.kind in "iufb"
                 else text(f"sample/{c}")) for c in text("meta/sample_columns")},
            columns=text("meta/sample_columns"))
        bulk = None
        if "bulk/data" in arrays:
            bulk = sp.csr_matrix((arrays["bulk/data"], arrays["bulk/indices"], arrays["bulk/indptr"]),
                                 shape=tuple(arrays["bulk/shape"]))
        sums = {k.removeprefix("sum/"): v for k, v in arrays.items() if k.startswith("sum/")}
        return cls(keys, arrays["n_cells"].astype(np.int64), sums, bulk, samples,
                   text("meta/signatures"), text("meta/genes"),
                   pd.Index(text("meta/var_names"), dtype=object))


def _same(name: str, first: Sequence, other: Sequence) -> None:
    """Shards must agree on what they summed (same signatures, genes, keys)."""
    if list(first) != list(other):
        raise ValueError(f"shard states disagree on {name}; re-run every shard with one plan")


def combine_states(states: Sequence[GroupState]) -> GroupState:
    """Add up shard states (in the order given): rows with equal keys are summed.

    A group seen in one state only keeps that state's numbers bit for bit (a one-shard run
    equals the unsharded pass); groups in several states add in the given (plan) order.
    """
    if not states:
        raise ValueError("no shard state to combine")
    first = states[0]
    for state in states[1:]:
        _same("group keys", first.keys.columns, state.keys.columns)
        _same("signatures", first.signatures, state.signatures)
        _same("genes", first.genes, state.genes)
        _same("gene names", first.var_names, state.var_names)
        _same("sums", sorted(first.sums), sorted(state.sums))
    columns = list(first.keys.columns)
    keys = (pd.concat([s.keys for s in states], ignore_index=True).drop_duplicates()
            .sort_values(columns).reset_index(drop=True))
    lookup = {tuple(row): i for i, row in enumerate(keys.itertuples(index=False))}
    n_groups = len(keys)
    n_cells = np.zeros(n_groups, dtype=np.int64)
    sums = {name: np.zeros((n_groups, *values.shape[1:]), dtype=values.dtype)
            for name, values in first.sums.items()}
    seen = np.zeros(n_groups, dtype=bool)
    bulk = None if first.bulk is None else sp.csr_matrix((n_groups, first.bulk.shape[1]),
                                                         dtype=np.int64)
    for state in states:
        rows = np.array([lookup[tuple(r)] for r in state.keys.itertuples(index=False)],
                        dtype=np.int64)
        new = ~seen[rows]
        n_cells[rows] += state.n_cells
        for name, values in state.sums.items():
            sums[name][rows[new]] = values[new]
            sums[name][rows[~new]] += values[~new]
        seen[rows] = True
        if bulk is not None:
            place = sp.csr_matrix((np.ones(len(rows), np.int64), (rows, np.arange(len(rows)))),
                                  shape=(n_groups, len(rows)))
            bulk = bulk + place @ state.bulk.astype(np.int64)
    samples = pd.concat([s.samples for s in states], ignore_index=True).drop_duplicates()
    duplicated = samples["sample_id"].duplicated()
    if duplicated.any():
        bad = samples.loc[duplicated, "sample_id"].iloc[0]
        raise ValueError(f"sample {bad!r} has different metadata in two shards")
    samples = samples.sort_values("sample_id").reset_index(drop=True)
    return GroupState(keys, n_cells, sums, bulk, samples, list(first.signatures),
                      list(first.genes), first.var_names)


def regroup(state: GroupState, cell_type_as: Callable[[str], str | None]) -> GroupState:
    """The state with each group's cell type renamed by `cell_type_as` (None drops the group) and
    groups that come to share their keys added up, in key order.

    Every sum is additive over cells, so a lineage's group is exactly the sum of its types'
    groups; a group that keeps its own row keeps its numbers bit for bit.
    """
    renamed = state.keys["cell_type"].map(cell_type_as)
    kept = np.flatnonzero(renamed.notna().to_numpy())
    keys = state.keys.iloc[kept].assign(cell_type=renamed.iloc[kept].astype(str).to_numpy())
    columns = list(keys.columns)
    merged = keys.drop_duplicates().sort_values(columns).reset_index(drop=True)
    lookup = {tuple(row): i for i, row in enumerate(merged.itertuples(index=False))}
    rows = np.fromiter((lookup[tuple(r)] for r in keys.itertuples(index=False)), dtype=np.int64,
                       count=len(keys))
    member = sp.csr_matrix((np.ones(len(kept)), (rows, kept)), shape=(len(merged), state.n_groups))

    def add(values: np.ndarray) -> np.ndarray:
        flat = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
        return np.asarray(member @ flat, dtype=values.dtype).reshape(len(merged), *values.shape[1:])

    bulk = None
    if state.bulk is not None:
        bulk = sp.csr_matrix(member.astype(np.int64) @ sp.csr_matrix(state.bulk).astype(np.int64))
    return GroupState(merged, add(state.n_cells).astype(np.int64),
                      {name: add(values) for name, values in state.sums.items()}, bulk,
                      state.samples, list(state.signatures), list(state.genes), state.var_names)


class StreamingAggregate:
    """Sample x cell-type aggregation fed one row block at a time, during the scoring pass.

    Holds only per-group sums (groups x signatures, x ligand/receptor genes, x complexes and a
    sparse groups x genes pseudobulk), never per-cell data, so memory does not grow with cells.
    `state()` hands them over in additive form (GroupState), from which `AggregateTables`
    derives the tables, whether from one pass or from the combined states of many shards.
    """

    def __init__(self, obs: pd.DataFrame, var_names: Sequence[str], signatures: Sequence[str],
                 n_null: int, features: Sequence, genes: Sequence[str],
                 keys: Sequence[str] = GROUP_KEYS) -> None:
        from neurokine.scoring.detection import measurable_complexes

        self.obs = obs
        self.var_names = pd.Index(var_names)
        self.groups, self.codes = group_index(obs, keys)
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
        self.with_counts = False

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
        self.with_counts = True
        self.count_expressing += member @ (counts[:, self.gene_columns].toarray() > 0)
        member_int = sp.csr_matrix((np.ones(len(codes), np.int64), member.indices, member.indptr),
                                   shape=member.shape)
        self.bulk = self.bulk + member_int @ counts.astype(np.int64)

    def state(self, plan: ScoringPlan | None, with_counts: bool = True) -> GroupState:
        """The sums so far, in additive form (null sums need the plan unless n_null is 0)."""
        n_groups = len(self.groups)
        if self.n_null and plan is not None:
            null = plan.null_group_sums(self.null_parts, n_groups)
        else:
            null = np.zeros((n_groups, len(self.signatures), 0))
        sums = {"score_sums": self.score_sums, "null_sums": null, "value_sums": self.value_sums,
                "value_expressing": self.value_expressing,
                "count_expressing": self.count_expressing, "all_on": self.all_on}
        return GroupState(self.groups.copy(), self.n_cells.astype(np.int64), sums,
                          self.bulk if with_counts else None, sample_table(self.obs),
                          self.signatures, self.genes, self.var_names)


class AggregateTables:
    """The aggregate tables of a (combined) GroupState."""

    def __init__(self, state: GroupState, features: Sequence) -> None:
        from neurokine.scoring.detection import measurable_complexes

        self.state = state
        self.features = list(features)
        self.groups = state.keys
        self.n_cells = state.n_cells.astype(np.float64)
        self.complexes = measurable_complexes(self.features, state.genes)
        if state.sums["all_on"].shape[1] != len(self.complexes):
            raise ValueError("the shard states were made with other ligand/receptor features")

    def donor_scores(self) -> pd.DataFrame:
        """Mean score per group x signature (as `mean_scores`)."""
        return _long_scores(self.groups, self.n_cells, self.state.sums["score_sums"],
                            self.state.signatures, self.state.samples)

    def cell_counts(self, cell_types: Sequence[str] | None = None) -> pd.DataFrame:
        """Cells per sample x cell type, zeros included (as `cell_counts`)."""
        return group_cell_counts(self.groups, self.state.n_cells, self.state.samples, cell_types)

    def gene_detection(self) -> pd.DataFrame:
        """Mean normalized expression and fraction with counts > 0 (as `gene_detection`)."""
        return _gene_table(self.groups, self.n_cells, self.state.genes,
                           self.state.sums["value_sums"], self.state.sums["count_expressing"])

    def receptor_detection(self) -> pd.DataFrame:
        """Ligand/receptor complexes per group (as `detection.group_detection` on X)."""
        from neurokine.scoring.detection import detection_table

        sums = self.state.sums
        columns = {g: j for j, g in enumerate(self.state.genes)}
        table = detection_table(self.groups, self.n_cells, columns, sums["value_sums"],
                                sums["value_expressing"], self.complexes, sums["all_on"],
                                self.features)
        return table.merge(self.state.samples, on="sample_id", how="left")

    def pseudobulk(self) -> ad.AnnData:
        """Summed raw counts per group (as `pseudobulk`)."""
        if self.state.bulk is None:
            raise ValueError("the shards were scored without raw counts: no pseudobulk")
        return _pseudobulk_anndata(self.groups, self.n_cells, self.state.bulk, self.state.samples,
                                   self.state.var_names)

    def null_calibration(self) -> pd.DataFrame:
        """Each group's mean score against the same group's means of its null signatures."""
        observed = self.state.sums["score_sums"] / self.n_cells[:, None]
        null = self.state.sums["null_sums"] / self.n_cells[:, None, None]
        return calibration_table(self.groups, self.n_cells, self.state.signatures, observed, null,
                                 self.state.samples)


def calibration_table(groups: pd.DataFrame, n_cells: np.ndarray, signatures: Sequence[str],
                      observed: np.ndarray, null: np.ndarray, samples: pd.DataFrame) -> pd.DataFrame:
    """Long table: observed group mean, null mean/sd, z and empirical tail fractions.

    ``null_p_upper`` is (1 + #nulls >= observed) / (1 + n_null), ``null_p_lower`` the same for
    <=; with 0 or 1 null the standard deviation and z are NaN, and z is NaN when the nulls are
    equal within the tie tolerance.
    """
    n_null = null.shape[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = null.mean(axis=2) if n_null else np.full(observed.shape, np.nan)
        sd = null.std(axis=2, ddof=1) if n_null > 1 else np.full(observed.shape, np.nan)
        # Nulls that are all equal in exact arithmetic (no cell expresses any of their genes, as
        # for rarely detected ligands) keep a last-bits spread that depends on summation order:
        # below the tie tolerance the spread is zero, so z is NaN whatever the sharding.
        spread = sd > TIE_TOLERANCE * np.maximum(1.0, np.abs(mean))
        z = np.where(spread, (observed - mean) / np.where(spread, sd, 1.0), np.nan)
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
    return long.merge(samples, on="sample_id", how="left")
