"""Cell-type composition per donor: proportions, centred log-ratio (CLR), donor-level tests.

A disease can change how many monocytes a sample holds without changing how strongly each
monocyte signals, or the reverse. The composition test answers the first question with the same
moderated linear model as the signalling tests, so the report can put "more monocytes" next to
"monocytes signal more". CLR effects are relative: a positive effect means the type's share
rose relative to the geometric mean of all types in the sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurokine.settings import Contrast
from neurokine.stats import compare

#: Columns of composition_tests.tsv.
COMPOSITION_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "cell_type", "status", "reason",
    "n_donors_case", "n_donors_reference", "n_cells_case", "n_cells_reference",
    "mean_proportion_case", "mean_proportion_reference", "mean_case", "mean_reference", "effect",
    "se", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high", "hedges_g", "hedges_g_se", "t", "df",
    "p_value", "fdr", "fdr_family", "perm_p_value", "perm_p_floor", "perm_method", "covariates",
    "design", "test", "df_prior", "var_prior", "measure", "p_value_model",
]

#: Added to every count before the log, so absent types get a finite CLR (half a cell).
PSEUDOCOUNT = 0.5


def clr_table(cell_counts: pd.DataFrame, pseudocount: float = PSEUDOCOUNT) -> pd.DataFrame:
    """Per sample x cell type: proportion and CLR over the types seen anywhere in the dataset."""
    compare.check_columns(cell_counts, ["sample_id", "cell_type", "n_cells"], "cell_counts table")
    seen = cell_counts.groupby("cell_type", observed=True)["n_cells"].sum()
    counts = cell_counts[cell_counts["cell_type"].isin(seen[seen > 0].index)].copy()
    totals = counts.groupby("sample_id", observed=True)["n_cells"].transform("sum")
    counts["n_cells_sample"] = totals
    counts["proportion"] = counts["n_cells"] / totals.where(totals > 0)
    logs = np.log(counts["n_cells"] + pseudocount)
    counts["clr"] = logs - logs.groupby(counts["sample_id"]).transform("mean")
    return counts


def composition_family(base: dict, cell_type: str) -> str:
    """FDR and moderation family: dataset | contrast | tissue | composition (all cell types)."""
    return f"{base['dataset_id']}|{base['contrast']}|{base['tissue']}|composition"


def composition_tests(cell_counts: pd.DataFrame, contrasts: Sequence[Contrast], *,
                      covariates: Sequence[str], min_cells: int, min_donors: int, n_boot: int,
                      seed: int, max_permutations: int = 20000, permutation_max_arm: int = 8
                      ) -> pd.DataFrame:
    """Donor-level tests of each cell type's CLR abundance for every contrast x tissue.

    Samples with fewer than `min_cells` cells in total are left out (their proportions are too
    coarse). The `n_cells_*` columns count all cells of the arm's donors.
    """
    table = clr_table(cell_counts)
    unseen = sorted(set(cell_counts["cell_type"].astype(str)) - set(table["cell_type"].astype(str)))
    settings = compare.TestSettings(min_donors=min_donors, n_boot=n_boot, seed=seed,
                                    max_permutations=max_permutations,
                                    permutation_max_arm=permutation_max_arm)
    # build_stratum weights repeated samples of a donor by their cell numbers; for composition
    # the weight is the sample's total, so n_cells carries the total here.
    frame = table.rename(columns={"n_cells": "n_cells_type"}).rename(columns={"n_cells_sample": "n_cells"})
    frame = frame[frame["n_cells"] >= min_cells]
    covariates = list(covariates)
    pooled = "tissue" in covariates and frame["tissue"].nunique() > 1
    diseases = set(frame["disease"].astype(str))
    dataset_id = str(cell_counts["dataset_id"].iloc[0]) if len(cell_counts) else ""
    rows, strata = [], []
    for contrast in contrasts:
        base0 = {"dataset_id": dataset_id, "contrast": contrast.name, "case": contrast.case,
                 "reference": contrast.reference, "n_donors_case": 0, "n_donors_reference": 0}
        arms = frame[frame["disease"].isin([contrast.case, contrast.reference])]
        missing = [g for g in (contrast.case, contrast.reference) if g not in diseases]
        groups = [("+".join(sorted(arms["tissue"].astype(str).unique())), arms)] if pooled else \
            list(arms.groupby("tissue", sort=True))
        if missing:
            reason = f"no donors labelled {' or '.join(repr(m) for m in missing)} in this dataset"
            for tissue, g in frame.groupby("tissue", sort=True):
                rows += compare._not_tested({**base0, "tissue": tissue},
                                            sorted(g["cell_type"].unique()), reason, "cell_type")
            continue
        for tissue, stratum in groups:
            base = {**base0, "tissue": tissue}
            rows += compare._not_tested(base, unseen, "no cells of this type anywhere in the dataset",
                                        "cell_type")
            types = sorted(stratum["cell_type"].unique())
            present = stratum.groupby("cell_type")["n_cells_type"].sum()
            absent = sorted(present[present == 0].index)
            rows += compare._not_tested(base, absent, "no cells of this type in either arm", "cell_type")
            kept = stratum[~stratum["cell_type"].isin(absent)]
            built = compare.build_stratum(kept, contrast, covariates, dict(base), min_donors, "clr",
                                          "cell_type")
            if isinstance(built, str):
                rows += compare._not_tested(base, [t for t in types if t not in absent], built,
                                            "cell_type")
            else:
                strata.append(built)
    rows += compare.run_tests(strata, composition_family, settings, "cell_type",
                              lambda b: (b["contrast"], b["tissue"], "composition"))
    result = pd.DataFrame(rows).reindex(columns=COMPOSITION_COLUMNS)
    result["measure"] = "clr_proportion"
    if result.empty:
        return result
    result["fdr_family"] = [composition_family(r, "") for r in result.to_dict("records")]
    result = compare.add_fdr(result)
    proportions = _arm_proportions(table, contrasts, pooled, min_cells)
    result = result.drop(columns=["mean_proportion_case", "mean_proportion_reference"]).merge(
        proportions, on=["contrast", "tissue", "cell_type"], how="left")
    return result.reindex(columns=COMPOSITION_COLUMNS)


def _arm_proportions(table: pd.DataFrame, contrasts: Sequence[Contrast], pooled: bool,
                     min_cells: int) -> pd.DataFrame:
    """Mean per-donor proportion of each cell type in each arm (for reading CLR effects)."""
    rows = []
    kept = table[table["n_cells_sample"] >= min_cells]
    donors = kept.groupby(["donor_id", "disease", "tissue", "cell_type"], observed=True).agg(
        n=("n_cells", "sum"), total=("n_cells_sample", "sum")).reset_index()
    donors["proportion"] = donors["n"] / donors["total"]
    for contrast in contrasts:
        for role in ("case", "reference"):
            arm = donors[donors["disease"] == getattr(contrast, role)]
            if pooled:
                arm = arm.assign(tissue="+".join(sorted(kept["tissue"].astype(str).unique())))
                arm = arm.groupby(["donor_id", "tissue", "cell_type"], observed=True)["proportion"].mean() \
                    .reset_index()
            means = arm.groupby(["tissue", "cell_type"], observed=True)["proportion"].mean()
            for (tissue, cell_type), value in means.items():
                rows.append({"contrast": contrast.name, "tissue": tissue, "cell_type": cell_type,
                             "role": role, "value": value})
    if not rows:
        return pd.DataFrame(columns=["contrast", "tissue", "cell_type", "mean_proportion_case",
                                     "mean_proportion_reference"])
    wide = pd.DataFrame(rows).pivot_table(index=["contrast", "tissue", "cell_type"], columns="role",
                                          values="value").reset_index()
    wide.columns.name = None
    return wide.rename(columns={"case": "mean_proportion_case", "reference": "mean_proportion_reference"})
