"""Ligand/receptor dot plots and sender -> receiver network figures."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import FancyArrowPatch, Patch

from neurokine.plot.common import (
    donor_means,
    donor_strips,
    empty_panel,
    finish,
    group_order,
    rank_findings,
    stack_panels,
    stat_line,
)
from neurokine.plot.style import (
    DOWN_ARROW,
    DOWN_COLOUR,
    LEVEL_CMAP,
    NEUTRAL_COLOUR,
    UP_ARROW,
    UP_COLOUR,
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
    return finish(fig, f"{title}\nmean over all donors; complexes: min over subunits, "
                        "max over alternatives", synthetic)


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
           colour: str, alpha: float = 0.8) -> None:
    """A curved sender -> receiver arrow; autocrine pairs become a small loop on the node."""
    if start == end:
        x, y = start
        loop = FancyArrowPatch((x * 1.02, y * 1.02 + 0.03), (x * 1.02 + 0.03, y * 1.02),
                               connectionstyle="arc3,rad=-2.2", arrowstyle="-|>", mutation_scale=6,
                               linewidth=width, color=colour, alpha=alpha, zorder=2)
        ax.add_patch(loop)
        return
    ax.add_patch(FancyArrowPatch(start, end, connectionstyle="arc3,rad=0.18", arrowstyle="-|>",
                                 mutation_scale=9, linewidth=width, color=colour, alpha=alpha,
                                 shrinkA=9, shrinkB=9, zorder=2))


def network_strength(nodes: pd.DataFrame, min_ligand: float, min_receptor: float) -> pd.DataFrame:
    """Per tissue x group x sender x receiver: summed donor-mean interaction over candidate axes."""
    nodes = nodes.astype({"cell_type": str, "tissue": str, "disease": str})
    pairs = nw.candidate_pairs(nodes, min_ligand, min_receptor)
    if pairs.empty:
        return pd.DataFrame(columns=["tissue", "disease", "sender", "receiver", "strength", "n_axes"])
    scores = nw.interaction_scores(nodes, pairs)
    per_axis = scores.groupby(["tissue", "disease", "sender", "receiver", "axis"], sort=True)[
        "interaction"].mean().reset_index()
    return per_axis.groupby(["tissue", "disease", "sender", "receiver"], sort=True).agg(
        strength=("interaction", "sum"), n_axes=("axis", "nunique")).reset_index()


def network_figure(nodes: pd.DataFrame, min_ligand: float, min_receptor: float, top_edges: int,
                   synthetic: bool, title: str) -> plt.Figure:
    """Sender -> receiver network per group: the strongest summed interactions of all axes."""
    strength = network_strength(nodes, min_ligand, min_receptor)
    rank = {g: i for i, g in enumerate(group_order(strength["disease"]))}
    panels = [(t, d) for t, d in sorted(
        strength[["tissue", "disease"]].drop_duplicates().itertuples(index=False, name=None),
        key=lambda td: (td[0], rank[td[1]]))]
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 3))
        empty_panel(ax, "no ligand/receptor pair passes the expression filter")
        return finish(fig, title, synthetic)
    types = sorted(nodes["cell_type"].astype(str).unique())
    layout = _circle(types)
    share = nodes.drop_duplicates(["sample_id", "cell_type"]).assign(
        cell_type=lambda f: f["cell_type"].astype(str))
    share["fraction"] = share["n_cells"] / share.groupby("sample_id")["n_cells"].transform("sum")
    vmax = float(strength["strength"].max()) or 1.0
    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False, figsize=(4.4 * n_cols, 0.9 + 4.3 * n_rows))
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    cmap = plt.get_cmap(LEVEL_CMAP)
    for ax, (tissue, disease) in zip(grid.ravel(), panels, strict=False):
        edges = strength[(strength["tissue"] == tissue) & (strength["disease"] == disease)].sort_values(
            ["strength", "sender", "receiver"], ascending=[False, True, True],
            kind="mergesort").head(top_edges)
        for edge in edges.itertuples(index=False):
            level = edge.strength / vmax
            _arrow(ax, layout[edge.sender], layout[edge.receiver], 0.5 + 3.5 * level,
                   cmap(0.15 + 0.8 * level))
        sizes = share[(share["disease"].astype(str) == disease) & (share["tissue"].astype(str) == tissue)
                      ].groupby("cell_type")["fraction"].mean().to_dict()
        _draw_nodes(ax, layout, sizes)
        n_pairs = int(((strength["tissue"] == tissue) & (strength["disease"] == disease)).sum())
        ax.set_title(f"{disease} ({tissue}): top {len(edges)} of {n_pairs} pairs", fontsize=9)
    return finish(fig, f"{title}\nedge width and colour: summed donor-mean interaction score over "
                        "axes; node size: mean cell fraction", synthetic)


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
            _arrow(ax, layout[sender], layout[receiver], 0.8 + 3.2 * abs(best["hedges_g"]) / gmax, colour)
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
    handles = [Patch(color=UP_COLOUR, label="up in disease"), Patch(color=DOWN_COLOUR, label="down")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    return finish(fig, f"{title}\nedges: interactions with BH-FDR < {alpha} (width: |Hedges' g|; "
                        "labels: axes)", synthetic)
