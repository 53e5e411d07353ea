"""One evidence verdict per contrast x tissue x axis x receiving cell type (x level, when present).

A cytokine signal is *supported* when four layers agree, each from a donor-level result:

* **ligand**: the axis's ligand module changed (BH-FDR < alpha, compare stage) in an identified
  sender, a cell type that expresses the ligand (the network stage's sender filter);
* **receptor**: the receiving cell type expresses the receptor complex (network stage);
* **response**: the axis's response changed in the receiving cell type, in the ligand's direction;
* **donors**: most donors follow the response (and the sender's ligand) change, not only their mean.

*Partial* names the layers that hold and the ones missing; *contradicted* says which layers
disagree (ligand and response in opposite directions, a response without the receptor, or most
donors going against the test); *no change* means neither ligand nor response moved; *not
testable* says why (no response module, too few donors, receptor not measured).

Every layer is a table keyed by :data:`KEYS` (plus ``level`` when the inputs carry it), so a
layer can be rebuilt from another source without touching the verdict logic: the response layer
comes from the response-module tests (:func:`response_from_module_tests`) or from a joint
activity estimate (:func:`response_from_activity`), alone or combined (:func:`combine_responses`); the
workflow reads the module test confirmed by the joint activity (:func:`response_layer`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from neurokine.settings import Contrast
from neurokine.stats import network as nw
from neurokine.stats.compare import cell_weighted_means, change_state

#: Keys of one verdict; `level` joins them (after `tissue`) when the inputs carry it.
KEYS = ["contrast", "tissue", "axis", "cell_type"]
#: Verdicts, strongest first (the report's order).
VERDICTS = ("supported", "contradicted", "partial", "no_change", "not_testable")
#: Columns of a response layer (any source): KEYS, [level], then these.
RESPONSE_COLUMNS = ["response_source", "response_status", "response_reason", "response_effect",
                    "response_hedges_g", "response_p_value", "response_fdr", "response_perm_p",
                    "response_perm_floor", "response_confirmation", "response_activity",
                    "response_activity_p"]

VERDICT_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "axis", "cell_type",
    "verdict", "direction", "layers_holding", "layers_missing", "reason",
    "sender_state", "n_candidate_senders", "senders_up", "senders_down", "top_sender",
    "top_sender_effect", "top_sender_hedges_g", "top_sender_fdr", "top_sender_agreement",
    "edge_effect", "edge_fdr",
    "receptor_state", "receptor_fraction",
    "response_state", *RESPONSE_COLUMNS,
    "donor_state", "response_agreement", "n_donors_agreeing", "n_donors_compared", "agreement_design",
]


def level_keys(frame: pd.DataFrame) -> list[str]:
    """KEYS with `level` after `tissue` when the frame has a level column."""
    return [*KEYS[:2], "level", *KEYS[2:]] if "level" in frame.columns else list(KEYS)


def _shared(keys: Sequence[str], frame: pd.DataFrame) -> list[str]:
    """The keys a frame can be joined on (a layer without `level` applies to every level)."""
    return [k for k in keys if k in frame.columns]


def _measure(tests: pd.DataFrame) -> str:
    """The donor-level measure the tests used (donor_values.tsv `measure`)."""
    if "measure" in tests.columns and tests["measure"].notna().any():
        return str(tests["measure"].dropna().iloc[0])
    return "mean_cell_score"


# --------------------------------------------------------------------------------------------
# Response layer: replaceable source
# --------------------------------------------------------------------------------------------


def response_from_module_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """The response layer from compare-stage tests of each axis's `<axis>.response` module."""
    rows = tests[tests["module"] == "response"]
    keys = level_keys(tests)
    measure = _measure(tests)
    out = pd.DataFrame({k: rows[k].astype(str) for k in keys})
    out["response_source"] = f"response module test ({measure})"
    out["response_status"] = rows["status"].astype(str).to_numpy()
    out["response_reason"] = rows["reason"].fillna("").astype(str).to_numpy()
    for column, source in (("response_effect", "effect"), ("response_hedges_g", "hedges_g"),
                           ("response_p_value", "p_value"), ("response_fdr", "fdr"),
                           ("response_perm_p", "perm_p_value"), ("response_perm_floor", "perm_p_floor")):
        out[column] = rows[source].astype(float).to_numpy() if source in rows else np.nan
    out["response_confirmation"] = ""
    out["response_activity"] = out["response_activity_p"] = np.nan
    return out.reset_index(drop=True)


