"""Ligand/receptor dot plots and sender -> receiver network figures."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch

from neurokine.plot.common import (
    donor_means,
    donor_strips,
    empty_panel,
    finish,
    rank_findings,
    significance_mark,
    stack_panels,
    stat_line,
)
from neurokine.plot.style import (
    DOWN_ARROW,
    DOWN_COLOUR,
    EFFECT_CMAP,
    LEVEL_CMAP,
    NEUTRAL_COLOUR,
    NOT_TESTED_COLOUR,
    UP_ARROW,
    UP_COLOUR,
    mark_synthetic,
)
from neurokine.stats import network as nw


def interaction_donor_values(nodes: pd.DataFrame, findings: pd.DataFrame,
                             min_cells: int) -> pd.DataFrame:
    """Donor-level interaction scores behind each network finding (same definition as tested)."""
    rows = []
    for key, finding in enumerate(findings.itertuples(index=False)):
        arms = nodes[nodes["disease"].astype(str).isin([finding.case, finding.reference])
                     & (nodes["tissue"].astype(str) == str(finding.tissue))]
        pair = pd.DataFrame([{"tissue": str(finding.tissue), "axis": finding.axis,
                              "sender": str(finding.sender), "receiver": str(finding.receiver)}])
        scores = nw.interaction_scores(arms.astype({"cell_type": str, "tissue": str}), pair)
        scores = scores[scores["n_cells"] >= min_cells]
        rows.append(donor_means(scores, "interaction").assign(panel=key))
    return stack_panels(rows)


def top_interactions_figure(network: pd.DataFrame, nodes: pd.DataFrame, alpha: float, min_cells: int,
                            synthetic: bool, title: str, limit: int = 6) -> plt.Figure:
    """Donor-level interaction scores of the strongest sender -> receiver changes."""
    findings = rank_findings(network, alpha, limit)
    values = interaction_donor_values(nodes, findings, min_cells)
    panels = [{"title": f"{r.axis}: {r.sender} \u2192 {r.receiver}\n"
                        f"{r.contrast.replace('_vs_', ' vs ')} ({r.tissue})",
               "subtitle": stat_line(r, alpha), "case": r.case, "reference": r.reference}
              for r in findings.itertuples(index=False)]
    return donor_strips(values, panels, "donor interaction score", synthetic, title,
                        "no interaction could be tested")


def dot_plots(nodes: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """Ligand (sender) and receptor (receiver) expression per axis x cell type, all donors."""
    nodes = nodes.astype({"cell_type": str, "axis": str})
    types = sorted(nodes["cell_type"].unique())
    axes_ids = sorted(nodes["axis"].unique())
    donor_means = nodes.groupby(["axis", "cell_type"], sort=True)[
        ["ligand_mean", "ligand_fraction", "receptor_mean", "receptor_fraction"]].mean()
    size = (2.5 + 0.36 * len(types) * 2, max(4.0, 2.4 + 0.24 * len(axes_ids)))
    fig, panels = plt.subplots(1, 2, figsize=size, sharey=True)
    ys = {a: i for i, a in enumerate(axes_ids)}
    xs = {c: i for i, c in enumerate(types)}
    for ax, side, label in ((panels[0], "ligand", "ligand (sender)"),
                            (panels[1], "receptor", "receptor complex (receiver)")):
        frame = donor_means[[f"{side}_mean", f"{side}_fraction"]].dropna().reset_index()
        vmax = float(frame[f"{side}_mean"].max()) if len(frame) else 1.0
        points = ax.scatter([xs[c] for c in frame["cell_type"]], [ys[a] for a in frame["axis"]],
                            s=(frame[f"{side}_fraction"].clip(0, 1) * 90 + 2).to_numpy(),
                            c=frame[f"{side}_mean"].to_numpy(), cmap=LEVEL_CMAP, vmin=0,
                            vmax=vmax if vmax > 0 else 1.0, edgecolor="#333333", linewidth=0.3)
        ax.set_xticks(range(len(types)), types, rotation=90)
        ax.set_yticks(range(len(axes_ids)), axes_ids)
        ax.set_xlim(-0.7, len(types) - 0.3)
        ax.set_ylim(len(axes_ids) - 0.5, -0.5)
        ax.set_title(label)
        ax.grid(color="#eeeeee", linewidth=0.5)
        ax.set_axisbelow(True)
        fig.colorbar(points, ax=ax, shrink=0.5, label="mean log-normalized expression")
    for fraction in (0.25, 0.5, 1.0):
        panels[1].scatter([], [], s=fraction * 90 + 2, color="#bbbbbb", edgecolor="#333333",
                          linewidth=0.3, label=f"{fraction:.0%}")
    panels[1].legend(title="cells expressing", loc="upper left", bbox_to_anchor=(1.25, 1.0),
                     frameon=False, labelspacing=1.2)
    panels[0].set_ylabel("cytokine axis")
    return finish(fig, f"{title}\nmean over all donors; complexes: expression min over subunits, "
                        "size = cells with every subunit; max over alternatives", synthetic)


def _circle(labels: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Fixed circular layout: sorted labels clockwise from the top."""
    n = max(len(labels), 1)
    return {lab: (math.sin(2 * math.pi * i / n), math.cos(2 * math.pi * i / n))
            for i, lab in enumerate(labels)}


