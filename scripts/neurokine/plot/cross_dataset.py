"""Figures across datasets: the forest plot and the therapy panel."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from neurokine.plot.common import empty_panel, finish, rank_findings, significance_mark
from neurokine.plot.style import (
    EFFECT_CMAP,
    NOT_TESTED_COLOUR,
    OUTCOME_COLOURS,
)
from neurokine.plot.therapy import EVIDENCE_LEVELS
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


def forest_plot(rows: pd.DataFrame, has_meta: bool, alpha: float, synthetic: bool,
                title: str) -> plt.Figure:
    """Forest plot: one line per dataset (and a diamond for the pooled estimate) per finding, the
    findings significant at BH-FDR < alpha in one block and the others in a second, greyed block.

    A finding is significant when its pooled estimate is (with a meta-analysis) or when any
    dataset's estimate is; within a block, non-significant lines are drawn open and grey, so an
    interval that excludes 0 is never mistaken for a discovery. ``has_meta`` says whether any
    pooled estimate exists (a meta-analysis of one dataset has none).
    """
    if rows.empty:
        fig, ax = plt.subplots(figsize=(7, 2.5))
        empty_panel(ax, "no tested result to show")
        return finish(fig, title, synthetic)
    rows = rows.assign(significant=rows["fdr"] < alpha)
    headline = rows[rows["pooled"]] if rows["pooled"].any() else rows
    hit = headline.groupby("order")["significant"].any()
    blocks = [(f"significant (BH-FDR < {alpha})", [o for o in sorted(rows["order"].unique()) if hit.get(o)]),
              ("not significant", [o for o in sorted(rows["order"].unique()) if not hit.get(o)])]
    blocks = [(name, orders) for name, orders in blocks if orders]
    n_lines = len(rows) + rows["order"].nunique() + 1.5 * len(blocks)
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.32 * n_lines))
    y, ticks, labels = 0.0, [], []
    for name, orders in blocks:
        ax.text(-0.02, y, name.upper(), transform=ax.get_yaxis_transform(), ha="right", va="center",
                fontsize=8, fontweight="bold", color="#1a1a1a" if orders[0] in hit[hit].index else "#777777")
        ax.axhline(y + 0.5, color="#bbbbbb", linewidth=0.6)
        y += 1.2
        for order in orders:
            block = rows[rows["order"] == order]
            strong = bool(hit.get(order))
            ax.text(-0.02, y, block["label"].iloc[0].replace("\n", "  |  "),
                    transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=7.5,
                    fontweight="bold" if strong else "normal", color="#1a1a1a" if strong else "#777777")
            y += 1
            for r in block.itertuples(index=False):
                colour = "#4575b4" if r.significant else "#9e9e9e"
                if r.pooled:
                    ax.fill([r.ci_low, r.estimate, r.ci_high, r.estimate], [y, y - 0.3, y, y + 0.3],
                            facecolor="#333333" if r.significant else "white", edgecolor="#333333")
                else:
                    ax.errorbar([r.estimate], [y], xerr=[[r.estimate - r.ci_low], [r.ci_high - r.estimate]],
                                fmt="s", color=colour, markerfacecolor=colour if r.significant else "white",
                                markersize=4, capsize=2, linewidth=1)
                ticks.append(y)
                labels.append(f"{r.source} (donors {r.n_donors}; FDR {r.fdr:.2g})")
                y += 1
            y += 0.5
        y += 0.5
    ax.axvline(0, color="#999999", linewidth=0.8, linestyle="--")
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_ylim(y - 0.5, -1)
    ax.set_xlabel("Hedges' g, case vs reference (95% CI)")
    note = ("diamonds: pooled DerSimonian-Laird random effects (results/compare/meta)" if has_meta else
            "no pooled estimate (fewer than two datasets tested these): per-dataset estimates only")
    return finish(fig, f"{title}\n{note}; open grey markers: BH-FDR \u2265 {alpha}", synthetic)


def _shade(colour: str, weight: float) -> tuple[float, float, float]:
    """An outcome colour mixed with white by evidence weight (1 = full colour)."""
    rgb = np.array(to_rgb(colour))
    return tuple(1.0 - weight * (1.0 - rgb))


def _entry_slots(n: int, left: float, width: float, centre: float) -> list[tuple[float, float]]:
    """Positions of n markers inside one part of a panel cell: rows of up to 4, centred."""
    per_row = 4
    rows = -(-n // per_row) if n else 0
    step = width / per_row
    return [(left + step * (k % per_row + 0.5), centre + 0.26 * ((k // per_row) - (rows - 1) / 2))
            for k in range(n)]


def therapy_panel(table: pd.DataFrame, records: pd.DataFrame, alpha: float, synthetic: bool,
                  title: str) -> plt.Figure:
    """Per axis: observed signal per disease beside every curated therapy entry of that disease.

    Left: Hedges' g of the strongest ligand/response change (stars: BH-FDR). Right: one marker per
    therapy entry, coloured by outcome and shaded by evidence level (its code printed inside), so
    entries are counted by outcome; entries studied in the disease itself sit left of the dashed
    line, other populations (pulmonary or cutaneous sarcoidosis, animal models, volunteers) right
    of it. Diamonds are multi-axis drugs credited here, a cross marks a withdrawn drug, '!' a
    paradox (only where the data show a signal). Withdrawals and multi-axis drugs are footnoted.
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
    notes = _therapy_footnotes(records[records["axis"].isin(axes_ids)
                                       & records["disease"].isin(diseases)])
    note_inches = 0.95 + 0.16 * len(notes)
    height = 1.6 + 0.3 * len(axes_ids) + note_inches
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.27, height),
                                      gridspec_kw={"width_ratios": [0.9 + 0.35 * len(diseases),
                                                                    1.25 * len(diseases)]})
    left.set_facecolor(NOT_TESTED_COLOUR)
    stars = np.vectorize(lambda q: significance_mark(q, alpha))(fdr.to_numpy(dtype=float))
    sns.heatmap(g.astype(float), ax=left, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit, annot=stars, fmt="",
                linewidths=0.5, linecolor="white", cbar_kws={"label": "Hedges' g (strongest)", "shrink": 0.6},
                xticklabels=True, yticklabels=True)
    left.set_title("observed signal\n(ligand or response)", fontsize=9)
    left.set_xlabel("")
    left.set_ylabel("cytokine axis")
    left.tick_params(axis="y", rotation=0)
    left.tick_params(axis="x", rotation=90)
    lookup = table.set_index(["axis", "disease"])
    split = 0.64
    for i, axis in enumerate(axes_ids):
        for j, disease in enumerate(diseases):
            row = lookup.loc[(axis, disease)]
            cell = records[(records["axis"] == axis) & (records["disease"] == disease)]
            right.add_patch(Rectangle((j, i), 1, 1, facecolor="white", edgecolor="#cccccc",
                                      linewidth=0.5))
            right.plot([j + split, j + split], [i + 0.1, i + 0.9], color="#bbbbbb", linewidth=0.6,
                       linestyle=(0, (2, 2)))
            for part, (x0, width) in ((cell[cell["in_disease"]], (j + 0.08, split - 0.08)),
                                      (cell[~cell["in_disease"]], (j + split, 1 - split))):
                for (x, y), entry in zip(_entry_slots(len(part), x0, width, i + 0.5),
                                         part.itertuples(index=False), strict=True):
                    _draw_entry(right, x, y, entry)
            if row["paradox"]:
                right.add_patch(Rectangle((j + 0.02, i + 0.06), split - 0.04, 0.88, fill=False,
                                          edgecolor="black", linewidth=1.8))
                right.text(j + 0.045, i + 0.5, "!", ha="center", va="center", fontsize=9,
                           fontweight="bold")
    right.set_xlim(0, len(diseases))
    right.set_ylim(len(axes_ids), 0)
    right.set_xticks(np.arange(len(diseases)) + 0.5, diseases, rotation=0, fontsize=8)
    right.xaxis.tick_top()
    right.set_yticks(np.arange(len(axes_ids)) + 0.5, axes_ids)
    right.set_title("curated therapy entries: studied in the disease | other populations", fontsize=9)
    for spine in right.spines.values():
        spine.set_visible(False)
    right.tick_params(length=0)
    handles = [Line2D([], [], marker="s", linestyle="", markersize=7, markerfacecolor=colour,
                      markeredgecolor="#333333", label=outcome)
               for outcome, colour in OUTCOME_COLOURS.items()
               if outcome != "none" and (outcome != "withdrawn" or (records["outcome"] == outcome).any())]
    handles += [Line2D([], [], marker="D", linestyle="", markersize=6, markerfacecolor="white",
                       markeredgecolor="#333333", label="multi-axis drug"),
                Line2D([], [], marker="x", linestyle="", markersize=6, color="black",
                       label="drug withdrawn"),
                Patch(facecolor="white", edgecolor="black", linewidth=1.8, label="! paradox")]
    codes = "   ".join(f"{code} {label}" for label, _, code in EVIDENCE_LEVELS.values())
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=7,
               bbox_to_anchor=(0.5, (0.45 + 0.16 * len(notes)) / height))
    fig.text(0.01, (0.3 + 0.16 * len(notes)) / height,
             f"code = evidence level, shading = its weight (strongest darkest): {codes}",
             fontsize=6.5, va="bottom")
    for k, note in enumerate(notes):
        fig.text(0.01, (0.1 + 0.16 * (len(notes) - 1 - k)) / height, note, fontsize=6.5, va="bottom")
    return finish(fig, f"{title}\n* BH-FDR < {alpha}; paradox only where an observed signal meets a "
                        "trial in the disease itself", synthetic, bottom_inches=note_inches)


