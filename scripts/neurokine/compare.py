"""Disease-versus-control comparisons of donor-level scores (the donor is the unit)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neurokine import stats
from neurokine.errors import ConfigError

#: Columns of the results table, in order; downstream code and users rely on these names.
RESULT_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "cell_type", "signature", "axis",
    "module", "status", "reason", "n_donors_case", "n_donors_reference", "n_cells_case",
    "n_cells_reference", "mean_case", "mean_reference", "effect", "se", "ci_low", "ci_high",
    "boot_ci_low", "boot_ci_high", "hedges_g", "t", "df", "p_value", "fdr", "fdr_family",
    "covariates", "gene_coverage",
]


@dataclasses.dataclass(frozen=True)
class Contrast:
    """One comparison: donors of `case` against donors of `reference`."""

    case: str
    reference: str

    @property
    def name(self) -> str:
        """Readable contrast name used in tables and file names."""
        return f"{self.case}_vs_{self.reference}"


def contrasts_from_config(entries: Sequence[Mapping[str, str]]) -> list[Contrast]:
    """Build contrasts from the config, rejecting a contrast of a group with itself."""
    contrasts = []
    for i, entry in enumerate(entries):
        if entry["case"] == entry["reference"]:
            raise ConfigError("config", f"compare.contrasts[{i}]",
                              f"case and reference are both {entry['case']!r}",
                              "compare two different groups")
        contrasts.append(Contrast(entry["case"], entry["reference"]))
    return contrasts


def check_contrast_groups(contrasts: Sequence[Contrast], groups: set[str], source: str) -> None:
    """Fail when a contrast names a group that none of the selected datasets has."""
    for i, contrast in enumerate(contrasts):
        for role in ("case", "reference"):
            group = getattr(contrast, role)
            if group not in groups:
                raise ConfigError(source, f"compare.contrasts[{i}].{role}",
                                  f"group {group!r} is in none of the selected datasets",
                                  f"use one of: {', '.join(sorted(groups))}")


def applicable_contrasts(
    contrasts: Sequence[Contrast], diseases: set[str]
) -> tuple[list[Contrast], list[str]]:
    """Split contrasts into those whose two groups exist in a dataset and notes on the rest."""
    usable, notes = [], []
    for contrast in contrasts:
        missing = [g for g in (contrast.case, contrast.reference) if g not in diseases]
        if missing:
            notes.append(f"{contrast.name}: no donors of {', '.join(missing)} in this dataset")
        else:
            usable.append(contrast)
    return usable, notes


def dataset_groups(entry: Mapping, simulation: Mapping | None) -> set[str]:
    """Canonical disease groups a registry entry can contain (simulation groups for the demo)."""
    if entry.get("loader") == "simulated":
        return set(simulation["groups"]) if simulation else set()
    return set(entry.get("disease_map", {}).values())


def donor_level(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Collapse repeated samples of one donor (e.g. visits) into one cell-weighted row per donor."""
    keys = ["donor_id", "disease", *[c for c in covariates if c in frame.columns]]
    weighted = frame.assign(weighted=frame["mean_score"] * frame["n_cells"])
    donors = weighted.groupby(keys, observed=True, sort=True).agg(
        weighted=("weighted", "sum"), n_cells=("n_cells", "sum")).reset_index()
    donors["mean_score"] = donors["weighted"] / donors["n_cells"]
    return donors.drop(columns="weighted")


