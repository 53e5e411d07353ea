"""Random-effects meta-analysis of donor-level effects across datasets (DerSimonian-Laird).

Datasets score signatures against different gene backgrounds, so raw score differences are not
on one scale; the pooled quantity is Hedges' g (covariate-adjusted standardized effect) with its
large-sample variance. One estimate per contrast x tissue x signature x cell type, with tau^2,
Cochran's Q, I^2 and the contributing datasets. With a single contributing dataset no pooled
estimate is made: the row says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurokine.stats import models

#: Columns of meta_analysis.tsv.
META_COLUMNS = [
    "contrast", "case", "reference", "tissue", "signature", "axis", "module", "cell_type", "status",
    "reason", "n_datasets", "datasets", "n_donors_case", "n_donors_reference", "effect", "se",
    "ci_low", "ci_high", "z", "p_value", "fdr", "fdr_family", "tau2", "q", "q_p_value", "i2",
    "effect_measure", "method",
]

KEYS = ["contrast", "case", "reference", "tissue", "signature", "cell_type"]


def meta_analysis(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Pool each test's Hedges' g over the datasets that tested it; BH-FDR per contrast x module."""
    frames = [t for t in tables if not t.empty]
    if not frames:
        return pd.DataFrame(columns=META_COLUMNS)
    tests = pd.concat(frames, ignore_index=True)
    usable = tests[(tests["status"] == "tested") & np.isfinite(tests["hedges_g"].astype(float))
                   & np.isfinite(tests["hedges_g_se"].astype(float))]
    all_datasets = sorted(tests["dataset_id"].astype(str).unique())
    rows = []
    for key, group in usable.groupby(KEYS, sort=True):
        group = group.sort_values("dataset_id")
        datasets = group["dataset_id"].astype(str).tolist()
        record = dict(zip(KEYS, key, strict=True))
        record.update(n_datasets=len(datasets), datasets=",".join(datasets),
                      n_donors_case=int(group["n_donors_case"].sum()),
                      n_donors_reference=int(group["n_donors_reference"].sum()),
                      effect_measure="hedges_g", method="DerSimonian-Laird random effects")
        fit = models.dersimonian_laird(group["hedges_g"].to_numpy(float),
                                      group["hedges_g_se"].to_numpy(float) ** 2)
        if len(datasets) < 2:
            record.update(status="single_dataset", effect=fit["estimate"], se=fit["se"],
                          ci_low=fit["ci_low"], ci_high=fit["ci_high"], reason=(
                              f"only {datasets[0]} tested this (of {len(all_datasets)} selected "
                              f"dataset(s): {', '.join(all_datasets)}); a random-effects estimate "
                              "needs at least 2 datasets, so this row repeats that dataset's g"))
        else:
            record.update(status="tested", reason="", **{k: fit[k] for k in (
                "se", "ci_low", "ci_high", "z", "p_value", "tau2", "q", "q_p_value", "i2")},
                effect=fit["estimate"])
        rows.append(record)
    result = pd.DataFrame(rows).reindex(columns=META_COLUMNS)
    if result.empty:
        return result
    result[["axis", "module"]] = result["signature"].str.rsplit(".", n=1, expand=True)
    result["fdr_family"] = "meta|" + result["contrast"] + "|" + result["tissue"] + "|" + result["module"]
    result["fdr"] = np.nan
    for _, index in result.groupby("fdr_family").groups.items():
        result.loc[index, "fdr"] = models.bh_fdr(result.loc[index, "p_value"].to_numpy(dtype=float))
    return result.reindex(columns=META_COLUMNS)
