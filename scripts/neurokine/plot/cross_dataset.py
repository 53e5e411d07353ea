"""Figures across datasets: the forest plot and the therapy panel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch, Rectangle

from neurokine.plot.common import empty_panel, finish, rank_findings, significance_mark
from neurokine.plot.style import (
    EFFECT_CMAP,
    NOT_TESTED_COLOUR,
    OUTCOME_COLOURS,
)
from neurokine.stats.models import Z_975


def forest_rows(tests: pd.DataFrame, meta: pd.DataFrame | None, alpha: float,
                limit: int = 12) -> pd.DataFrame:
    """Per-dataset Hedges' g with 95% CI for the top findings, plus the pooled estimate if any.

    With a meta-analysis table (results/compare/meta/) the findings are its strongest pooled
    results; without one they are the strongest per-dataset results, and no pooled row is made.
    """
    keys = ["contrast", "tissue", "signature", "cell_type"]
    tested = tests[tests["status"] == "tested"].copy()
    if meta is not None and not meta.empty:
        pooled = meta[meta["status"].isin(["tested", "single_dataset"])].copy()
        pooled["p_value"] = pooled["p_value"].fillna(1.0)
        pooled["hedges_g"] = pooled["effect"]
        pooled["fdr"] = pooled["fdr"].fillna(1.0)
        pooled["status"] = "tested"
        top = rank_findings(pooled, alpha, limit)[keys]
    else:
        top = rank_findings(tested, alpha, limit)[keys].drop_duplicates()
    rows = []
    for order, finding in enumerate(top.itertuples(index=False)):
        contrast = finding.contrast.replace("_vs_", " vs ")
        label = f"{finding.signature} in {finding.cell_type}\n{contrast} ({finding.tissue})"
        mine = tested.merge(pd.DataFrame([finding._asdict()]), on=keys).sort_values("dataset_id")
        for r in mine.itertuples(index=False):
            se = float(r.hedges_g_se)
            rows.append({"order": order, "label": label, "source": str(r.dataset_id), "pooled": False,
                         "estimate": float(r.hedges_g), "ci_low": float(r.hedges_g) - Z_975 * se,
                         "ci_high": float(r.hedges_g) + Z_975 * se, "fdr": float(r.fdr),
                         "n_donors": f"{int(r.n_donors_case)}/{int(r.n_donors_reference)}"})
        if meta is not None and not meta.empty:
            pooled_row = meta.merge(pd.DataFrame([finding._asdict()]), on=keys)
            for r in pooled_row.itertuples(index=False):
                if str(r.status) != "tested":
                    continue
                rows.append({"order": order, "label": label, "source": "pooled (random effects)",
                             "pooled": True, "estimate": float(r.effect), "ci_low": float(r.ci_low),
                             "ci_high": float(r.ci_high), "fdr": float(r.fdr),
                             "n_donors": f"{int(r.n_donors_case)}/{int(r.n_donors_reference)}"})
    return pd.DataFrame(rows, columns=["order", "label", "source", "pooled", "estimate", "ci_low",
                                       "ci_high", "fdr", "n_donors"])


def forest_plot(rows: pd.DataFrame, has_meta: bool, synthetic: bool, title: str) -> plt.Figure:
    """Forest plot: one line per dataset (and a diamond for the pooled estimate) per finding.

    ``has_meta`` says whether any pooled estimate exists (a meta-analysis of one dataset has none).
    """
    if rows.empty:
        fig, ax = plt.subplots(figsize=(7, 2.5))
        empty_panel(ax, "no tested result to show")
        return finish(fig, title, synthetic)
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.32 * (len(rows) + rows["order"].nunique())))
    y, ticks, labels = 0.0, [], []
    for order in sorted(rows["order"].unique()):
        block = rows[rows["order"] == order]
        ax.text(-0.02, y, block["label"].iloc[0].replace("\n", "  |  "), transform=ax.get_yaxis_transform(),
                ha="right", va="center", fontsize=7.5, fontweight="bold")
        y += 1
        for r in block.itertuples(index=False):
            if r.pooled:
                ax.fill([r.ci_low, r.estimate, r.ci_high, r.estimate], [y, y - 0.3, y, y + 0.3],
                        color="#333333")
            else:
                ax.errorbar([r.estimate], [y], xerr=[[r.estimate - r.ci_low], [r.ci_high - r.estimate]],
                            fmt="s", color="#4575b4", markersize=4, capsize=2, linewidth=1)
            ticks.append(y)
            labels.append(f"{r.source} (donors {r.n_donors})")
            y += 1
        y += 0.5
    ax.axvline(0, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_ylim(y - 0.5, -1)
    ax.set_xlabel("Hedges' g, case vs reference (95% CI)")
    note = ("diamonds: pooled DerSimonian-Laird random effects (results/compare/meta)" if has_meta else
            "no pooled estimate (fewer than two datasets tested these): per-dataset estimates only")
    return finish(fig, f"{title}\n{note}", synthetic)


def therapy_panel(table: pd.DataFrame, alpha: float, synthetic: bool, title: str) -> plt.Figure:
    """Per axis: observed signal per disease beside the clinical outcome of targeting it.

    Left: Hedges' g of the strongest ligand/response change (stars: BH-FDR). Right: summary of
    curated trial outcomes; a heavy frame and '!' flag a paradox (see neurokine.plot.therapy).
    """
    if table.empty:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        empty_panel(ax, "no curated therapy for any axis")
        return finish(fig, title, synthetic)
    axes_ids = sorted(table["axis"].unique())
    diseases = list(dict.fromkeys(table["disease"]))
    g = table.pivot_table(index="axis", columns="disease", values="observed_hedges_g", aggfunc="first",
                          dropna=False).reindex(index=axes_ids, columns=diseases)
    fdr = table.pivot_table(index="axis", columns="disease", values="observed_fdr", aggfunc="first",
                            dropna=False).reindex(index=axes_ids, columns=diseases)
    limit = float(np.nanmax(np.abs(g.to_numpy(dtype=float)), initial=0.0)) or 1.0
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 1.5 * len(diseases), 1.8 + 0.42 * len(axes_ids)),
                                      gridspec_kw={"width_ratios": [1, 1.25]})
    left.set_facecolor(NOT_TESTED_COLOUR)
    stars = np.vectorize(lambda q: significance_mark(q, alpha))(fdr.to_numpy(dtype=float))
    sns.heatmap(g.astype(float), ax=left, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit, annot=stars, fmt="",
                linewidths=0.5, linecolor="white", cbar_kws={"label": "Hedges' g (strongest)", "shrink": 0.7},
                xticklabels=True, yticklabels=True)
    left.set_title("observed signal (ligand or response)")
    left.set_xlabel("")
    left.set_ylabel("cytokine axis")
    left.tick_params(axis="y", rotation=0)
    lookup = table.set_index(["axis", "disease"])
    for i, axis in enumerate(axes_ids):
        for j, disease in enumerate(diseases):
            row = lookup.loc[(axis, disease)]
            outcome = str(row["outcome_summary"])
            right.add_patch(Rectangle((j, i), 1, 1, facecolor=OUTCOME_COLOURS.get(outcome, "#ffffff"),
                                      edgecolor="black" if row["paradox"] else "#cccccc",
                                      linewidth=2.2 if row["paradox"] else 0.5))
            text = "" if outcome == "none" else f"{outcome} ({int(row['n_therapies'])})"
            if row["paradox"]:
                text = f"! {text}"
            right.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=7,
                       fontweight="bold" if row["paradox"] else "normal")
    right.set_xlim(0, len(diseases))
    right.set_ylim(len(axes_ids), 0)
    right.set_xticks(np.arange(len(diseases)) + 0.5, diseases, rotation=90)
    right.set_yticks(np.arange(len(axes_ids)) + 0.5, axes_ids)
    right.set_title("clinical outcome of targeting the axis (trials)")
    for spine in right.spines.values():
        spine.set_visible(False)
    handles = [Patch(facecolor=c, edgecolor="#999999", label=o) for o, c in OUTCOME_COLOURS.items()
               if o != "none"]
    handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2, label="! paradox"))
    right.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
                 title="outcome")
    return finish(fig, f"{title}\n* BH-FDR < {alpha}; paradox: outcome against the observed signal "
                        "or flipped between diseases", synthetic)
