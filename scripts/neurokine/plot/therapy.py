"""Observed cytokine signal per axis and disease beside the clinical outcome of targeting it.

The curated resource records, per axis, trials and case series of drugs that block or add the
cytokine (``therapies``: modality, disease, outcome, citations). This module summarises what the
data show for the same axis and disease (donor-level results of the compare and network stages)
and flags *paradoxes*: outcomes that run against the naive expectation that blocking an elevated
cytokine helps, or outcomes that flip between diseases (anti-TNF worsens MS but helps
neurosarcoidosis; IFN-beta helps MS but worsens NMOSD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurokine.curated.axes import Axis

#: Modalities that lower the axis's signalling (a genetic variant here mimics blockade: the
#: TNFRSF1A risk allele yields a soluble decoy receptor).
BLOCKING = frozenset({"antagonist", "receptor_antagonist", "depleting", "kinase_inhibitor", "genetic"})
ADDING = frozenset({"agonist"})
#: Order used to summarise several outcomes of one axis x disease into one cell of the panel.
OUTCOME_PRIORITY = ("harmful", "beneficial", "failed", "mixed", "withdrawn", "untested")
#: Modules whose change says the cytokine signal itself moved (production or pathway activity).
SIGNAL_MODULES = ("ligand", "response")

THERAPY_COLUMNS = [
    "axis", "disease", "observed_direction", "observed_hedges_g", "observed_fdr",
    "observed_cell_type", "observed_module", "observed_dataset", "n_up", "n_down",
    "n_interactions_up", "n_interactions_down", "n_therapies", "outcome_summary", "therapies",
    "paradox", "paradox_reasons", "datasets",
]


def _modality_class(modality: str) -> str:
    """'blocking', 'adding' or 'other' for a therapy modality."""
    if modality in BLOCKING:
        return "blocking"
    return "adding" if modality in ADDING else "other"


def observed_signal(tests: pd.DataFrame, alpha: float,
                    network: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per axis x disease: direction of significant ligand/response changes and the strongest one.

    ``tests`` holds compare-stage results of any number of datasets. The direction is 'up' or
    'down' when every significant change (BH-FDR < alpha) points that way, 'mixed' when both
    occur, 'none' when the axis was tested but nothing changed.
    """
    tested = tests[(tests["status"] == "tested") & tests["module"].isin(SIGNAL_MODULES)].copy()
    tested = tested.rename(columns={"case": "disease"})  # the contrast's case is a trial's disease
    rows = []
    for (axis, disease), group in tested.groupby(["axis", "disease"], sort=True):
        hits = group[group["fdr"] < alpha]
        n_up, n_down = int((hits["effect"] > 0).sum()), int((hits["effect"] < 0).sum())
        direction = ("mixed" if n_up and n_down else "up" if n_up else "down" if n_down else "none")
        ranked = group.assign(abs_g=group["hedges_g"].abs()).sort_values(
            ["fdr", "abs_g", "dataset_id", "cell_type", "module"], ascending=[True, False, True, True, True],
            kind="mergesort")
        best = ranked.iloc[0]
        rows.append({"axis": axis, "disease": disease, "observed_direction": direction,
                     "observed_hedges_g": float(best["hedges_g"]), "observed_fdr": float(best["fdr"]),
                     "observed_cell_type": str(best["cell_type"]), "observed_module": str(best["module"]),
                     "observed_dataset": str(best["dataset_id"]), "n_up": n_up, "n_down": n_down})
    frame = pd.DataFrame(rows, columns=["axis", "disease", "observed_direction", "observed_hedges_g",
                                        "observed_fdr", "observed_cell_type", "observed_module",
                                        "observed_dataset", "n_up", "n_down"])
    if network is not None and not network.empty:
        hits = network[(network["status"] == "tested") & (network["fdr"] < alpha)]
        hits = hits.rename(columns={"case": "disease"})
        counts = hits.assign(up=hits["effect"] > 0).groupby(["axis", "disease"])["up"].agg(
            n_interactions_up="sum", n_interactions_down=lambda s: int((~s).sum())).reset_index()
        frame = frame.merge(counts, on=["axis", "disease"], how="left")
    for column in ("n_interactions_up", "n_interactions_down"):
        frame[column] = frame.get(column, pd.Series(0, index=frame.index)).fillna(0).astype(int)
    return frame


