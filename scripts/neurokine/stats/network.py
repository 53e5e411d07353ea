"""Sender -> receiver cytokine networks on donor-level values, tested like the compare stage.

Per sample (one donor in one tissue) and cell type, an axis has a *sender* score (its ligand:
mean log-normalized expression and fraction of cells expressing, heteromeric ligands taking the
minimum over their subunits) and a *receiver* score (its receptor: minimum over the subunits of a
complex, maximum over alternative complexes). The *interaction* score of a sender -> receiver
pair in one sample is the geometric mean of the sender's ligand and the receiver's receptor
expression, so it is zero when either side is silent and keeps the units of expression.

Disease-versus-reference changes are tested on these per-donor interaction scores with
:func:`neurokine.stats.compare.compare_groups`: the donor is the unit, never the cell.

A cell type is a *sender* when it detects the ligand in enough cells in either arm of the
contrast, so a cytokine induced by the disease (or a stimulation) is seen; a *receiver* needs its
receptor complex (every subunit) in enough cells. Each tested edge then carries the receiver's
response layer (joint activity, or the response module) and whether that response moves with
the edge: an edge without a receiver response behind it is kept but marked unsupported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from neurokine.curated.axes import Axis
from neurokine.errors import InputError
from neurokine.settings import Contrast
from neurokine.stats import compare

DETECTION_COLUMNS = ("sample_id", "cell_type", "gene", "mean_expression", "fraction_expressing")
COUNT_COLUMNS = ("sample_id", "cell_type", "n_cells", "dataset_id", "donor_id", "tissue", "disease")
#: Donor covariates carried along so compare's covariate adjustment works on interactions too.
COVARIATES = ("sex", "age", "batch")

NODE_COLUMNS = [
    "dataset_id", "sample_id", "donor_id", "tissue", "disease", "cell_type", "n_cells", "axis",
    "ligand_mean", "ligand_fraction", "receptor_mean", "receptor_fraction",
]

#: Columns of the interaction-test table, in order (stable names for users and figures).
NETWORK_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "axis", "sender", "receiver",
    "status", "reason", "n_donors_case", "n_donors_reference", "ligand_fraction",
    "ligand_fraction_case", "ligand_fraction_reference", "receptor_fraction", "ligand_mean_case",
    "ligand_mean_reference", "receptor_mean_case", "receptor_mean_reference", "mean_case",
    "mean_reference", "effect", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high", "hedges_g",
    "p_value", "fdr", "fdr_family", "perm_p_value", "perm_p_floor", "test",
    "receiver_response_state", "receiver_response_fdr", "receiver_response_source",
    "response_support", "supported",
]

EVIDENCE_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "axis", "cell_type",
    "receptor_fraction", "receptor_present", "response_status", "response_effect",
    "response_hedges_g", "response_fdr", "response_changed", "response_direction",
    "n_candidate_senders", "senders_changed", "top_sender", "top_sender_effect",
    "top_sender_fdr", "sender_identified", "directions_agree", "n_evidence", "evidence",
]

#: Sender rules of candidate_pairs: the larger arm's ligand detection, or the mean over both arms.
SENDER_RULES = ("either_arm", "pooled")

#: Joins sender and receiver into one compare-stage stratum label; a control character cannot
#: occur in a cell-type label read from a TSV, so the pair is recovered without ambiguity.
PAIR_SEPARATOR = "\x1f"


def _require(frame: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    """Fail with the file and the missing column when an input table lacks a column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(source, missing[0], "column missing",
                         "regenerate the table with the aggregate stage of this version")


