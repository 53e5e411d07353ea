"""Observed cytokine signal per axis and disease beside the clinical outcome of targeting it.

The curated resource records, per axis, trials and case series of drugs that block or add the
cytokine (``therapies``: modality, disease, outcome, the design of the study as an evidence level,
the population actually studied, citations; optionally a withdrawal and the other axes a drug blocks
through a shared target). This module summarises what the data show for the same axis and disease
(donor-level results of the compare and network stages) beside those outcomes:

* outcomes are counted by outcome, never by entry, and weighted by evidence level (a phase-3 RCT
  outweighs a case report);
* only entries studied in the disease itself (``population_relation: target_disease``) count for
  the disease; pulmonary or cutaneous sarcoidosis trials, animal models and healthy volunteers are
  kept apart as *other populations*;
* a drug that blocks several axes (a JAK inhibitor, anti-p40) is credited to every axis it blocks
  and flagged as multi-axis; a withdrawn drug is shown as withdrawn with its reason;
* a *paradox* (an outcome against the naive expectation that blocking an elevated cytokine helps,
  or an outcome that flips between diseases) is flagged only where the data show a signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neurokine.curated.axes import Axis

#: Modalities that lower the axis's signalling (a genetic variant here mimics blockade: the
#: TNFRSF1A risk allele yields a soluble decoy receptor).
BLOCKING = frozenset({"antagonist", "receptor_antagonist", "depleting", "kinase_inhibitor", "genetic"})
ADDING = frozenset({"agonist"})
#: Outcomes in the order they are counted and shown.
OUTCOMES = ("beneficial", "harmful", "failed", "mixed", "untested", "withdrawn")
#: Tie-break when two outcomes carry the same evidence weight.
OUTCOME_PRIORITY = ("harmful", "beneficial", "failed", "mixed", "withdrawn", "untested")
#: Modules whose change says the cytokine signal itself moved (production or pathway activity).
SIGNAL_MODULES = ("ligand", "response")
#: Directions that count as an observed signal (a paradox needs one).
OBSERVED = frozenset({"up", "down", "mixed"})


#: Evidence level of a therapy entry -> (label, weight of its colour, one-character code),
#: strongest first. The weights order designs by how much an outcome can be trusted, they are
#: not estimates of anything: a randomised phase 3 trial counts fully, an animal model a fifth.
EVIDENCE_LEVELS: dict[str, tuple[str, float, str]] = {
    "phase3_rct": ("phase 3 RCT", 1.0, "3"),
    "phase2": ("phase 2 trial", 0.8, "2"),
    "open_label_series": ("open-label or observational series", 0.55, "O"),
    "human_genetics": ("human genetics", 0.45, "G"),
    "phase1": ("phase 1 trial", 0.4, "1"),
    "case_report": ("case report(s)", 0.3, "C"),
    "animal": ("animal model", 0.2, "A"),
}
#: How a studied population relates to the panel's disease -> label.
POPULATION_LABELS = {
    "target_disease": "the disease itself", "related_disease": "related disease",
    "other_indication": "other indication", "healthy_volunteers": "healthy volunteers",
    "animal_model": "animal model",
}

RECORD_COLUMNS = [
    "axis", "disease", "drug", "modality", "modality_class", "outcome", "trial", "citations",
    "evidence_level", "evidence_label", "evidence_weight", "population", "population_relation",
    "in_disease", "multi_axis", "home_axis", "blocks_via", "withdrawn", "withdrawn_year",
    "withdrawn_reason", "withdrawn_citations",
]

THERAPY_COLUMNS = [
    "axis", "disease", "observed_direction", "observed_hedges_g", "observed_fdr",
    "observed_cell_type", "observed_module", "observed_dataset", "n_up", "n_down",
    "n_interactions_up", "n_interactions_down", "n_entries", *(f"n_{o}" for o in OUTCOMES),
    "outcome_counts", "outcome_summary", "strongest_evidence", "n_other_population",
    "other_population_counts", "withdrawn_drugs", "multi_axis_drugs", "therapies",
    "other_population_therapies", "paradox", "paradox_reasons", "datasets",
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
    """Every curated therapy as one row per axis it blocks (multi-axis drugs once per axis)."""
    rows = []
    for axis_id, axis in sorted(axes.items()):
        for therapy in axis.record.get("therapies", []):
            label, weight, _ = EVIDENCE_LEVELS[therapy["evidence_level"]]
            withdrawn = therapy.get("withdrawn") or {}
            also = list(therapy.get("also_blocks", []))
            base = {"disease": therapy["disease"], "drug": therapy["drug"],
                    "modality": therapy["modality"],
                    "modality_class": _modality_class(therapy["modality"]),
                    "outcome": therapy["outcome"], "trial": therapy.get("trial", ""),
                    "citations": ", ".join(therapy.get("citations", [])),
                    "evidence_level": therapy["evidence_level"], "evidence_label": label,
                    "evidence_weight": weight, "population": therapy["population"],
                    "population_relation": therapy["population_relation"],
                    "in_disease": therapy["population_relation"] == "target_disease",
                    "multi_axis": bool(also), "home_axis": axis_id,
                    "blocks_via": therapy.get("blocks_via", ""), "withdrawn": bool(withdrawn),
                    "withdrawn_year": withdrawn.get("year", np.nan),
                    "withdrawn_reason": " ".join(str(withdrawn.get("reason", "")).split()),
                    "withdrawn_citations": ", ".join(withdrawn.get("citations", []))}
            for blocked in [axis_id, *also]:
                if blocked in axes:  # a subset of axes may be loaded (tests, a user's own set)
                    rows.append({"axis": blocked, **base})
    frame = pd.DataFrame(rows, columns=RECORD_COLUMNS)
    return frame.sort_values(["axis", "disease", "evidence_weight", "drug"],
                             ascending=[True, True, False, True], kind="mergesort").reset_index(drop=True)


def summarise_outcomes(records: pd.DataFrame) -> str:
    """The evidence-weighted leading outcome of some entries ('none' without entries).

    Each entry adds its evidence weight to its outcome; beneficial and harmful within a factor of
    1.5 of each other make 'mixed' (the evidence points both ways), ties follow OUTCOME_PRIORITY.
    """
    if records.empty:
        return "none"
    weights = records.groupby("outcome")["evidence_weight"].sum().to_dict()
    good, bad = weights.get("beneficial", 0.0), weights.get("harmful", 0.0)
    if good and bad and min(good, bad) * 1.5 >= max(good, bad):
        return "mixed"
    leading = max(weights, key=lambda o: (round(weights[o], 9), -OUTCOME_PRIORITY.index(o)))
    if records.loc[records["outcome"] == leading, "withdrawn"].any():
        return f"{leading} (drug withdrawn)"
    return leading


def outcome_counts(records: pd.DataFrame) -> str:
    """'beneficial 2, harmful 1': entries counted per outcome (never all entries as one number)."""
    counts = records["outcome"].value_counts()
    return ", ".join(f"{o} {int(counts[o])}" for o in OUTCOMES if o in counts)


def describe_entry(record: object) -> str:
    """'lenercept (antagonist; phase 2 trial; relapsing MS): harmful [PMID:10449104]'."""
    flags = []
    if record.multi_axis:
        flags.append(f"multi-axis via {record.blocks_via}" + (
            f", curated under {record.home_axis}" if record.home_axis != record.axis else ""))
    if record.withdrawn:
        flags.append(f"withdrawn {int(record.withdrawn_year)}")
    extra = f"; {'; '.join(flags)}" if flags else ""
    return (f"{record.drug} ({record.modality.replace('_', ' ')}; {record.evidence_label}; "
            f"{record.population}{extra}): {record.outcome} [{record.citations}]")


def _withdrawals(records: pd.DataFrame) -> str:
    """Withdrawn drugs with year, reason and citations (one line per drug and reason)."""
    drugs = records[records["withdrawn"]].drop_duplicates(["drug", "withdrawn_reason"])
    return "; ".join(f"{r.drug}: withdrawn {int(r.withdrawn_year)}, {r.withdrawn_reason} "
                     f"[{r.withdrawn_citations}]" for r in drugs.itertuples(index=False))


def _multi_axis(records: pd.DataFrame) -> str:
    """Multi-axis drugs of a cell with the shared target they act through."""
    drugs = records[records["multi_axis"]].drop_duplicates(["drug", "blocks_via"])
    return "; ".join(f"{r.drug} ({r.blocks_via}; curated under {r.home_axis})"
                     for r in drugs.itertuples(index=False))


def paradox_reasons(records: pd.DataFrame, axis: str, disease: str, direction: str) -> list[str]:
    """Why targeting this axis in this disease ran against what the data show (empty if it did not).

    Only an observed signal can make a paradox (direction up, down or mixed), and only entries
    studied in the disease itself count: an animal model or a pulmonary-sarcoidosis trial says
    nothing paradoxical about the CNS disease.
    """
    if direction not in OBSERVED:
        return []
    studied = records[records["in_disease"]]
    mine = studied[(studied["axis"] == axis) & (studied["disease"] == disease)]
    others = studied[(studied["axis"] == axis) & (studied["disease"] != disease)]
    reasons = []
    for cls, verb in (("blocking", "blocking"), ("adding", "adding")):
        outcomes = set(mine.loc[mine["modality_class"] == cls, "outcome"])
        if cls == "blocking" and "harmful" in outcomes and direction == "up":
            reasons.append("blocking the cytokine worsened disease although its signal is up here")
        if cls == "blocking" and "failed" in outcomes and direction == "up":
            reasons.append("blocking failed although the signal is up here")
        if cls == "blocking" and "beneficial" in outcomes and direction == "down":
            reasons.append("blocking helped although the signal is down here")
        if cls == "adding" and "beneficial" in outcomes and direction == "up":
            reasons.append("adding the cytokine helped although its signal is already up here")
        if cls == "adding" and "harmful" in outcomes and direction == "down":
            reasons.append("adding the cytokine worsened disease although its signal is down here")
        for outcome, opposite in (("beneficial", "harmful"), ("harmful", "beneficial")):
            flipped = sorted(set(others.loc[(others["modality_class"] == cls)
                                            & (others["outcome"] == opposite), "disease"]))
            if outcome in outcomes and flipped:
                reasons.append(f"{verb} is {outcome} here but {opposite} in {', '.join(flipped)} "
                               f"(signal {direction} here)")
    return list(dict.fromkeys(reasons))


def therapy_table(axes: Mapping[str, Axis], observed: pd.DataFrame, diseases: Sequence[str],
                  datasets: Sequence[str] = ()) -> pd.DataFrame:
    """Axis x disease rows for every axis with a curated therapy: data beside clinical outcome.

    Counts, the weighted summary and paradoxes use the entries studied in the disease itself;
    entries from other populations are counted and listed apart. ``datasets`` (the ids the
    observations come from) is written into every row, so a table built from the synthetic demo
    says so wherever it travels.
    """
    records = therapy_records(axes)
    observed = observed.set_index(["axis", "disease"]) if not observed.empty else observed
    rows = []
    for axis in sorted(records["axis"].unique()):
        for disease in diseases:
            cell = records[(records["axis"] == axis) & (records["disease"] == disease)]
            mine, other = cell[cell["in_disease"]], cell[~cell["in_disease"]]
            key = (axis, disease)
            seen = observed.loc[key] if (not observed.empty and key in observed.index) else None
            direction = str(seen["observed_direction"]) if seen is not None else "not measured"
            reasons = paradox_reasons(records, axis, disease, direction)
            counts = mine["outcome"].value_counts()
            strongest = mine["evidence_label"].iloc[0] if len(mine) else ""
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
                "n_entries": len(mine), **{f"n_{o}": int(counts.get(o, 0)) for o in OUTCOMES},
                "outcome_counts": outcome_counts(mine), "outcome_summary": summarise_outcomes(mine),
                "strongest_evidence": strongest, "n_other_population": len(other),
                "other_population_counts": outcome_counts(other),
                "withdrawn_drugs": _withdrawals(cell), "multi_axis_drugs": _multi_axis(cell),
                "therapies": "; ".join(describe_entry(r) for r in mine.itertuples(index=False)),
                "other_population_therapies": "; ".join(
                    describe_entry(r) for r in other.itertuples(index=False)),
                "paradox": bool(reasons), "paradox_reasons": "; ".join(reasons),
                "datasets": ",".join(datasets),
            })
    return pd.DataFrame(rows, columns=THERAPY_COLUMNS)


def outcomes_for(records: pd.DataFrame, axis: str, disease: str) -> str:
    """Short clinical context of one axis in one disease for a findings table, strongest first:
    'lenercept: harmful (phase 2 trial)'; other populations are marked as such."""
    cell = records[(records["axis"] == axis) & (records["disease"] == disease)]
    if cell.empty:
        return "no trial recorded"
    parts = []
    for r in cell.sort_values(["in_disease", "evidence_weight", "drug"], ascending=[False, False, True],
                              kind="mergesort").itertuples(index=False):
        where = "" if r.in_disease else f"; in {r.population}"
        flag = f"; withdrawn {int(r.withdrawn_year)}" if r.withdrawn else ""
        flag += "; multi-axis" if r.multi_axis else ""
        parts.append(f"{r.drug}: {r.outcome} ({r.evidence_label}{where}{flag})")
    return "; ".join(dict.fromkeys(parts))