def therapy_records(axes: Mapping[str, Axis]) -> pd.DataFrame:
    """Every curated therapy as one row: axis, disease, drug, modality, class, outcome, citations."""
    rows = []
    for axis_id, axis in sorted(axes.items()):
        for therapy in axis.record.get("therapies", []):
            rows.append({"axis": axis_id, "disease": therapy["disease"], "drug": therapy["drug"],
                         "modality": therapy["modality"],
                         "modality_class": _modality_class(therapy["modality"]),
                         "outcome": therapy["outcome"], "trial": therapy.get("trial", ""),
                         "citations": ", ".join(therapy.get("citations", []))})
    return pd.DataFrame(rows, columns=["axis", "disease", "drug", "modality", "modality_class",
                                       "outcome", "trial", "citations"])


def summarise_outcomes(outcomes: Iterable[str]) -> str:
    """One outcome for a panel cell: beneficial and harmful together make 'mixed'."""
    present = set(outcomes)
    if not present:
        return "none"
    if {"beneficial", "harmful"} <= present:
        return "mixed"
    return next(o for o in OUTCOME_PRIORITY if o in present)


def paradox_reasons(records: pd.DataFrame, axis: str, disease: str, direction: str) -> list[str]:
    """Why targeting this axis in this disease ran against expectation (empty if it did not)."""
    mine = records[(records["axis"] == axis) & (records["disease"] == disease)]
    others = records[(records["axis"] == axis) & (records["disease"] != disease)]
    reasons = []
    for cls, verb in (("blocking", "blocking"), ("adding", "adding")):
        outcomes = set(mine.loc[mine["modality_class"] == cls, "outcome"])
        if cls == "blocking" and "harmful" in outcomes:
            reasons.append("blocking the cytokine worsened disease" + (
                " although its signal is up here" if direction == "up" else ""))
        if cls == "blocking" and "failed" in outcomes and direction == "up":
            reasons.append("blocking failed although the signal is up here")
        if cls == "adding" and "beneficial" in outcomes and direction == "up":
            reasons.append("adding the cytokine helped although its signal is already up here")
        for outcome, opposite in (("beneficial", "harmful"), ("harmful", "beneficial")):
            flipped = sorted(set(others.loc[(others["modality_class"] == cls)
                                            & (others["outcome"] == opposite), "disease"]))
            if outcome in outcomes and flipped:
                reasons.append(f"{verb} is {outcome} here but {opposite} in {', '.join(flipped)}")
    return list(dict.fromkeys(reasons))


def therapy_table(axes: Mapping[str, Axis], observed: pd.DataFrame, diseases: Sequence[str],
                  datasets: Sequence[str] = ()) -> pd.DataFrame:
    """Axis x disease rows for every axis with a curated therapy: data beside clinical outcome.

    ``datasets`` (the ids the observations come from) is written into every row, so a table
    built from the synthetic demo says so wherever it travels.
    """
    records = therapy_records(axes)
    observed = observed.set_index(["axis", "disease"]) if not observed.empty else observed
    rows = []
    for axis in sorted(records["axis"].unique()):
        for disease in diseases:
            mine = records[(records["axis"] == axis) & (records["disease"] == disease)]
            key = (axis, disease)
            seen = observed.loc[key] if (not observed.empty and key in observed.index) else None
            direction = str(seen["observed_direction"]) if seen is not None else "not measured"
            therapies = "; ".join(
                f"{r.drug} ({r.modality.replace('_', ' ')}): {r.outcome} [{r.citations}]"
                for r in mine.itertuples(index=False))
            reasons = paradox_reasons(records, axis, disease, direction)
            rows.append({
                "axis": axis, "disease": disease, "observed_direction": direction,
                "observed_hedges_g": float(seen["observed_hedges_g"]) if seen is not None else np.nan,
                "observed_fdr": float(seen["observed_fdr"]) if seen is not None else np.nan,
                "observed_cell_type": str(seen["observed_cell_type"]) if seen is not None else "",
                "observed_module": str(seen["observed_module"]) if seen is not None else "",
                "observed_dataset": str(seen["observed_dataset"]) if seen is not None else "",
                "n_up": int(seen["n_up"]) if seen is not None else 0,
                "n_down": int(seen["n_down"]) if seen is not None else 0,
                "n_interactions_up": int(seen["n_interactions_up"]) if seen is not None else 0,
                "n_interactions_down": int(seen["n_interactions_down"]) if seen is not None else 0,
                "n_therapies": len(mine), "outcome_summary": summarise_outcomes(mine["outcome"]),
                "therapies": therapies, "paradox": bool(reasons), "paradox_reasons": "; ".join(reasons),
                "datasets": ",".join(datasets),
            })
    return pd.DataFrame(rows, columns=THERAPY_COLUMNS)