def design_matrix(
    donors: pd.DataFrame, case: str, covariates: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Intercept, case indicator and usable covariates; report covariates left out and why."""
    columns = [np.ones(len(donors)), (donors["disease"] == case).to_numpy(dtype=float)]
    used, notes = [], []
    for name in covariates:
        if name not in donors.columns:
            notes.append(f"{name}: absent")
            continue
        values = donors[name]
        if values.nunique(dropna=True) < 2:
            notes.append(f"{name}: constant")
            continue
        if values.isna().any():
            notes.append(f"{name}: missing for some donors")
            continue
        if pd.api.types.is_numeric_dtype(values):
            columns.append((values - values.mean()).to_numpy(dtype=float))
        else:
            for level in sorted(values.astype(str).unique())[1:]:
                columns.append((values.astype(str) == level).to_numpy(dtype=float))
        used.append(name)
    return np.column_stack(columns), used, notes


def _not_tested(base: dict, signatures: Sequence[str], reason: str) -> list[dict]:
    """Rows for a stratum that cannot be tested, each stating why."""
    return [{**base, "signature": s, "status": "not_tested", "reason": reason} for s in signatures]


def compare_stratum(frame: pd.DataFrame, contrast: Contrast, covariates: Sequence[str],
                 min_donors: int, n_boot: int, seed: int) -> list[dict]:
    """Test every signature of one tissue x cell type for one contrast on donor-level values."""
    first = frame.iloc[0]
    base = {"dataset_id": first["dataset_id"], "contrast": contrast.name, "case": contrast.case,
            "reference": contrast.reference, "tissue": first["tissue"], "cell_type": first["cell_type"]}
    signatures = sorted(frame["signature"].unique())
    donors = {s: donor_level(g, covariates) for s, g in frame.groupby("signature", sort=True)}
    table = donors[signatures[0]]
    is_case = (table["disease"] == contrast.case).to_numpy()
    n_case, n_ref = int(is_case.sum()), int((~is_case).sum())
    base.update(n_donors_case=n_case, n_donors_reference=n_ref,
                n_cells_case=int(table.loc[is_case, "n_cells"].sum()),
                n_cells_reference=int(table.loc[~is_case, "n_cells"].sum()))
    if min(n_case, n_ref) < min_donors:
        return _not_tested(base, signatures, (
            f"{n_case} case and {n_ref} reference donors pass the cell minimum; "
            f"compare.min_donors_per_arm is {min_donors}"))
    design, used, notes = design_matrix(table, contrast.case, covariates)
    response = np.column_stack([donors[s]["mean_score"].to_numpy() for s in signatures])
    base["covariates"] = ";".join(used + [f"dropped {n}" for n in notes])
    if design.shape[0] <= design.shape[1]:
        return _not_tested(base, signatures, "too few donors for the covariates in the model")
    try:
        fit = stats.ols(design, response, coef=1)
    except np.linalg.LinAlgError:
        return _not_tested(base, signatures, f"covariates {used} are confounded with disease")
    ci_low, ci_high = stats.t_interval(fit["estimate"], fit["se"], int(fit["df"][0]))
    boot_low, boot_high = stats.bootstrap_interval(design, response, 1, is_case, n_boot, seed)
    g = stats.hedges_g(response[is_case], response[~is_case])
    rows = []
    for k, signature in enumerate(signatures):
        rows.append({**base, "signature": signature, "status": "tested", "reason": "",
                     "mean_case": response[is_case, k].mean(), "mean_reference": response[~is_case, k].mean(),
                     "effect": fit["estimate"][k], "se": fit["se"][k], "ci_low": ci_low[k],
                     "ci_high": ci_high[k], "boot_ci_low": boot_low[k], "boot_ci_high": boot_high[k],
                     "hedges_g": g[k], "t": fit["t"][k], "df": fit["df"][k], "p_value": fit["p"][k]})
    return rows


def _unscored_rows(rows: Sequence[dict], coverage: pd.DataFrame) -> list[dict]:
    """Not-tested rows for signatures the score stage skipped, in every stratum tested."""
    skipped = coverage[coverage["status"] != "scored"]
    strata = {(r["dataset_id"], r["contrast"], r["case"], r["reference"], r["tissue"], r["cell_type"])
              for r in rows}
    keys = ("dataset_id", "contrast", "case", "reference", "tissue", "cell_type")
    return [{**dict(zip(keys, stratum, strict=True)), "signature": s.signature,
             "status": "not_tested", "reason": f"not scored: {s.reason}"}
            for stratum in sorted(strata) for s in skipped.itertuples()]


def compare_groups(donor_scores: pd.DataFrame, coverage: pd.DataFrame, contrasts: Sequence[Contrast],
                   *, covariates: Sequence[str], min_cells: int, min_donors: int, n_boot: int,
                   seed: int) -> pd.DataFrame:
    """Run every contrast on every tissue x cell type x signature; add BH-FDR per family."""
    rows: list[dict] = []
    for contrast in contrasts:
        arms = donor_scores[donor_scores["disease"].isin([contrast.case, contrast.reference])]
        for (tissue, cell_type), stratum in arms.groupby(["tissue", "cell_type"], sort=True):
            eligible = stratum[stratum["n_cells"] >= min_cells]
            if eligible.empty:
                first = stratum.iloc[0]
                rows += _not_tested(
                    {"dataset_id": first["dataset_id"], "contrast": contrast.name,
                     "case": contrast.case, "reference": contrast.reference, "tissue": tissue,
                     "cell_type": cell_type, "n_donors_case": 0, "n_donors_reference": 0},
                    sorted(stratum["signature"].unique()),
                    f"no donor has compare.min_cells_per_donor={min_cells} cells of this type")
                continue
            seed_k = stats.stable_seed(seed, contrast.name, tissue, cell_type)
            rows += compare_stratum(eligible, contrast, covariates, min_donors, n_boot, seed_k)
    rows += _unscored_rows(rows, coverage)
    result = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    result[["axis", "module"]] = result["signature"].str.rsplit(".", n=1, expand=True)
    # One family per dataset x contrast x tissue x module: ligand, receptor and response
    # modules answer different questions, and each is tested across all axes and cell types.
    result["fdr_family"] = (result["dataset_id"] + "|" + result["contrast"] + "|"
                            + result["tissue"] + "|" + result["module"])
    result["fdr"] = np.nan
    result["p_value"] = result["p_value"].astype(float)
    for _, index in result.groupby("fdr_family").groups.items():
        result.loc[index, "fdr"] = stats.bh_fdr(result.loc[index, "p_value"].to_numpy(dtype=float))
    coverage_map = coverage.set_index("signature")["coverage"]
    result["gene_coverage"] = result["signature"].map(coverage_map)
    return result.reindex(columns=RESULT_COLUMNS)