def _draw_nodes(ax: plt.Axes, layout: Mapping[str, tuple[float, float]],
                sizes: Mapping[str, float] | None = None) -> None:
    """Cell-type nodes with readable labels placed outside the circle."""
    for label, (x, y) in layout.items():
        size = 60 + 400 * (sizes or {}).get(label, 0.1)
        ax.scatter([x], [y], s=size, color="#f7f7f7", edgecolor="#333333", linewidth=0.8, zorder=3)
        ha = "left" if x > 0.15 else "right" if x < -0.15 else "center"
        va = "bottom" if y > 0.85 else "top" if y < -0.85 else "center"
        ax.text(1.13 * x, 1.13 * y, label, ha=ha, va=va, fontsize=7, zorder=4)
    ax.set_xlim(-1.9, 1.9)
    ax.set_ylim(-1.35, 1.35)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], width: float,
           colour: str, alpha: float = 0.8, style: str = "-") -> None:
    """A curved sender -> receiver arrow; autocrine pairs become a small loop on the node."""
    if start == end:
        x, y = start
        loop = FancyArrowPatch((x * 1.02, y * 1.02 + 0.03), (x * 1.02 + 0.03, y * 1.02),
                               connectionstyle="arc3,rad=-2.2", arrowstyle="-|>", mutation_scale=6,
                               linewidth=width, color=colour, alpha=alpha, linestyle=style, zorder=2)
        ax.add_patch(loop)
        return
    ax.add_patch(FancyArrowPatch(start, end, connectionstyle="arc3,rad=0.18", arrowstyle="-|>",
                                 mutation_scale=9, linewidth=width, color=colour, alpha=alpha,
                                 linestyle=style, shrinkA=9, shrinkB=9, zorder=2))


def top_changed_axes(tested: pd.DataFrame, alpha: float, limit: int) -> list[str]:
    """Axes of one contrast with a changed pair, most changed pairs first, then lowest FDR."""
    hits = tested[tested["fdr"] < alpha]
    if hits.empty:
        return []
    ranked = hits.groupby("axis").agg(n=("fdr", "size"), best=("fdr", "min")).reset_index()
    ranked = ranked.sort_values(["n", "best", "axis"], ascending=[False, True, True], kind="mergesort")
    return ranked["axis"].head(limit).tolist()


