"""Descriptive figures (no comparison needed): donors, cells, QC steps, cell-type composition and
the per-cell-type map of ligand, receptor and response scores."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch

from neurokine.plot.common import empty_panel, finish, group_order, jitter, sample_table
from neurokine.plot.style import EFFECT_CMAP, NEUTRAL_COLOUR, NOT_TESTED_COLOUR, group_colour
from neurokine.stats.compare import cell_weighted_means


def dataset_overview(cell_counts: pd.DataFrame, qc_steps: pd.DataFrame, synthetic: bool,
                     title: str) -> plt.Figure:
    """Donors and cells per disease group and tissue, and cells kept after each QC step."""
    samples = sample_table(cell_counts)
    groups = group_order(samples["disease"])
    tissues = sorted(samples["tissue"].unique())
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.8),
                                              gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
    donors = samples.groupby(["disease", "tissue"])["donor_id"].nunique()
    width = 0.8 / max(len(tissues), 1)
    for k, tissue in enumerate(tissues):
        heights = [int(donors.get((g, tissue), 0)) for g in groups]
        xs = np.arange(len(groups)) + (k - (len(tissues) - 1) / 2) * width
        bars = left.bar(xs, heights, width=width, label=tissue,
                        color=sns.color_palette("Set2", len(tissues))[k])
        left.bar_label(bars, fontsize=7)
    left.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    left.set_ylabel("donors")
    left.set_title("donors per group and tissue")
    left.set_ylim(0, max(int(donors.max()) if len(donors) else 1, 1) * 1.2)
    if len(tissues) > 1:
        left.legend(title="tissue", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    for i, group in enumerate(groups):
        for k, tissue in enumerate(tissues):
            values = samples.loc[(samples["disease"] == group) & (samples["tissue"] == tissue),
                                 "n_cells_sample"].to_numpy(dtype=float)
            if not len(values):
                continue
            x = i + (k - (len(tissues) - 1) / 2) * width
            middle.boxplot(values, positions=[x], widths=width * 0.8, showfliers=False,
                           medianprops={"color": "black"}, boxprops={"color": NEUTRAL_COLOUR})
            middle.scatter(x + jitter(values, width * 0.6), values, s=12, zorder=3,
                           color=group_colour(group), edgecolor="white", linewidth=0.4)
    middle.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    middle.set_xlim(-0.6, len(groups) - 0.4)
    middle.set_ylabel("cells per sample (after QC)")
    middle.set_title("cells per donor sample" + (f" ({', '.join(tissues)})" if len(tissues) > 1 else ""))

    if qc_steps is None or qc_steps.empty:
        empty_panel(right, "no QC table")
    else:
        totals = qc_steps.groupby(["order", "step"], sort=True)["cells_kept"].sum().reset_index()
        bars = right.bar(totals["step"].astype(str), totals["cells_kept"], color="#4575b4")
        right.bar_label(bars, fontsize=7)
        right.tick_params(axis="x", rotation=30)
        for label in right.get_xticklabels():
            label.set_horizontalalignment("right")
        right.set_ylabel("cells kept (all samples)")
        right.set_title("cells kept after each QC step")
    return finish(fig, title, synthetic)


def composition(cell_counts: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """Cell-type fractions per donor sample, donors grouped by disease (one panel per tissue)."""
    counts = cell_counts.astype({"sample_id": str, "cell_type": str, "disease": str, "tissue": str})
    tissues = sorted(counts["tissue"].unique())
    types = sorted(counts["cell_type"].unique())
    palette = dict(zip(types, sns.color_palette("tab20", 20) * (len(types) // 20 + 1), strict=False))
    n_samples = counts.groupby("tissue")["sample_id"].nunique().max()
    fig, grid = plt.subplots(len(tissues), 1, squeeze=False,
                             figsize=(max(7.0, 3.5 + 0.22 * n_samples), 1.6 + 3.6 * len(tissues)))
    for ax, tissue in zip(grid[:, 0], tissues, strict=True):
        sub = counts[counts["tissue"] == tissue]
        order = sample_table(sub)
        wide = sub.pivot_table(index="sample_id", columns="cell_type", values="n_cells",
                               aggfunc="sum", fill_value=0).reindex(index=order["sample_id"], columns=types,
                                                                   fill_value=0)
        fractions = wide.div(wide.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
        bottom = np.zeros(len(fractions))
        xs = np.arange(len(fractions))
        for cell_type in types:
            values = fractions[cell_type].to_numpy()
            ax.bar(xs, values, bottom=bottom, width=0.9, color=palette[cell_type], label=cell_type,
                   linewidth=0)
            bottom += values
        ax.set_xticks(xs, order["donor_id"], rotation=90, fontsize=6)
        for label, group in zip(ax.get_xticklabels(), order["disease"], strict=True):
            label.set_color(group_colour(group))
        ax.set_xlim(-0.6, len(xs) - 0.4)
        ax.set_ylim(0, 1)
        ax.set_ylabel("fraction of cells")
        ax.set_title(f"{tissue}: donors coloured by group")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=7,
                  ncol=1 if len(types) <= 18 else 2, title="cell type")
    handles = [Patch(color=group_colour(g), label=g) for g in group_order(counts["disease"])]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, 0.0), title="group (label colour)")
    return finish(fig, title, synthetic, bottom_inches=0.6)


def signature_map(donor_scores: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """Per module (ligand, receptor, response): mean score of each axis per cell type over donors,
    centred per axis, so it shows which cell types make, sense and respond to each cytokine
    without any comparison (what a descriptive run of one sample can say)."""
    scores = donor_scores.astype({"axis": str, "cell_type": str, "module": str})
    donor_means = cell_weighted_means(scores, ["module", "axis", "cell_type", "donor_id"], "mean_score")
    means = donor_means.groupby(["module", "axis", "cell_type"], sort=True)["mean_score"].mean()
    modules = [m for m in ("ligand", "receptor", "response") if m in set(scores["module"])]
    if not modules:
        fig, ax = plt.subplots(figsize=(6, 3))
        empty_panel(ax, "no signature was scored")
        return finish(fig, title, synthetic)
    types = sorted(scores["cell_type"].unique())
    axes_ids = sorted(scores["axis"].unique())
    panel_width = max(2.6, 1.2 + 0.32 * len(types))
    fig, panels = plt.subplots(1, len(modules), squeeze=False, sharey=True,
                               figsize=(1.6 + panel_width * len(modules),
                                        max(4.5, 3.2 + 0.26 * len(axes_ids))))
    for ax, module in zip(panels[0], modules, strict=True):
        wide = means.loc[module].unstack("cell_type").reindex(index=axes_ids, columns=types)
        centred = wide.sub(wide.mean(axis=1), axis=0)
        limit = float(np.nanmax(np.abs(centred.to_numpy(dtype=float)), initial=0.0)) or 1.0
        ax.set_facecolor(NOT_TESTED_COLOUR)
        sns.heatmap(centred.astype(float), ax=ax, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit,
                    linewidths=0.4, linecolor="white", xticklabels=True, yticklabels=True,
                    cbar_kws={"label": "score minus the axis mean", "orientation": "horizontal",
                              "shrink": 0.8, "pad": 0.17 if len(types) > 4 else 0.12})
        ax.set_title(module)
        ax.set_xlabel("cell type")
        ax.set_ylabel("cytokine axis" if module == modules[0] else "")
        ax.tick_params(axis="y", rotation=0)
    return finish(fig, f"{title}\nmean over donors of each sample's mean score; centred per axis; "
                       "grey = not scored (too few genes)", synthetic)
