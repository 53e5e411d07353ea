"""Calibration helpers: null cohorts, random donor splits and the CELL-LEVEL BASELINE.

Nothing here is used by a workflow rule. The cell-level Wilcoxon test treats cells as
independent replicates; it exists only so the calibration benchmark and the real-data checks can
show its inflated false-positive rate next to the donor-level test. Its p-values never enter a
results table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from neurokine.curated.axes import gene_sets
from neurokine.errors import InputError
from neurokine.io import prepare
from neurokine.scoring import aggregate
from neurokine.scoring.engine import score_cells
from neurokine.settings import PrepareSettings
from neurokine.stats import compare

#: Label carried by every cell-level result, so it cannot be mistaken for a donor-level test.
CELL_LEVEL_LABEL = "CALIBRATION BASELINE ONLY: cell-level Wilcoxon, cells treated as replicates"


def cell_level_wilcoxon(obs: pd.DataFrame, scores: pd.DataFrame, case: str, reference: str,
                        min_cells: int = 10) -> pd.DataFrame:
    """Two-sided Mann-Whitney U on per-cell scores (case cells vs reference cells) per cell type.

    The pseudoreplication baseline of Zimmerman et al. 2021 (PMID 33531494): for calibration
    only. Returns cell_type, signature, p_value_cell_level and the label.
    """
    disease = obs["disease"].astype(str).to_numpy()
    cell_type = obs["cell_type"].astype(str).to_numpy()
    values = scores.to_numpy(dtype=np.float64)
    rows = []
    for ct in sorted(set(cell_type)):
        in_type = cell_type == ct
        x = values[in_type & (disease == case)]
        y = values[in_type & (disease == reference)]
        if min(len(x), len(y)) < min_cells:
            continue
        p = sps.mannwhitneyu(x, y, alternative="two-sided", axis=0).pvalue
        rows += [{"cell_type": ct, "signature": s, "p_value_cell_level": float(p[j]),
                  "label": CELL_LEVEL_LABEL} for j, s in enumerate(scores.columns)]
    return pd.DataFrame(rows)


def score_donors(adata: ad.AnnData, axes: Sequence, *, qc: PrepareSettings | None, target_sum: float,
                 ctrl_size: int = 50, n_bins: int = 25, min_coverage: float = 0.5, seed: int = 0,
                 control_pool: str = "scanpy", equalize_depth: bool = False
                 ) -> tuple[ad.AnnData, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The workflow's prepare -> score -> aggregate code on one AnnData, in memory.

    Returns the prepared AnnData, per-cell scores, the donor-level long table (as
    donor_scores.tsv) and the gene-coverage table. `equalize_depth` thins every sample to the
    shallowest sample's median depth before normalizing, as the workflow's prepare stage does.
    """
    prepared = adata
    if qc is not None:
        prepared, _ = prepare.apply_qc(adata, qc)
    prepared = prepared.copy()
    samples = prepared.obs["sample_id"].astype(str).to_numpy()
    totals = prepare.qc_metrics(prepared)["total_counts"].to_numpy()
    plan = prepare.depth_plan(prepare.sample_depths(samples, totals, np.ones(len(samples), bool)),
                              equalize=equalize_depth)
    prepared = prepare.normalize_to_plan(prepared, plan, target_sum, seed, "benchmark input")
    cell_scores, coverage = score_cells(
        prepared.X, prepared.var_names, gene_sets(axes), ctrl_size=ctrl_size,
        n_bins=n_bins, random_state=seed, min_coverage=min_coverage, control_pool=control_pool)
    cell_scores.index = prepared.obs_names
    donor_scores = aggregate.mean_scores(prepared.obs, cell_scores)
    return prepared, cell_scores, donor_scores, coverage


def relabel_donors(frame: pd.DataFrame, case_donors: set[str], case: str = "case",
                   reference: str = "reference") -> pd.DataFrame:
    """Copy of a table whose `disease` says `case` for the chosen donors and `reference` otherwise."""
    out = frame.copy()
    out["disease"] = np.where(out["donor_id"].astype(str).isin(case_donors), case, reference)
    return out