def pair_change_matrices(tested: pd.DataFrame, axis: str, receivers: list[str], alpha: float,
                         max_senders: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Receiver x sender Hedges' g and FDR of one axis's tested pairs (NaN: pair not tested); the
    senders with the most changed pairs first, at most `max_senders`."""
    mine = tested[tested["axis"] == axis]
    order = (mine.assign(hit=mine["fdr"] < alpha).groupby("sender")
             .agg(n=("hit", "sum"), best=("fdr", "min")).reset_index()
             .sort_values(["n", "best", "sender"], ascending=[False, True, True], kind="mergesort"))
    senders = order["sender"].head(max_senders).tolist()
    g = mine.pivot_table(index="receiver", columns="sender", values="hedges_g", aggfunc="first")
    fdr = mine.pivot_table(index="receiver", columns="sender", values="fdr", aggfunc="first")
    return g.reindex(index=receivers, columns=senders), fdr.reindex(index=receivers, columns=senders)


def unsupported_mask(tested: pd.DataFrame, axis: str, index: pd.Index, columns: pd.Index) -> np.ndarray:
    """True where a pair changed without its receiver's response moving with it (receiver x sender)."""
    if "supported" not in tested.columns:
        return np.zeros((len(index), len(columns)), dtype=bool)
    mine = tested[tested["axis"] == axis].assign(unsupported=lambda f: f["supported"].astype(str) != "yes")
    wide = mine.pivot_table(index="receiver", columns="sender", values="unsupported", aggfunc="first")
    return wide.reindex(index=index, columns=columns).fillna(False).to_numpy(dtype=bool)


def network_figure(network: pd.DataFrame, alpha: float, synthetic: bool, title: str,
                   axes_per_contrast: int = 4) -> plt.Figure:
    """Per contrast, the changed sender -> receiver pairs of its top axes: one receiver x sender
    heatmap of Hedges' g per axis (stars: BH-FDR; grey: pair not tested), receivers limited to
    those with a changed pair, laid out in inches so the figure stays readable on an A4 page."""
    tested = network[network["status"] == "tested"].astype({"sender": str, "receiver": str,
                                                             "tissue": str})
    groups = tested[["contrast", "tissue"]].drop_duplicates().sort_values(
        ["contrast", "tissue"], kind="mergesort").itertuples(index=False, name=None)
    rows = []
    for contrast, tissue in groups:
        mine = tested[(tested["contrast"] == contrast) & (tested["tissue"] == tissue)]
        axes = top_changed_axes(mine, alpha, axes_per_contrast)
        hits = mine[(mine["fdr"] < alpha) & mine["axis"].isin(axes)]
        receivers = sorted(hits["receiver"].unique())
        panels = [(a, g, fdr, unsupported_mask(mine, a, g.index, g.columns))
                  for a, (g, fdr) in ((a, pair_change_matrices(mine, a, receivers, alpha)) for a in axes)]
        label = (f"{contrast.replace('_vs_', ' vs ')} ({tissue}): {int((mine['fdr'] < alpha).sum())} "
                 f"of {len(mine)} pairs changed" + ("" if panels else f", none at BH-FDR < {alpha}"))
        rows.append((label, receivers, panels))
    if not rows:
        fig, ax = plt.subplots(figsize=(6, 3))
        empty_panel(ax, "no interaction could be tested")
        return finish(fig, title, synthetic)
    changed = tested[tested["fdr"] < alpha]
    limit = float(changed["hedges_g"].abs().max()) if len(changed) else 1.0
    # Layout in inches: heading, panel titles, receiver rows, rotated sender labels, per contrast.
    cell, gap, left, labels_below, header = 0.19, 0.3, 1.35, 0.95, 0.95
    sizes = [0.3 + (0.25 + cell * len(receivers) + labels_below if panels else 0.1)
             for _, receivers, panels in rows]
    width, height = 8.27, header + sum(sizes) + 0.75
    fig = plt.figure(figsize=(width, height))
    cmap = plt.get_cmap(EFFECT_CMAP).with_extremes(bad=NOT_TESTED_COLOUR)
    image, top = None, height - header
    for (label, receivers, panels), size in zip(rows, sizes, strict=True):
        fig.text(0.02, (top - 0.2) / height, label, fontsize=8.5, fontweight="bold", va="center")
        x = left
        bottom = top - 0.3 - 0.25 - cell * len(receivers)
        for j, (axis, g, fdr, unsupported) in enumerate(panels):
            panel_width = cell * 1.45 * max(1, g.shape[1])
            ax = fig.add_axes((x / width, bottom / height, panel_width / width,
                               cell * len(receivers) / height))
            image = ax.imshow(g.to_numpy(dtype=float), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto",
                              interpolation="nearest")
            for (r, c), q in np.ndenumerate(fdr.to_numpy(dtype=float)):
                mark = significance_mark(q, alpha)
                if mark and unsupported[r, c]:
                    # Changed, but the receiver's response did not move with it: an open ring, so
                    # a fan-out from one changed ligand does not read as so many signals.
                    ax.scatter([c], [r], s=16, facecolors="none", edgecolors="#222222", linewidths=0.7)
                elif mark:
                    ax.text(c, r, mark, ha="center", va="center", fontsize=6)
            ax.set_xticks(range(g.shape[1]), list(g.columns), rotation=90, fontsize=6.5)
            ax.set_yticks(range(len(receivers)), receivers if j == 0 else [], fontsize=6.5)
            ax.set_title(f"{axis} ({int((fdr.to_numpy(dtype=float) < alpha).sum())})", fontsize=8,
                         pad=3)
            ax.tick_params(length=0)
            x += panel_width + gap
        top -= size
    if image is not None:
        bar = fig.add_axes((0.3, 0.3 / height, 0.4, 0.1 / height))
        fig.colorbar(image, cax=bar, orientation="horizontal",
                     label="Hedges' g of the interaction score, case vs reference")
    stamp = 0.28 if synthetic else 0.05
    fig.suptitle(f"{title}\ncolumns: senders; rows: receivers with a changed pair; "
                 f"* BH-FDR < {alpha} with the receiver's response moving with it; "
                 f"\u25cb changed without that support; grey: pair not tested", y=1 - stamp / height,
                 va="top")
    if synthetic:
        mark_synthetic(fig)
    return fig


def differential_network_figure(network: pd.DataFrame, alpha: float, top_edges: int, synthetic: bool,
                                title: str) -> plt.Figure:
    """Per contrast: sender -> receiver interactions that changed (BH-FDR < alpha), labelled by axis."""
    tested = network[network["status"] == "tested"].astype({"sender": str, "receiver": str})
    panels = tested[["contrast", "tissue"]].drop_duplicates().sort_values(
        ["contrast", "tissue"], kind="mergesort")
    if panels.empty:
        fig, ax = plt.subplots(figsize=(6, 3))
        empty_panel(ax, "no interaction could be tested")
        return finish(fig, title, synthetic)
    types = sorted(set(tested["sender"]) | set(tested["receiver"]))
    layout = _circle(types)
    hits_all = tested[tested["fdr"] < alpha]
    gmax = float(hits_all["hedges_g"].abs().max()) if len(hits_all) else 1.0
    n_cols = min(2, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False, figsize=(5.2 * n_cols, 0.9 + 5.0 * n_rows))
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, (contrast, tissue) in zip(grid.ravel(), panels.itertuples(index=False), strict=False):
        mine = tested[(tested["contrast"] == contrast) & (tested["tissue"] == tissue)]
        hits = mine[mine["fdr"] < alpha].sort_values(["fdr", "sender", "receiver", "axis"], kind="mergesort")
        pairs = hits.groupby(["sender", "receiver"], sort=False)
        shown = 0
        for (sender, receiver), group in pairs:
            if shown >= top_edges:
                break
            shown += 1
            best = group.iloc[0]
            colour = UP_COLOUR if best["effect"] > 0 else DOWN_COLOUR
            supported = "supported" not in group or (group["supported"].astype(str) == "yes").any()
            _arrow(ax, layout[sender], layout[receiver], 0.8 + 3.2 * abs(best["hedges_g"]) / gmax, colour,
                   alpha=0.8 if supported else 0.35, style="-" if supported else "--")
            (x0, y0), (x1, y1) = layout[sender], layout[receiver]
            tags = ", ".join(f"{a}{UP_ARROW if e > 0 else DOWN_ARROW}"
                             for a, e in zip(group["axis"], group["effect"], strict=True))
            mx, my = (x0 + x1) / 2 * (0.8 if sender != receiver else 1.25), (y0 + y1) / 2 * (
                0.8 if sender != receiver else 1.25)
            ax.text(mx, my, tags, fontsize=6, ha="center", va="center", color=colour, zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                          "alpha": 0.8})
        _draw_nodes(ax, layout)
        n_pairs = hits.groupby(["sender", "receiver"]).ngroups
        label = (f"{contrast.replace('_vs_', ' vs ')} ({tissue}): {len(hits)} of {len(mine)} "
                 f"interactions changed" + (f"; top {shown} of {n_pairs} pairs" if n_pairs > shown else ""))
        ax.set_title(label, fontsize=9)
        if hits.empty:
            ax.text(0, 0, f"no change at BH-FDR < {alpha}", ha="center", va="center", fontsize=8,
                    color=NEUTRAL_COLOUR)
    handles = [Patch(color=UP_COLOUR, label="up in disease"), Patch(color=DOWN_COLOUR, label="down"),
               Line2D([], [], color=NEUTRAL_COLOUR, linestyle="--",
                      label="no receiver response behind it")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False)
    return finish(fig, f"{title}\nedges: interactions with BH-FDR < {alpha} (width: |Hedges' g|; "
                        "labels: axes)", synthetic)