def response_from_activity(activity: pd.DataFrame, source: str = "joint activity") -> pd.DataFrame:
    """The response layer from an activity table (contrast, [level], [tissue], cell_type, axis,
    activity, se, p_value, fdr): a row with a finite activity and FDR counts as tested."""
    keys = [k for k in level_keys(activity) if k in activity.columns]
    out = pd.DataFrame({k: activity[k].astype(str) for k in keys})
    effect = activity["activity"].astype(float).to_numpy()
    fdr = activity["fdr"].astype(float).to_numpy()
    tested = np.isfinite(effect) & np.isfinite(fdr)
    out["response_source"] = source
    out["response_status"] = np.where(tested, "tested", "not_tested")
    reason = activity["reason"].fillna("").astype(str).to_numpy() if "reason" in activity else ""
    out["response_reason"] = np.where(tested, "", reason if len(np.atleast_1d(reason)) else "")
    out["response_effect"] = effect
    out["response_hedges_g"] = np.nan
    out["response_p_value"] = activity["p_value"].astype(float).to_numpy()
    out["response_fdr"] = fdr
    out["response_perm_p"] = np.nan
    out["response_perm_floor"] = np.nan
    out["response_confirmation"] = ""
    out["response_activity"], out["response_activity_p"] = effect, out["response_p_value"]
    return out.reset_index(drop=True)


def combine_responses(primary: pd.DataFrame, secondary: pd.DataFrame, alpha: float,
                      mode: str = "agree") -> pd.DataFrame:
    """Two response layers as one; the secondary fills in where the primary is not testable.

    'prefer' takes the primary where it is testable; 'agree' calls a change only when both
    testable layers move the same way (a disagreement becomes not testable, with the reason);
    'confirm' keeps the primary's test and notes in `response_confirmation` whether the secondary
    moved the same way at nominal p < alpha ('confirmed') or not ('not confirmed'), so a change of
    the primary that the secondary does not share reads as unspecific (:func:`response_state`).
    """
    if mode not in ("agree", "prefer", "confirm"):
        raise ValueError(f"mode must be 'agree', 'prefer' or 'confirm', not {mode!r}")
    keys = [k for k in primary.columns if k not in RESPONSE_COLUMNS]
    on = [k for k in keys if k in secondary.columns]
    merged = primary.merge(secondary, on=on, how="outer", suffixes=("", "_2"))
    first = merged["response_status"].fillna("absent") == "tested"
    second = merged["response_status_2"].fillna("absent") == "tested"
    take_second = ~first & second
    for column in RESPONSE_COLUMNS:
        merged.loc[take_second, column] = merged.loc[take_second, f"{column}_2"]
    both = first & second
    if mode == "agree":
        states = [np.array([change_state(s, q, e, alpha) for s, q, e in zip(
            merged[f"response_status{suffix}"], merged[f"response_fdr{suffix}"].astype(float),
            merged[f"response_effect{suffix}"].astype(float), strict=True)]) for suffix in ("", "_2")]
        disagree = both & (states[0] != states[1])
        merged.loc[disagree, "response_status"] = "not_tested"
        merged.loc[disagree, "response_reason"] = [
            f"{a} by {merged.at[i, 'response_source']} but {b} by {merged.at[i, 'response_source_2']}"
            for i, a, b in zip(merged.index[disagree], states[0][disagree], states[1][disagree],
                               strict=True)]
    if mode == "confirm":
        effect = merged["response_effect"].astype(float).to_numpy()
        other = merged["response_effect_2"].astype(float).to_numpy()
        other_p = merged["response_p_value_2"].astype(float).to_numpy()
        with np.errstate(invalid="ignore"):
            confirmed = (np.sign(effect) == np.sign(other)) & (other_p < alpha)
        merged.loc[both, "response_confirmation"] = np.where(confirmed[both], "confirmed", "not confirmed")
        merged.loc[both, "response_activity"] = other[both]
        merged.loc[both, "response_activity_p"] = other_p[both]
    merged.loc[both, "response_source"] = (merged.loc[both, "response_source"] + " + "
                                           + merged.loc[both, "response_source_2"])
    merged["response_confirmation"] = merged["response_confirmation"].fillna("")
    return merged[[*keys, *RESPONSE_COLUMNS]]


