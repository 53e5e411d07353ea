"""Which p-value controls false discoveries on the fdr_check cohorts (issue 15; a benchmark).

Reads the tested rows `benchmarks/fdr_check.py --save-tests` wrote and re-decides significance
with BH-FDR 0.05 per family (dataset | contrast | tissue | module, as the workflow does) from:

* `moderated`: the workflow's p-value (moderated linear model, one empirical-Bayes variance
  prior per family);
* `unmoderated`: the ordinary two-sample t-test of the same donor values, recovered exactly from
  the table (Hedges' g, its small-sample factor and the arm sizes; no covariates in these cohorts);
* `permutation`: the exact permutation p-value over donor labellings.

Per variant and method: mean false discovery proportion over cohorts, pooled FDP, recall, and
the mean FDP without the single worst cohort.

    python benchmarks/fdr_check.py --cohorts 24 --methods mean,pseudobulk --save-tests /tmp/t.tsv
    python benchmarks/fdr_variants.py /tmp/t.tsv

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

ALPHA = 0.05
FAMILY = ["cohort", "method", "contrast", "tissue", "module"]


def unmoderated_p(tests: pd.DataFrame) -> np.ndarray:
    """Two-sided p of the ordinary t-test: t = (g / J) / sqrt(1/n1 + 1/n2) on n1 + n2 - 2 df."""
    n1, n2 = tests["n_donors_case"].to_numpy(float), tests["n_donors_reference"].to_numpy(float)
    df = n1 + n2 - 2
    correction = 1.0 - 3.0 / (4.0 * df - 1.0)
    t = tests["hedges_g"].to_numpy(float) / correction / np.sqrt(1 / n1 + 1 / n2)
    return 2.0 * sps.t.sf(np.abs(t), df)


def bh_significant(tests: pd.DataFrame, p_column: str) -> pd.Series:
    """BH-FDR < ALPHA per family, from one p-value column."""
    significant = pd.Series(False, index=tests.index)
    for _, family in tests.groupby(FAMILY, sort=False):
        p = family[p_column].to_numpy(float)
        ok = np.isfinite(p)
        if ok.any():
            reject = multipletests(p[ok], alpha=ALPHA, method="fdr_bh")[0]
            significant.loc[family.index[ok]] = reject
    return significant


def summarize(tests: pd.DataFrame, significant: pd.Series) -> dict:
    """Mean and pooled FDP over cohorts, recall, and the mean FDP without the worst cohort."""
    right_sign = np.sign(tests["effect"]) == tests["planted_sign"]
    true = tests["planted"] & significant & right_sign
    false = ~tests["planted"] & ~tests["leakage"] & significant
    per = pd.DataFrame({"false": false, "significant": significant & ~(
        ~tests["planted"] & tests["leakage"]), "cohort": tests["cohort"]}).groupby("cohort").sum()
    fdp = (per["false"] / per["significant"].where(per["significant"] > 0)).fillna(0.0)
    planted = tests["planted"].groupby(tests["cohort"]).sum().sum()
    return {"mean_fdp": round(float(fdp.mean()), 4),
            "mean_fdp_without_worst": round(float(fdp.drop(fdp.idxmax()).mean()), 4),
            "pooled_fdp": round(float(per["false"].sum() / max(per["significant"].sum(), 1)), 4),
            "false": int(per["false"].sum()), "recall": round(float(true.sum() / planted), 4),
            "cohorts_without_false": int((per["false"] == 0).sum()), "cohorts": len(per)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", type=Path, help="the TSV of fdr_check.py --save-tests")
    args = parser.parse_args()
    tests = pd.read_csv(args.tests, sep="\t")
    tests["p_unmoderated"] = unmoderated_p(tests)
    result = {}
    for method, rows in tests.groupby("method", sort=False):
        result[method] = {variant: summarize(rows, bh_significant(rows, column)) for variant, column in (
            ("moderated", "p_value"), ("unmoderated", "p_unmoderated"),
            ("permutation", "perm_p_value"))}
        # The family's prior: how many degrees of freedom it lends (large = strong shrinkage).
        result[method]["df_prior_median"] = float(rows["df_prior"].replace(np.inf, np.nan).median())
    for method, variants in result.items():
        print(method)
        print(pd.DataFrame({k: v for k, v in variants.items() if isinstance(v, dict)}).T.to_string())
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