def complex_score(values: pd.DataFrame, complexes: Sequence[Sequence[str]]) -> np.ndarray:
    """Max over alternative complexes of the min over each complex's subunits (NaN if none measured).

    ``values`` has one column per gene; a complex with an unmeasured subunit cannot be judged and
    is skipped, as in :mod:`neurokine.scoring.detection`.
    """
    per_complex = [values[list(c)].min(axis=1, skipna=False).to_numpy(dtype=float)
                   for c in complexes if all(g in values.columns for g in c)]
    if not per_complex:
        return np.full(len(values), np.nan)
    stacked = np.column_stack(per_complex)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(stacked).all(axis=1), np.nan, np.nanmax(
            np.where(np.isnan(stacked), -np.inf, stacked), axis=1))


def node_scores(detection: pd.DataFrame, cell_counts: pd.DataFrame, axes: Sequence[Axis],
                source: str = "gene_detection.tsv", complexes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sender (ligand) and receiver (receptor) scores per sample x cell type x axis.

    With `complexes` (receptor_detection.tsv) the ligand and receptor fractions are the cells that
    express every subunit of a complex themselves, not the scarcest subunit's fraction: two
    cells each carrying one chain of a receptor are not a receiver.
    """
    _require(detection, DETECTION_COLUMNS, source)
    _require(cell_counts, COUNT_COLUMNS, "cell_counts.tsv")
    detection = detection.astype({"sample_id": str, "cell_type": str, "gene": str})
    keys = ["sample_id", "cell_type"]
    mean = detection.pivot_table(index=keys, columns="gene", values="mean_expression",
                                 aggfunc="first", observed=True)
    fraction = detection.pivot_table(index=keys, columns="gene", values="fraction_expressing",
                                     aggfunc="first", observed=True).reindex_like(mean)
    frames = []
    for axis in axes:
        frames.append(pd.DataFrame({
            "sample_id": mean.index.get_level_values(0), "cell_type": mean.index.get_level_values(1),
            "axis": axis.id,
            "ligand_mean": complex_score(mean, axis.ligand_complexes),
            "ligand_fraction": complex_score(fraction, axis.ligand_complexes),
            "receptor_mean": complex_score(mean, axis.receptor_complexes),
            "receptor_fraction": complex_score(fraction, axis.receptor_complexes),
        }))
    nodes = pd.concat(frames, ignore_index=True)
    if complexes is not None:
        nodes = _co_expression(nodes, complexes)
    meta_columns = [*COUNT_COLUMNS, *[c for c in COVARIATES if c in cell_counts.columns]]
    meta = cell_counts[meta_columns].astype({"sample_id": str, "cell_type": str})
    nodes = nodes.merge(meta, on=keys, how="inner", validate="many_to_one")
    nodes = nodes[nodes["n_cells"] > 0]
    extra = [c for c in COVARIATES if c in nodes.columns]
    return (nodes[[*NODE_COLUMNS, *extra]]
            .sort_values(["sample_id", "cell_type", "axis"], kind="mergesort")
            .reset_index(drop=True))


def _co_expression(nodes: pd.DataFrame, complexes: pd.DataFrame) -> pd.DataFrame:
    """Nodes with ligand/receptor fractions replaced by the fraction of cells with every subunit."""
    _require(complexes, ("sample_id", "cell_type", "axis", "module", "fraction_all_subunits"),
             "receptor_detection.tsv")
    wide = complexes.astype({"sample_id": str, "cell_type": str, "axis": str}).pivot_table(
        index=["sample_id", "cell_type", "axis"], columns="module", values="fraction_all_subunits",
        aggfunc="first", observed=True)
    for module in ("ligand", "receptor"):
        if module not in wide.columns:
            wide[module] = np.nan
    wide = wide[["ligand", "receptor"]].rename(columns=lambda m: f"{m}_fraction").reset_index()
    merged = nodes.drop(columns=["ligand_fraction", "receptor_fraction"]).merge(
        wide, on=["sample_id", "cell_type", "axis"], how="left", validate="one_to_one")
    return merged[nodes.columns]


def candidate_pairs(nodes: pd.DataFrame, contrast: Contrast, min_ligand: float,
                    min_receptor: float, sender_rule: str = "either_arm") -> pd.DataFrame:
    """Sender/receiver pairs worth testing in one contrast: the sender's ligand in >= min_ligand of
    its cells in either arm, the receiver's receptor complex in >= min_receptor of its cells.

    Fractions are means over samples, each sample weighted equally. The sender rule takes each
    arm separately because a cytokine induced in one arm (CXCR3 ligands go from 1% to 93% of
    monocytes after IFN-beta) averages below any threshold that excludes background; the
    receptor rule pools both arms. `sender_rule='pooled'` averages the ligand over both arms too
    (independent of the contrast; misses induced cytokines). Returns one row per tissue x axis x
    sender x receiver with ligand_fraction (the one the rule used), ligand_fraction_case/_reference
    and receptor_fraction.
    """
    if sender_rule not in SENDER_RULES:
        raise ValueError(f"sender_rule must be one of {SENDER_RULES}, not {sender_rule!r}")
    keys = ["tissue", "axis", "cell_type"]
    frame = nodes.astype({"disease": str})
    arms = {}
    for arm, group in (("case", contrast.case), ("reference", contrast.reference)):
        arms[arm] = frame[frame["disease"] == group].groupby(keys, observed=True, sort=True)[
            "ligand_fraction"].mean().rename(f"ligand_fraction_{arm}")
    ligand = pd.concat(arms.values(), axis=1).reset_index()
    ligand["ligand_fraction"] = ligand[["ligand_fraction_case", "ligand_fraction_reference"]].max(axis=1)
    if sender_rule == "pooled":
        pooled = frame.groupby(keys, observed=True, sort=True)["ligand_fraction"].mean()
        ligand["ligand_fraction"] = pooled.reindex(pd.MultiIndex.from_frame(ligand[keys])).to_numpy()
    receptor = frame.groupby(keys, observed=True, sort=True)["receptor_fraction"].mean().reset_index()
    senders = ligand[ligand["ligand_fraction"] >= min_ligand].rename(columns={"cell_type": "sender"})
    receivers = receptor[receptor["receptor_fraction"] >= min_receptor].rename(
        columns={"cell_type": "receiver"})
    return senders.merge(receivers, on=["tissue", "axis"], how="inner").sort_values(
        ["tissue", "axis", "sender", "receiver"], kind="mergesort").reset_index(drop=True)


def interaction_scores(nodes: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per sample and candidate pair: sqrt(ligand of sender x receptor of receiver).

    ``n_cells`` is the smaller of the two cell counts, so the compare stage's cells-per-donor
    minimum applies to both sides of the interaction.
    """
    extra = [c for c in COVARIATES if c in nodes.columns]
    base = ["dataset_id", "sample_id", "donor_id", "tissue", "disease", *extra]
    send = nodes[[*base, "axis", "cell_type", "n_cells", "ligand_mean"]].rename(
        columns={"cell_type": "sender", "n_cells": "n_sender"})
    receive = nodes[["sample_id", "axis", "cell_type", "n_cells", "receptor_mean"]].rename(
        columns={"cell_type": "receiver", "n_cells": "n_receiver"})
    table = send.merge(pairs[["tissue", "axis", "sender", "receiver"]],
                       on=["tissue", "axis", "sender"], how="inner")
    table = table.merge(receive, on=["sample_id", "axis", "receiver"], how="inner")
    table["interaction"] = np.sqrt(table["ligand_mean"].clip(lower=0) * table["receptor_mean"].clip(lower=0))
    table["n_cells"] = np.minimum(table["n_sender"], table["n_receiver"])
    table = table.dropna(subset=["interaction"])
    # compare_groups tests all axes of one pair on the same donors, so a sample missing any of
    # the pair's candidate axes is left out of that pair rather than misaligning the columns.
    pair = ["tissue", "sender", "receiver"]
    n_axes = pairs.groupby(pair, observed=True)["axis"].nunique().rename("n_axes").reset_index()
    table = table.merge(n_axes, on=pair, how="left")
    table = table[table.groupby(["sample_id", *pair], observed=True)["axis"].transform("size")
                  == table["n_axes"]].drop(columns="n_axes")
    return table.sort_values(
        ["sample_id", "axis", "sender", "receiver"], kind="mergesort").reset_index(drop=True)


def _arm_means(scores: pd.DataFrame, contrast: Contrast, min_cells: int) -> pd.DataFrame:
    """Mean sender ligand and receiver receptor expression per arm, over eligible donors."""
    eligible = scores[scores["n_cells"] >= min_cells]
    keys = ["tissue", "axis", "sender", "receiver"]
    donors = eligible.groupby([*keys, "donor_id", "disease"], observed=True)[
        ["ligand_mean", "receptor_mean"]].mean().reset_index()
    out = None
    for arm, group in (("case", contrast.case), ("reference", contrast.reference)):
        arm_mean = donors[donors["disease"] == group].groupby(keys, observed=True)[
            ["ligand_mean", "receptor_mean"]].mean().add_suffix(f"_{arm}")
        out = arm_mean if out is None else out.join(arm_mean, how="outer")
    return out.reset_index() if out is not None else pd.DataFrame(columns=keys)


def compare_interactions(nodes: pd.DataFrame, contrasts: Sequence[Contrast], *,
                         covariates: Sequence[str], min_cells: int, min_donors: int, n_boot: int,
                         seed: int, min_ligand: float, min_receptor: float,
                         max_permutations: int = 20000, permutation_max_arm: int = 8,
                         sender_rule: str = "either_arm") -> pd.DataFrame:
    """Test every candidate interaction of every contrast on donor-level scores (one tidy table).

    Each sender -> receiver pair is one stratum of :func:`compare.compare_groups` with one
    'signature' per axis (``<axis>.interaction``), so effects, intervals, donor counts and the
    BH-FDR family (dataset x contrast x tissue, across all pairs and axes) come from the same
    donor-level machinery as every other comparison.
    """
    frames = []
    for contrast in contrasts:
        arms = nodes[nodes["disease"].astype(str).isin([contrast.case, contrast.reference])]
        if arms.empty:
            continue
        pairs = candidate_pairs(arms, contrast, min_ligand, min_receptor, sender_rule)
        if pairs.empty:
            continue
        scores = interaction_scores(arms, pairs)
        if scores.empty:
            continue
        long = scores.assign(
            cell_type=scores["sender"].astype(str) + PAIR_SEPARATOR + scores["receiver"].astype(str),
            signature=scores["axis"] + ".interaction", mean_score=scores["interaction"])
        coverage = pd.DataFrame({"signature": sorted(long["signature"].unique()),
                                 "status": "scored", "coverage": 1.0, "reason": ""})
        tested = compare.compare_groups(long, coverage, [contrast], covariates=covariates,
                                        min_cells=min_cells, min_donors=min_donors, n_boot=n_boot,
                                        seed=seed, max_permutations=max_permutations,
                                        permutation_max_arm=permutation_max_arm)
        tested[["sender", "receiver"]] = tested["cell_type"].str.split(PAIR_SEPARATOR, n=1,
                                                                       expand=True)
        tested = tested.merge(pairs, on=["tissue", "axis", "sender", "receiver"], how="left")
        tested = tested.merge(_arm_means(scores, contrast, min_cells),
                              on=["tissue", "axis", "sender", "receiver"], how="left")
        frames.append(tested)
    if not frames:
        return pd.DataFrame(columns=NETWORK_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    return table.reindex(columns=NETWORK_COLUMNS).sort_values(
        ["contrast", "tissue", "axis", "sender", "receiver"], kind="mergesort").reset_index(drop=True)


def _direction(effect: float) -> str:
    """'up' or 'down' for a signed effect (blank when missing)."""
    if not np.isfinite(effect):
        return ""
    return "up" if effect > 0 else "down"


def evidence_agreement(nodes: pd.DataFrame, network: pd.DataFrame, tests: pd.DataFrame,
                       contrasts: Sequence[Contrast], *, min_ligand: float,
                       min_receptor: float, alpha: float) -> pd.DataFrame:
    """Per contrast x tissue x axis x cell type: receptor present, response changed, sender found.

    * receptor present: the receptor complex is detected in >= min_receptor of the cell type's
      cells (mean over the donors of both arms);
    * response changed: the axis's response module differs at BH-FDR < alpha (compare stage);
    * sender identified: at least one sender -> this cell type interaction of the axis changed at
      BH-FDR < alpha; the strongest is named, with whether its direction matches the response.
    """
    rows = []
    response = tests[(tests["module"] == "response")]
    response = response.set_index(["contrast", "tissue", "axis", "cell_type"])
    significant = network[(network["status"] == "tested") & (network["fdr"] < alpha)]
    for contrast in contrasts:
        arms = nodes[nodes["disease"].astype(str).isin([contrast.case, contrast.reference])]
        if arms.empty:
            continue
        fractions = arms.groupby(["dataset_id", "tissue", "axis", "cell_type"], observed=True,
                                 sort=True)[["receptor_fraction"]].mean()
        senders = candidate_pairs(arms, contrast, min_ligand, 0.0).groupby(
            ["tissue", "axis"])["sender"].nunique()
        hits = significant[significant["contrast"] == contrast.name]
        for (dataset_id, tissue, axis, cell_type), row in fractions.iterrows():
            key = (contrast.name, tissue, axis, cell_type)
            resp = response.loc[key] if key in response.index else None
            if isinstance(resp, pd.DataFrame):
                resp = resp.iloc[0]
            status = str(resp["status"]) if resp is not None else "absent"
            fdr = float(resp["fdr"]) if resp is not None and status == "tested" else np.nan
            effect = float(resp["effect"]) if resp is not None and status == "tested" else np.nan
            g = float(resp["hedges_g"]) if resp is not None and status == "tested" else np.nan
            changed = bool(np.isfinite(fdr) and fdr < alpha)
            incoming = hits[(hits["tissue"] == tissue) & (hits["axis"] == axis)
                            & (hits["receiver"].astype(str) == cell_type)].sort_values(
                ["fdr", "sender"], kind="mergesort")
            top = incoming.iloc[0] if len(incoming) else None
            present = bool(np.isfinite(row["receptor_fraction"])
                           and row["receptor_fraction"] >= min_receptor)
            sender_found = top is not None
            agree = (_direction(float(top["effect"])) == _direction(effect)) if (
                sender_found and changed) else None
            layers = [name for name, on in (("receptor", present), ("response", changed),
                                            ("sender", sender_found)) if on]
            rows.append({
                "dataset_id": dataset_id, "contrast": contrast.name, "case": contrast.case,
                "reference": contrast.reference, "tissue": tissue, "axis": axis,
                "cell_type": cell_type, "receptor_fraction": row["receptor_fraction"],
                "receptor_present": present, "response_status": status, "response_effect": effect,
                "response_hedges_g": g, "response_fdr": fdr, "response_changed": changed,
                "response_direction": _direction(effect) if changed else "",
                "n_candidate_senders": int(senders.get((tissue, axis), 0)),
                "senders_changed": ";".join(sorted(incoming["sender"].astype(str).unique())),
                "top_sender": str(top["sender"]) if sender_found else "",
                "top_sender_effect": float(top["effect"]) if sender_found else np.nan,
                "top_sender_fdr": float(top["fdr"]) if sender_found else np.nan,
                "sender_identified": sender_found,
                "directions_agree": "" if agree is None else ("yes" if agree else "no"),
                "n_evidence": len(layers), "evidence": " + ".join(layers) if layers else "none",
            })
    frame = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    return frame.sort_values(["contrast", "tissue", "axis", "cell_type"], kind="mergesort").reset_index(
        drop=True)