def response_state(status: object, fdr: float, effect: float, confirmation: object, alpha: float) -> str:
    """change_state of a response, or 'unspecific' when it changed but its joint activity did not."""
    state = change_state(status, fdr, effect, alpha)
    return "unspecific" if state in ("up", "down") and confirmation == "not confirmed" else state


def response_states(layer: pd.DataFrame, alpha: float) -> list[str]:
    """response_state of every row of a response layer."""
    confirmation = layer["response_confirmation"] if "response_confirmation" in layer else [""] * len(layer)
    return [response_state(s, q, e, c, alpha) for s, q, e, c in zip(
        layer["response_status"], layer["response_fdr"].astype(float),
        layer["response_effect"].astype(float), confirmation, strict=True)]


def response_layer(tests: pd.DataFrame, activities: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The response layer the verdicts and network edges read: the response-module test, confirmed
    by the joint activity where one was estimated (a module change its activity does not share
    is unspecific: the module's genes answered another axis), the activity alone where no module
    was tested."""
    if "level" not in tests.columns and "level" in activities.columns:
        activities = activities.drop(columns="level")  # tables without levels: one level, no key
    return combine_responses(response_from_module_tests(tests), response_from_activity(activities),
                             alpha, mode="confirm")


# --------------------------------------------------------------------------------------------
# Network edges: does the receiver's response move with the edge?
# --------------------------------------------------------------------------------------------

#: How a receiver's response relates to an edge's change (`response_support`).
RESPONSE_SUPPORT = ("moves_with", "moves_against", "unchanged", "unspecific", "not_testable")
def _support(edge_effect: float, state: str) -> str:
    """How a receiver response state relates to an edge's change (one of RESPONSE_SUPPORT)."""
    if state not in ("up", "down", "none", "unspecific"):
        return "not_testable"
    if state in ("none", "unspecific"):
        return state.replace("none", "unchanged")
    return "moves_with" if (edge_effect > 0) == (state == "up") else "moves_against"


def annotate_receiver_response(network: pd.DataFrame, response: pd.DataFrame,
                               alpha: float) -> pd.DataFrame:
    """Each edge with its receiver's response layer (same contrast, tissue, axis): its state and
    FDR, whether it moves with the edge (`response_support`), and `supported` (edge changed at
    BH-FDR < alpha and the receiver's response moved the same way)."""
    keys = [k for k in ("contrast", "tissue", "level", "axis") if k in network.columns
            and k in response.columns]
    layer = response.assign(receiver_response_state=response_states(response, alpha))
    layer = layer[[*keys, "cell_type", "receiver_response_state", "response_fdr", "response_source"]]
    layer = layer.astype({k: str for k in [*keys, "cell_type"]}).rename(columns={
        "cell_type": "receiver", "response_fdr": "receiver_response_fdr",
        "response_source": "receiver_response_source"}).drop_duplicates([*keys, "receiver"])
    added = nw.NETWORK_COLUMNS[-5:]
    merged = network.drop(columns=[c for c in added if c in network.columns]).astype(
        {k: str for k in [*keys, "receiver"]}).merge(layer, on=[*keys, "receiver"], how="left",
                                                     validate="many_to_one")
    merged["receiver_response_state"] = merged["receiver_response_state"].fillna("not_testable")
    tested = merged["status"] == "tested"
    merged["response_support"] = [
        _support(float(e), s) if t else "" for e, s, t in zip(
            merged["effect"].astype(float), merged["receiver_response_state"], tested, strict=True)]
    changed = tested & (merged["fdr"].astype(float) < alpha)
    merged["supported"] = np.where(
        tested, np.where(changed & (merged["response_support"] == "moves_with"), "yes", "no"), "")
    return merged.reindex(columns=[*[c for c in network.columns if c not in added], *added])


# --------------------------------------------------------------------------------------------
# Donors layer: do most donors follow the change?
# --------------------------------------------------------------------------------------------


def donor_agreement(values: pd.DataFrame, tests: pd.DataFrame, contrast: Contrast,
                    min_cells: int) -> pd.DataFrame:
    """Per tested tissue x cell type x signature of one contrast: the fraction of donors that
    follow the test's direction, from the donor-level values the test used.

    Donor values are cell-weighted means over a donor's samples with at least `min_cells` cells
    (:func:`neurokine.stats.compare.cell_weighted_means`, as the tests). Paired designs (donors
    in both arms): donors whose case-minus-reference difference has the effect's sign. Unpaired:
    case donors beyond the reference donors' median in the effect's direction (ties count as
    not following).
    """
    mine = tests[(tests["contrast"] == contrast.name) & (tests["status"] == "tested")]
    columns = ["tissue", *(["level"] if "level" in tests.columns else []), "cell_type", "signature",
               "n_donors_compared", "n_donors_agreeing", "agreement", "agreement_design"]
    if mine.empty:
        return pd.DataFrame(columns=columns)
    extra = ["level"] if "level" in values.columns and "level" in tests.columns else []
    arms = values[values["disease"].astype(str).isin([contrast.case, contrast.reference])
                  & (values["n_cells"] >= min_cells)]
    arms = arms.astype({"tissue": str, "cell_type": str, "signature": str, "disease": str,
                        "donor_id": str})
    frames = [cell_weighted_means(arms, ["tissue", *extra, "cell_type", "signature", "donor_id",
                                         "disease"], "value")]
    # A stratum pooled over tissues (compare.covariates has 'tissue') is named 'CSF+blood'.
    for pooled in sorted({t for t in mine["tissue"].astype(str) if "+" in t}):
        subset = arms[arms["tissue"].isin(pooled.split("+"))].assign(tissue=pooled)
        frames.append(cell_weighted_means(subset, ["tissue", *extra, "cell_type", "signature",
                                                   "donor_id", "disease"], "value"))
    donors = pd.concat(frames, ignore_index=True)
    sign = mine[["tissue", *extra, "cell_type", "signature", "effect"]].astype(
        {"tissue": str, "cell_type": str, "signature": str})
    donors = donors.merge(sign, on=["tissue", *extra, "cell_type", "signature"], how="inner")
    rows = []
    for key, group in donors.groupby(["tissue", *extra, "cell_type", "signature"], sort=True):
        up = float(group["effect"].iloc[0]) > 0
        case = group[group["disease"] == contrast.case].set_index("donor_id")["value"]
        ref = group[group["disease"] == contrast.reference].set_index("donor_id")["value"]
        both = sorted(set(case.index) & set(ref.index))
        if both:
            diff = case.loc[both].to_numpy(float) - ref.loc[both].to_numpy(float)
            follows, design = (diff > 0) if up else (diff < 0), "paired: within-donor differences"
        else:
            median = float(np.median(ref.to_numpy(float))) if len(ref) else np.nan
            values_case = case.to_numpy(float)
            follows = (values_case > median) if up else (values_case < median)
            design = "unpaired: case donors beyond the reference median"
        n = len(follows)
        rows.append({**dict(zip(["tissue", *extra, "cell_type", "signature"], key, strict=True)),
                     "n_donors_compared": n, "n_donors_agreeing": int(np.sum(follows)),
                     "agreement": float(np.mean(follows)) if n else np.nan, "agreement_design": design})
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Sender and receptor layers
# --------------------------------------------------------------------------------------------


def _senders(nodes: pd.DataFrame, tests: pd.DataFrame, network: pd.DataFrame, contrast: Contrast,
             min_ligand: float, alpha: float) -> pd.DataFrame:
    """Per tissue x axis: candidate senders (network filter) and their ligand-module changes."""
    pairs = nw.candidate_pairs(nodes, contrast, min_ligand, 0.0)
    candidates = pairs[["tissue", "axis", "sender"]].drop_duplicates().astype(str)
    ligand = tests[(tests["contrast"] == contrast.name) & (tests["module"] == "ligand")]
    ligand = ligand.astype({"tissue": str, "axis": str, "cell_type": str})
    extra = ["level"] if "level" in ligand.columns else []
    merged = candidates.merge(ligand.rename(columns={"cell_type": "sender"}),
                              on=[c for c in ("tissue", "axis", "sender") if c in ligand.columns or
                                  c == "sender"], how="left")
    rows = []
    for key, group in merged.groupby(["tissue", *extra, "axis"], sort=True, dropna=False):
        tested = group[group["status"] == "tested"]
        hits = tested[tested["fdr"] < alpha]
        up = sorted(hits.loc[hits["effect"] > 0, "sender"].astype(str))
        down = sorted(hits.loc[hits["effect"] < 0, "sender"].astype(str))
        ranked = (hits if len(hits) else tested).assign(abs_g=lambda f: f["hedges_g"].abs()).sort_values(
            ["fdr", "abs_g", "sender"], ascending=[True, False, True], kind="mergesort")
        top = ranked.iloc[0] if len(ranked) else None
        if tested.empty:
            state = "not_testable"
            reason = ("the ligand test of its senders was not run: "
                      + (str(group["reason"].dropna().iloc[0]) if group["reason"].notna().any()
                         else "no ligand test"))
        else:
            state = "mixed" if up and down else "up" if up else "down" if down else "none"
            reason = ""
        rows.append({**dict(zip(["tissue", *extra, "axis"], key, strict=True)),
                     "sender_state": state, "sender_reason": reason,
                     "n_candidate_senders": int(group["sender"].nunique()),
                     "senders_up": ";".join(up), "senders_down": ";".join(down),
                     "top_sender": str(top["sender"]) if top is not None else "",
                     "top_sender_signature": str(top["signature"]) if top is not None else "",
                     "top_sender_effect": float(top["effect"]) if top is not None else np.nan,
                     "top_sender_hedges_g": float(top["hedges_g"]) if top is not None else np.nan,
                     "top_sender_fdr": float(top["fdr"]) if top is not None else np.nan})
    return pd.DataFrame(rows)


def _receptors(nodes: pd.DataFrame, min_receptor: float) -> pd.DataFrame:
    """Per tissue x axis x cell type: receptor detection (mean over the samples of both arms)."""
    extra = ["level"] if "level" in nodes.columns else []
    frame = nodes.astype({"tissue": str, "axis": str, "cell_type": str}).groupby(
        ["dataset_id", "tissue", *extra, "axis", "cell_type"], observed=True, sort=True)[
        "receptor_fraction"].mean().reset_index()
    fraction = frame["receptor_fraction"].to_numpy(float)
    frame["receptor_state"] = np.where(~np.isfinite(fraction), "not_testable",
                                       np.where(fraction >= min_receptor, "present", "absent"))
    return frame


# --------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------


def _unspecific(row: pd.Series) -> str:
    """Why a response module change is not read as this axis's signal."""
    return (f"the response module changed (FDR {row['response_fdr']:.2g}) but the axis's joint activity "
            f"did not (p {row['response_activity_p']:.2g}): its genes answered another axis's program")


def decide(row: pd.Series, *, alpha: float, min_receptor: float, min_agreement: float
           ) -> tuple[str, str, str, str, str]:
    """(verdict, direction, layers holding, layers missing, reason) of one verdict row."""
    sender, receptor, response = row["sender_state"], row["receptor_state"], row["response_state"]
    agreement, ligand_agreement = row["response_agreement"], row["top_sender_agreement"]
    follows = np.isfinite(agreement) and agreement >= min_agreement
    # The sender's donors matter only when its ligand changed.
    ligand_follows = (sender not in ("up", "down") or not np.isfinite(ligand_agreement)
                      or ligand_agreement >= min_agreement)
    changed = {s for s in (sender, response) if s in ("up", "down")}
    holding = []
    if sender in ("up", "down", "mixed"):
        holding.append(f"ligand {sender} in {row['top_sender'] if sender != 'mixed' else 'senders'}")
    if receptor == "present":
        holding.append("receptor")
    if response in ("up", "down"):
        holding.append(f"response {response}")
    if response in ("up", "down") and follows:
        holding.append(f"donors {int(row['n_donors_agreeing'])}/{int(row['n_donors_compared'])}")
    checks = (("ligand", sender in ("up", "down")), ("receptor", receptor == "present"),
              ("response", response in ("up", "down")),
              ("donors", response in ("up", "down") and follows and ligand_follows))
    missing = [name for name, ok in checks if not ok]
    layers, absent = " + ".join(holding), ", ".join(missing)
    if response == "not_testable":
        why = str(row["response_reason"] or "") or "no response test"
        return "not_testable", "", layers, absent, f"response not testable: {why}"
    if receptor == "not_testable":
        return "not_testable", "", layers, absent, "receptor complex not measured in this cell type"
    conflicts = []
    if sender in ("up", "down") and response in ("up", "down") and sender != response:
        conflicts.append(f"ligand {sender} in {row['top_sender']} but response {response}")
    if response in ("up", "down") and receptor == "absent":
        conflicts.append(f"response {response} although the receptor complex is detected in only "
                         f"{row['receptor_fraction']:.2f} of cells (< {min_receptor})")
    if response in ("up", "down") and np.isfinite(agreement) and agreement < 0.5:
        conflicts.append(f"only {int(row['n_donors_agreeing'])} of {int(row['n_donors_compared'])} "
                         f"donors follow the response change")
    if conflicts:
        return "contradicted", "conflict", layers, absent, "; ".join(conflicts)
    if not changed and sender != "mixed":
        why = f"neither a sender's ligand nor the response changed at BH-FDR < {alpha}"
        return "no_change", "", layers, absent, why + (f"; {_unspecific(row)}" if response == "unspecific"
                                                        else "")
    direction = next(iter(changed)) if len(changed) == 1 else ""
    if not missing:
        return "supported", direction, layers, "", "every layer agrees"
    gaps = []
    if sender == "none":
        gaps.append("no candidate sender's ligand changed")
    elif sender == "not_testable":
        gaps.append(str(row.get("sender_reason") or "no sender could be tested"))
    elif sender == "mixed":
        gaps.append("senders' ligands changed in both directions")
    if receptor == "absent":
        gaps.append(f"receptor in {row['receptor_fraction']:.2f} of cells (< {min_receptor})")
    if response == "none":
        gaps.append(f"response did not change (FDR {row['response_fdr']:.2g})")
    if response == "unspecific":
        gaps.append(_unspecific(row))
    if response in ("up", "down") and not follows:
        gaps.append(f"{int(row['n_donors_agreeing'])}/{int(row['n_donors_compared'])} donors follow "
                    f"the response (needs {min_agreement:.0%})")
    if not ligand_follows:
        gaps.append(f"{ligand_agreement:.0%} of donors follow the ligand change in {row['top_sender']}")
    return "partial", direction, layers, absent, "; ".join(gaps)


def evidence_verdicts(nodes: pd.DataFrame, tests: pd.DataFrame, network: pd.DataFrame,
                      donor_values: pd.DataFrame, contrasts: Sequence[Contrast], *, alpha: float,
                      min_ligand: float, min_receptor: float, min_cells: int, min_agreement: float,
                      response: pd.DataFrame | None = None) -> pd.DataFrame:
    """The verdict table: one row per contrast x tissue x [level x] axis x receiving cell type.

    `donor_values` holds the donor-level values of the tests (donor_values.tsv, the measure of
    `tests`); `response` is a response layer (default: the response-module tests).
    """
    keys = level_keys(tests)
    response = response_from_module_tests(tests) if response is None else response
    measure = _measure(tests)
    if "measure" in donor_values.columns:
        donor_values = donor_values[donor_values["measure"] == measure]
    frames = []
    for contrast in contrasts:
        arms = nodes[nodes["disease"].astype(str).isin([contrast.case, contrast.reference])]
        if arms.empty:
            continue
        receptors = _receptors(arms, min_receptor).assign(contrast=contrast.name)
        mine = response[response["contrast"] == contrast.name]
        base = receptors.merge(mine, on=_shared(keys, mine), how="outer")
        base["dataset_id"] = base["dataset_id"].fillna(str(arms["dataset_id"].iloc[0]))
        senders = _senders(arms, tests, network, contrast, min_ligand, alpha)
        if len(senders):
            base = base.merge(senders, on=[k for k in ("tissue", "level", "axis") if k in senders.columns
                                           and k in base.columns], how="left")
        agreement = donor_agreement(donor_values, tests, contrast, min_cells)
        on = [k for k in ("tissue", "level", "cell_type") if k in agreement.columns]
        resp = agreement.assign(axis=agreement["signature"].str.rsplit(".", n=1).str[0])
        resp = resp[agreement["signature"].str.endswith(".response")]
        base = base.merge(resp.drop(columns="signature").rename(columns={"agreement": "response_agreement"}),
                          on=[*on, "axis"], how="left")
        ligand = agreement[agreement["signature"].str.endswith(".ligand")][
            [*on, "signature", "agreement"]].rename(columns={"cell_type": "top_sender",
                                                             "signature": "top_sender_signature",
                                                             "agreement": "top_sender_agreement"})
        if "top_sender_signature" in base.columns:
            base = base.merge(ligand, on=[*[k for k in on if k != "cell_type"], "top_sender",
                                          "top_sender_signature"], how="left")
        edges = network[(network["contrast"] == contrast.name) & (network["status"] == "tested")]
        edges = edges[[c for c in ("tissue", "level", "axis", "sender", "receiver", "effect", "fdr")
                       if c in edges.columns]].astype({"sender": str, "receiver": str, "tissue": str})
        edges = edges.rename(columns={"sender": "top_sender", "receiver": "cell_type",
                                      "effect": "edge_effect", "fdr": "edge_fdr"})
        if "top_sender" in base.columns:
            base = base.merge(edges, on=[k for k in ("tissue", "level", "axis", "top_sender", "cell_type")
                                         if k in edges.columns and k in base.columns], how="left")
        base["case"], base["reference"] = contrast.case, contrast.reference
        frames.append(base)
    columns = [*VERDICT_COLUMNS[:5], *(["level"] if "level" in keys else []), *VERDICT_COLUMNS[5:]]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    for column in ("sender_state", "receptor_state"):
        table[column] = table[column].fillna("not_testable") if column in table else "not_testable"
    table["sender_reason"] = table.get("sender_reason", pd.Series("", index=table.index)).fillna(
        "no cell type expresses the ligand in enough cells to be a sender")
    table.loc[table["sender_state"] == "not_testable", "sender_reason"] = table.loc[
        table["sender_state"] == "not_testable", "sender_reason"].replace(
        "", "no cell type expresses the ligand in enough cells to be a sender")
    table = table.reindex(columns=[*columns, "sender_reason"])
    table["response_status"] = table["response_status"].fillna("absent")
    table.loc[table["response_status"] == "absent", "response_reason"] = (
        "the axis has no response module (no curated response genes)")
    table["response_confirmation"] = table["response_confirmation"].fillna("")
    table["response_state"] = response_states(table, alpha)
    agree = table["response_agreement"].astype(float)
    table["donor_state"] = np.where(~np.isfinite(agree), "not_testable",
                                    np.where(agree >= min_agreement, "consistent",
                                             np.where(agree < 0.5, "opposed", "inconsistent")))
    decided = [decide(row, alpha=alpha, min_receptor=min_receptor, min_agreement=min_agreement)
               for _, row in table.iterrows()]
    for i, column in enumerate(("verdict", "direction", "layers_holding", "layers_missing", "reason")):
        table[column] = [d[i] for d in decided]
    sort = [c for c in ("contrast", "tissue", "level", "axis", "cell_type") if c in table.columns]
    return table[columns].sort_values(sort, kind="mergesort").reset_index(drop=True)


def rank_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Strongest verdicts first: by verdict, layers holding, response FDR, sender FDR, keys."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    ranked = verdicts.assign(
        _order=verdicts["verdict"].map(order),
        _layers=verdicts["layers_holding"].fillna("").str.count(r"\+"),
        _resp=verdicts["response_fdr"].astype(float).fillna(2.0),
        _send=verdicts["top_sender_fdr"].astype(float).fillna(2.0))
    keys = [c for c in ("contrast", "tissue", "level", "axis", "cell_type") if c in verdicts.columns]
    return ranked.sort_values(["_order", "_layers", "_resp", "_send", *keys],
                              ascending=[True, False, True, True, *[True] * len(keys)],
                              kind="mergesort").drop(columns=["_order", "_layers", "_resp", "_send"])


def verdict_counts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Verdicts per contrast (and level when present), every verdict a column."""
    keys = ["contrast", *(["level"] if "level" in verdicts.columns else [])]
    counts = verdicts.groupby([*keys, "verdict"], sort=True).size().unstack("verdict", fill_value=0)
    return counts.reindex(columns=list(VERDICTS), fill_value=0).reset_index()