def random_split_fpr(obs: pd.DataFrame, cell_scores: pd.DataFrame, donor_scores: pd.DataFrame,
                     coverage: pd.DataFrame, *, n_case: int, n_splits: int, seed: int,
                     n_reference: int | None = None, alpha: float = 0.05, min_cells: int = 10,
                     min_donors: int = 3, covariates: Sequence[str] = (), n_boot: int = 200,
                     module_counts: pd.DataFrame | None = None, min_module_counts: int = 10
                     ) -> pd.DataFrame:
    """Null calibration on real donors: random fake groups, donor-level test vs cell-level baseline.

    Each split draws `n_case` donors as a fake case arm and `n_reference` (default: all the
    others) as the reference arm. All distinct splits are used when there are at most
    `n_splits`. Returns one row per split with the fraction of tests at p < alpha for each
    method (the cell-level baseline is computed on the same cell types and signatures). With
    `module_counts` the compare stage's detection gate applies (compare.min_module_counts).
    """
    donors = np.array(sorted(donor_scores["donor_id"].astype(str).unique()))
    n_ref = len(donors) - n_case if n_reference is None else n_reference
    rng = np.random.default_rng(seed)
    splits: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    seen: set[frozenset[frozenset[str]]] = set()
    total = _n_distinct_splits(len(donors), n_case, n_ref)
    while len(splits) < min(n_splits, total):
        drawn = rng.choice(donors, size=n_case + n_ref, replace=False)
        case, ref = tuple(sorted(drawn[:n_case])), tuple(sorted(drawn[n_case:]))
        # A split and its mirror image (arms swapped) give the same |t|, so count it once.
        key = frozenset([frozenset(case), frozenset(ref)]) if n_case == n_ref else \
            frozenset([frozenset(case), frozenset(ref) | {"<reference>"}])
        if key in seen:
            continue
        seen.add(key)
        splits.append((case, ref))
    contrast = compare.Contrast("case", "reference")
    rows = []
    for i, (case, ref) in enumerate(splits):
        used = set(case) | set(ref)
        table = relabel_donors(donor_scores[donor_scores["donor_id"].astype(str).isin(used)], set(case))
        result = compare.compare_groups(
            table, coverage, [contrast], covariates=list(covariates), min_cells=min_cells,
            min_donors=min_donors, n_boot=n_boot, seed=seed + i, module_counts=module_counts,
            min_module_counts=min_module_counts)
        tested = result[result["status"] == "tested"]
        in_split = obs["donor_id"].astype(str).isin(used).to_numpy()
        cells = relabel_donors(obs[in_split], set(case))
        baseline = cell_level_wilcoxon(cells, cell_scores.loc[in_split, tested["signature"].unique()],
                                       "case", "reference", min_cells=min_cells)
        baseline = baseline.merge(tested[["cell_type", "signature"]], on=["cell_type", "signature"])
        rows.append({"split": i, "case_donors": ",".join(case), "reference_donors": ",".join(ref),
                     "n_tests": len(tested), "fpr": float((tested["p_value"] < alpha).mean()),
                     "fpr_permutation": float((tested["perm_p_value"] < alpha).mean())
                     if tested["perm_p_value"].notna().any() else float("nan"),
                     "n_tests_cell_level": len(baseline),
                     "fpr_cell_level": float((baseline["p_value_cell_level"] < alpha).mean())})
    return pd.DataFrame(rows)


def _n_distinct_splits(n: int, k: int, m: int | None = None) -> int:
    """Distinct (case, reference) arms of sizes k and m from n donors, mirror images counted once."""
    from math import comb

    m = n - k if m is None else m
    total = comb(n, k) * comb(n - k, m)
    return total // 2 if k == m else total


# --------------------------------------------------------------------------------------------
# The three small real datasets in ../shared/data (used by tests and benchmarks only)
# --------------------------------------------------------------------------------------------

#: File name and obs columns of each shared example dataset.
SHARED_EXAMPLES: dict[str, dict[str, str]] = {
    "kang_muscat_ctrl8": {"donor": "sample_id", "condition": "", "symbol": ""},
    "kang_muscat_example": {"donor": "donor", "condition": "condition", "symbol": "SYMBOL"},
    "onek1k_scdesignpop": {"donor": "donor", "condition": "", "symbol": "symbol"},
}


def load_shared_example(data_dir: str | Path, name: str) -> ad.AnnData:
    """Read one shared example h5ad and give it the harmonized obs contract (blood PBMC).

    Disease is `control` for unstimulated cells and `IFNb_stim` for the IFN-beta-stimulated
    half of kang_muscat_example; author cell-type labels are kept as they are.
    """
    path = Path(data_dir) / name / f"{name}.h5ad"
    if not path.is_file():
        raise InputError(str(path), "file", "shared example dataset not found",
                         "place ../shared/data next to the repository")
    spec = SHARED_EXAMPLES[name]
    adata = ad.read_h5ad(path)
    if spec["symbol"]:
        symbols = adata.var[spec["symbol"]].astype(str)
        keep = (adata.var[spec["symbol"]].notna() & (symbols != "") & (symbols != "nan")).to_numpy()
        adata = adata[:, keep].copy()
        adata.var_names = symbols[keep].to_numpy()
    adata = adata[:, ~adata.var_names.duplicated()].copy()
    obs = pd.DataFrame(index=adata.obs_names)
    donor = adata.obs[spec["donor"]].astype(str)
    condition = (adata.obs[spec["condition"]].astype(str) if spec["condition"]
                 else pd.Series("ctrl", index=adata.obs_names))
    obs["donor_id"] = donor
    obs["disease"] = np.where(condition == "stim", "IFNb_stim", "control")
    obs["sample_id"] = donor + "_" + condition
    obs["tissue"] = "blood"
    obs["cell_type"] = adata.obs["cell_type"].astype(str)
    obs["dataset_id"] = name
    for column in ("sex", "age"):
        if column in adata.obs.columns:
            obs[column] = adata.obs[column].to_numpy()
    if "sex" in obs.columns:
        obs["sex"] = obs["sex"].astype(str)
    for column in obs.columns:
        if column != "age":
            obs[column] = obs[column].astype("category")
    counts = sp.csr_matrix(adata.X)
    counts.data = np.rint(counts.data)
    return ad.AnnData(X=counts.astype(np.int32), obs=obs, var=pd.DataFrame(index=adata.var_names))