def _draw_entry(ax: plt.Axes, x: float, y: float, entry: object) -> None:
    """One therapy entry: outcome colour shaded by evidence, level code, multi-axis and withdrawn marks."""
    colour = _shade(OUTCOME_COLOURS.get(entry.outcome, "#ffffff"), float(entry.evidence_weight))
    attributed = bool(entry.multi_axis) and entry.home_axis != entry.axis
    ax.scatter([x], [y], s=95 if attributed else 110, marker="D" if entry.multi_axis else "s",
               facecolor=[colour], edgecolor="#333333" if entry.in_disease else "#777777",
               linewidth=0.7, linestyle="-" if entry.in_disease else "--", zorder=3)
    code = EVIDENCE_LEVELS[entry.evidence_level][2]
    ax.text(x, y, code, ha="center", va="center", fontsize=6, zorder=4)
    if entry.withdrawn:
        ax.scatter([x], [y], s=150, marker="x", color="black", linewidth=1.1, zorder=5)


def _therapy_footnotes(records: pd.DataFrame, width: int = 150) -> list[str]:
    """Footnote lines: each withdrawn drug with year, reason and citations; each multi-axis drug."""
    notes = []
    withdrawn = records[records["withdrawn"]].drop_duplicates(["drug", "withdrawn_reason"])
    for r in withdrawn.itertuples(index=False):
        notes += textwrap.wrap(f"x {r.drug} ({r.home_axis}, {r.disease}): withdrawn {int(r.withdrawn_year)}, "
                               f"{r.withdrawn_reason} [{r.withdrawn_citations}]", width,
                               subsequent_indent="   ")
    multi = records[records["multi_axis"]].drop_duplicates(["drug", "blocks_via"])
    for r in multi.itertuples(index=False):
        credited = sorted(records.loc[records["drug"] == r.drug, "axis"].unique())
        notes += textwrap.wrap(f"\u25c7 {r.drug} blocks {r.blocks_via} (curated under {r.home_axis}); "
                               f"credited to {', '.join(credited)}", width, subsequent_indent="   ")
    return notes
