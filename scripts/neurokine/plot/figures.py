"""Figures built from the results tables (never from cells directly).

Every function returns a matplotlib Figure and draws only from tidy tables, so a figure can be
rebuilt from the TSVs a user downloads. Labels from data (cell types, diseases, donors) are
drawn as plain text: `style.apply_style` switches mathtext off, so no label is interpreted.
Nothing here draws random numbers: point jitter is a fixed function of rank, layouts are circles
in sorted order, so reruns are byte-identical.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from neurokine.plot.style import (
    DOWN_COLOUR,
    EFFECT_CMAP,
    GROUP_COLOURS,
    LEVEL_CMAP,
    NEUTRAL_COLOUR,
    NOT_TESTED_COLOUR,
    OUTCOME_COLOURS,
    UP_COLOUR,
    group_colour,
    mark_synthetic,
)
from neurokine.stats import network as nw

#: File stem of each per-dataset figure, in the order the report shows them.
DATASET_FIGURES = ("overview", "composition", "effect_heatmap", "top_findings", "dot_plot",
                   "network", "differential_network", "top_interactions")
UP_ARROW, DOWN_ARROW, RIGHT_ARROW = "\u2191", "\u2193", "\u2192"
#: File stem of each cross-dataset figure.
CROSS_DATASET_FIGURES = ("forest_plot", "therapy_panel")


@dataclasses.dataclass
class DatasetTables:
    """The tables one dataset's figures are drawn from (all read from results/)."""

    tests: pd.DataFrame          # compare/<ds>/signature_tests.tsv
    qc_steps: pd.DataFrame       # prepared/<ds>/qc_steps.tsv
    cell_counts: pd.DataFrame    # aggregate/<ds>/cell_counts.tsv
    donor_scores: pd.DataFrame   # aggregate/<ds>/donor_scores.tsv
    nodes: pd.DataFrame          # network/<ds>/node_scores.tsv
    network: pd.DataFrame        # network/<ds>/interaction_tests.tsv


def significance_mark(fdr: float, alpha: float) -> str:
    """Star label for a heatmap cell: *** < alpha/50, ** < alpha/5, * < alpha, else blank."""
    if not np.isfinite(fdr) or fdr >= alpha:
        return ""
    return "***" if fdr < alpha / 50 else "**" if fdr < alpha / 5 else "*"


def _finish(fig: plt.Figure, title: str, synthetic: bool, top: float | None = None,
            bottom_inches: float = 0.0) -> plt.Figure:
    """Common title, synthetic stamp and layout: the header takes a fixed height in inches."""
    height = fig.get_figheight()
    stamp = 0.28 if synthetic else 0.05
    fig.suptitle(title, y=1 - stamp / height, va="top")
    if synthetic:
        mark_synthetic(fig)
    # tight_layout keeps the axes clear of the suptitle itself; the rect only reserves the stamp.
    fig.tight_layout(rect=(0, bottom_inches / height, 1, 1 - 0.5 * stamp / height))
    return fig


def _empty(ax: plt.Axes, message: str) -> None:
    """A panel that states why there is nothing to draw, instead of a blank box."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, color=NEUTRAL_COLOUR, wrap=True)


def _jitter(values: np.ndarray, width: float = 0.28) -> np.ndarray:
    """Deterministic horizontal offsets for a strip of points (a function of rank, not random)."""
    n = len(values)
    if n <= 1:
        return np.zeros(n)
    ranks = np.argsort(np.argsort(values, kind="mergesort"), kind="mergesort")
    return (ranks / (n - 1) - 0.5) * width


def rank_findings(frame: pd.DataFrame, alpha: float, limit: int) -> pd.DataFrame:
    """Tested rows, significant first, then by FDR, p and effect size (stable order)."""
    tested = frame[frame["status"] == "tested"].copy()
    if tested.empty:
        return tested
    tested["significant"] = tested["fdr"] < alpha
    tested["abs_g"] = tested["hedges_g"].abs()
    keys = [c for c in ("contrast", "tissue", "cell_type", "sender", "receiver", "signature", "axis")
            if c in tested.columns]
    tested = tested.sort_values(["significant", "fdr", "p_value", "abs_g", *keys],
                                ascending=[False, True, True, False, *[True] * len(keys)],
                                kind="mergesort")
    return tested.head(limit).drop(columns=["significant", "abs_g"])


# --------------------------------------------------------------------------------------------
# Dataset overview and composition
# --------------------------------------------------------------------------------------------


def group_order(groups: Sequence[str]) -> list[str]:
    """Disease groups with the usual reference first, then the review's diseases, then others."""
    known = list(GROUP_COLOURS)
    return sorted(set(map(str, groups)), key=lambda g: (known.index(g) if g in known else len(known), g))


def _samples(cell_counts: pd.DataFrame) -> pd.DataFrame:
    """One row per sample with donor, disease, tissue and its total cell count."""
    columns = ["sample_id", "donor_id", "disease", "tissue", "n_cells_sample"]
    samples = (cell_counts[columns].astype({"sample_id": str, "donor_id": str, "disease": str, "tissue": str})
               .drop_duplicates("sample_id"))
    rank = {g: i for i, g in enumerate(group_order(samples["disease"]))}
    return (samples.assign(_rank=samples["disease"].map(rank))
            .sort_values(["_rank", "tissue", "donor_id", "sample_id"], kind="mergesort")
            .drop(columns="_rank").reset_index(drop=True))


def dataset_overview(cell_counts: pd.DataFrame, qc_steps: pd.DataFrame, synthetic: bool,
                     title: str) -> plt.Figure:
    """Donors and cells per disease group and tissue, and cells kept after each QC step."""
    samples = _samples(cell_counts)
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
            middle.scatter(x + _jitter(values, width * 0.6), values, s=12, zorder=3,
                           color=group_colour(group), edgecolor="white", linewidth=0.4)
    middle.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    middle.set_xlim(-0.6, len(groups) - 0.4)
    middle.set_ylabel("cells per sample (after QC)")
    middle.set_title("cells per donor sample" + (f" ({', '.join(tissues)})" if len(tissues) > 1 else ""))

    if qc_steps is None or qc_steps.empty:
        _empty(right, "no QC table")
    else:
        totals = qc_steps.groupby(["order", "step"], sort=True)["cells_kept"].sum().reset_index()
        bars = right.bar(totals["step"].astype(str), totals["cells_kept"], color="#4575b4")
        right.bar_label(bars, fontsize=7)
        right.tick_params(axis="x", rotation=30)
        for label in right.get_xticklabels():
            label.set_horizontalalignment("right")
        right.set_ylabel("cells kept (all samples)")
        right.set_title("cells kept after each QC step")
    return _finish(fig, title, synthetic)


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
        order = _samples(sub)
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
    return _finish(fig, title, synthetic, bottom_inches=0.6)


# --------------------------------------------------------------------------------------------
# Effect heatmaps
# --------------------------------------------------------------------------------------------


def effect_matrix(results: pd.DataFrame, contrast: str, module: str,
                  tissue: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pivot one contrast's effects (Hedges' g) and FDR to axis x cell type matrices."""
    subset = results[(results["contrast"] == contrast) & (results["module"] == module)]
    if tissue is not None:
        subset = subset[subset["tissue"] == tissue]
    subset = subset.astype({"axis": str, "cell_type": str})
    effect = subset.pivot_table(index="axis", columns="cell_type", values="hedges_g", aggfunc="first",
                                dropna=False)
    fdr = subset.pivot_table(index="axis", columns="cell_type", values="fdr", aggfunc="first",
                             dropna=False)
    axes = sorted(subset["axis"].unique())
    types = sorted(subset["cell_type"].unique())
    return effect.reindex(index=axes, columns=types), fdr.reindex(index=axes, columns=types)


def donor_count_labels(results: pd.DataFrame, contrast: str, module: str,
                       tissue: str | None = None) -> dict[str, str]:
    """Cell type -> 'cell type (case/reference donors)' for one contrast's heatmap columns."""
    subset = results[(results["contrast"] == contrast) & (results["module"] == module)]
    if tissue is not None:
        subset = subset[subset["tissue"] == tissue]
    counts = subset.groupby(subset["cell_type"].astype(str))[["n_donors_case", "n_donors_reference"]].max()
    return {ct: f"{ct} ({_count(row.n_donors_case)}/{_count(row.n_donors_reference)})"
            for ct, row in counts.iterrows()}


def _count(value: float) -> str:
    """A donor count for a label ('0' when missing)."""
    return str(int(value)) if np.isfinite(value) else "0"


def effect_heatmaps(results: pd.DataFrame, module: str, alpha: float, synthetic: bool,
                    title: str) -> plt.Figure:
    """One heatmap per contrast x tissue: Hedges' g of axis x cell type, stars for BH-FDR.

    Column labels carry the donors per arm (case/reference) that entered each cell type's tests.
    """
    panels = []
    for contrast in sorted(results["contrast"].unique()):
        for tissue in sorted(results.loc[results["contrast"] == contrast, "tissue"].astype(str).unique()):
            effect, fdr = effect_matrix(results, contrast, module, tissue)
            if effect.size:
                panels.append((contrast, tissue, effect, fdr,
                               donor_count_labels(results, contrast, module, tissue)))
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 3))
        _empty(ax, f"no {module}-module results")
        return _finish(fig, title, synthetic)
    n_axes = max(len(p[2].index) for p in panels)
    n_types = max(len(p[2].columns) for p in panels)
    limit = np.nanmax([np.nanmax(np.abs(p[2].to_numpy(dtype=float)), initial=0.0) for p in panels])
    limit = float(limit) if np.isfinite(limit) and limit > 0 else 1.0
    n_cols = min(2, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(2.2 + 0.42 * n_types * n_cols, 1.6 + (2.4 + 0.27 * n_axes) * n_rows))
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    for index, (ax, (contrast, tissue, effect, fdr, labels)) in enumerate(
            zip(grid.ravel(), panels, strict=False)):
        stars = np.vectorize(lambda q: significance_mark(q, alpha))(fdr.to_numpy(dtype=float))
        ax.set_facecolor(NOT_TESTED_COLOUR)
        sns.heatmap(effect.astype(float), ax=ax, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit,
                    annot=stars, fmt="", annot_kws={"fontsize": 7}, linewidths=0.4,
                    linecolor="white", xticklabels=[labels.get(c, c) for c in effect.columns],
                    yticklabels=True, cbar_kws={"label": "Hedges' g (donor level)", "shrink": 0.8})
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"{contrast.replace('_vs_', ' vs ')} ({tissue})")
        ax.set_xlabel("cell type (donors case/reference)" if index // n_cols == n_rows - 1 else "")
        ax.set_ylabel("cytokine axis" if index % n_cols == 0 else "")
    return _finish(fig, f"{title}\n{module} module; * BH-FDR < {alpha}, ** < {alpha / 5:g}, "
                        f"*** < {alpha / 50:g}; grey = not tested", synthetic)


# --------------------------------------------------------------------------------------------
# Donor-level strip/box plots of the top findings
# --------------------------------------------------------------------------------------------


def signature_donor_values(donor_scores: pd.DataFrame, findings: pd.DataFrame,
                           min_cells: int) -> pd.DataFrame:
    """Donor-level values behind each finding (cell-weighted over a donor's samples), as tested."""
    rows = []
    scores = donor_scores.astype({"cell_type": str, "tissue": str, "disease": str, "donor_id": str})
    for key, finding in enumerate(findings.itertuples(index=False)):
        sub = scores[(scores["signature"] == finding.signature)
                     & (scores["cell_type"] == str(finding.cell_type))
                     & (scores["tissue"] == str(finding.tissue)) & (scores["n_cells"] >= min_cells)
                     & scores["disease"].isin([finding.case, finding.reference])]
        rows.append(donor_means(sub, "mean_score").assign(panel=key))
    return _panels(rows)


def interaction_donor_values(nodes: pd.DataFrame, findings: pd.DataFrame,
                             min_cells: int) -> pd.DataFrame:
    """Donor-level interaction scores behind each network finding (same definition as tested)."""
    rows = []
    for key, finding in enumerate(findings.itertuples(index=False)):
        arms = nodes[nodes["disease"].astype(str).isin([finding.disease, finding.reference])
                     & (nodes["tissue"].astype(str) == str(finding.tissue))]
        pair = pd.DataFrame([{"tissue": str(finding.tissue), "axis": finding.axis,
                              "sender": str(finding.sender), "receiver": str(finding.receiver)}])
        scores = nw.interaction_scores(arms.astype({"cell_type": str, "tissue": str}), pair)
        scores = scores[scores["n_cells"] >= min_cells]
        rows.append(donor_means(scores, "interaction").assign(panel=key))
    return _panels(rows)


def donor_means(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Cell-weighted mean of `column` per donor and disease (columns donor_id, group, value)."""
    weighted = frame.assign(w=frame[column] * frame["n_cells"]).groupby(
        ["donor_id", "disease"], sort=True)[["w", "n_cells"]].sum()
    values = (weighted["w"] / weighted["n_cells"]).rename("value").reset_index()
    return values.rename(columns={"disease": "group"}).astype({"donor_id": object, "group": object})


def _panels(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-panel donor values into the long table the panel plots read."""
    columns = ["panel", "donor_id", "group", "value"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def donor_strips(values: pd.DataFrame, panels: Sequence[Mapping[str, str]], ylabel: str,
                 synthetic: bool, title: str, empty_message: str) -> plt.Figure:
    """Box plus one point per donor for each finding (panel): the evidence behind each test."""
    if not panels:
        fig, ax = plt.subplots(figsize=(7, 2.5))
        _empty(ax, empty_message)
        return _finish(fig, title, synthetic)
    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False, figsize=(3.6 * n_cols, 0.8 + 3.1 * n_rows))
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    for key, (ax, panel) in enumerate(zip(grid.ravel(), panels, strict=False)):
        sub = values[values["panel"] == key]
        groups = [panel["reference"], panel["case"]]
        for x, group in enumerate(groups):
            points = sub.loc[sub["group"] == group, "value"].to_numpy(dtype=float)
            if not len(points):
                continue
            ax.boxplot(points, positions=[x], widths=0.5, showfliers=False,
                       medianprops={"color": "black"}, boxprops={"color": NEUTRAL_COLOUR})
            ax.scatter(x + _jitter(points), points, s=18, zorder=3, color=group_colour(group),
                       edgecolor="white", linewidth=0.4)
        counts = [int((sub["group"] == g).sum()) for g in groups]
        ax.set_xticks([0, 1], [f"{g}\n(n={c} donors)" for g, c in zip(groups, counts, strict=True)])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(panel["title"], fontsize=8.5)
        ax.text(0.02, 0.98, panel["subtitle"], transform=ax.transAxes, va="top", fontsize=7,
                color=NEUTRAL_COLOUR)
        ax.set_ylabel(ylabel if key % n_cols == 0 else "")
    return _finish(fig, title, synthetic)


def _stat_line(row: object, alpha: float) -> str:
    """'g = 2.1, FDR = 0.003' (or 'n.s.') for a panel subtitle."""
    g, fdr = float(row.hedges_g), float(row.fdr)
    mark = f"FDR = {fdr:.2g}" if np.isfinite(fdr) else "FDR n/a"
    return f"g = {g:.2f}, {mark}" + ("" if np.isfinite(fdr) and fdr < alpha else " (n.s.)")


def top_findings_figure(tests: pd.DataFrame, donor_scores: pd.DataFrame, alpha: float, min_cells: int,
                        synthetic: bool, title: str, limit: int = 6) -> plt.Figure:
    """Donor-level values of the strongest compare-stage findings (case vs reference)."""
    findings = rank_findings(tests, alpha, limit)
    values = signature_donor_values(donor_scores, findings, min_cells)
    panels = [{"title": f"{r.signature} in {r.cell_type}\n{r.contrast.replace('_vs_', ' vs ')} ({r.tissue})",
               "subtitle": _stat_line(r, alpha), "case": r.case, "reference": r.reference}
              for r in findings.itertuples(index=False)]
    return donor_strips(values, panels, "donor mean score", synthetic, title,
                        "no test could be run (see not_tested reasons in the table)")


def top_interactions_figure(network: pd.DataFrame, nodes: pd.DataFrame, alpha: float, min_cells: int,
                            synthetic: bool, title: str, limit: int = 6) -> plt.Figure:
    """Donor-level interaction scores of the strongest sender -> receiver changes."""
    findings = rank_findings(network, alpha, limit)
    values = interaction_donor_values(nodes, findings, min_cells)
    panels = [{"title": f"{r.axis}: {r.sender} \u2192 {r.receiver}\n"
                        f"{r.contrast.replace('_vs_', ' vs ')} ({r.tissue})",
               "subtitle": _stat_line(r, alpha), "case": r.disease, "reference": r.reference}
              for r in findings.itertuples(index=False)]
    return donor_strips(values, panels, "donor interaction score", synthetic, title,
                        "no interaction could be tested")


# --------------------------------------------------------------------------------------------
# Ligand and receptor dot plots
# --------------------------------------------------------------------------------------------


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
    return _finish(fig, f"{title}\nmean over all donors; complexes: min over subunits, "
                        "max over alternatives", synthetic)


# --------------------------------------------------------------------------------------------
# Sender -> receiver networks
# --------------------------------------------------------------------------------------------


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
        _empty(ax, "no ligand/receptor pair passes the expression filter")
        return _finish(fig, title, synthetic)
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
    return _finish(fig, f"{title}\nedge width and colour: summed donor-mean interaction score over "
                        "axes; node size: mean cell fraction", synthetic)


def differential_network_figure(network: pd.DataFrame, alpha: float, top_edges: int, synthetic: bool,
                                title: str) -> plt.Figure:
    """Per contrast: sender -> receiver interactions that changed (BH-FDR < alpha), labelled by axis."""
    tested = network[network["status"] == "tested"].astype({"sender": str, "receiver": str})
    panels = tested[["contrast", "tissue"]].drop_duplicates().sort_values(
        ["contrast", "tissue"], kind="mergesort")
    if panels.empty:
        fig, ax = plt.subplots(figsize=(6, 3))
        _empty(ax, "no interaction could be tested")
        return _finish(fig, title, synthetic)
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
    return _finish(fig, f"{title}\nedges: interactions with BH-FDR < {alpha} (width: |Hedges' g|; "
                        "labels: axes)", synthetic)


# --------------------------------------------------------------------------------------------
# Cross-dataset figures: forest plot and therapy panel
# --------------------------------------------------------------------------------------------


def hedges_g_se(g: np.ndarray, n_case: np.ndarray, n_reference: np.ndarray) -> np.ndarray:
    """Large-sample standard error of Hedges' g (Hedges & Olkin 1985)."""
    n1, n0 = np.asarray(n_case, dtype=float), np.asarray(n_reference, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((n1 + n0) / (n1 * n0) + np.asarray(g, dtype=float) ** 2 / (2 * (n1 + n0)))


def forest_rows(tests: pd.DataFrame, meta: pd.DataFrame | None, alpha: float,
                limit: int = 12) -> pd.DataFrame:
    """Per-dataset Hedges' g with 95% CI for the top findings, plus the pooled estimate if any.

    With a meta-analysis table (results/compare/meta/) the findings are its strongest pooled
    results; without one they are the strongest per-dataset results, and no pooled row is made.
    """
    keys = ["contrast", "tissue", "signature", "cell_type"]
    tested = tests[tests["status"] == "tested"].copy()
    if "hedges_g_se" not in tested.columns or tested["hedges_g_se"].isna().all():
        tested["hedges_g_se"] = hedges_g_se(tested["hedges_g"], tested["n_donors_case"],
                                            tested["n_donors_reference"])
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
                         "estimate": float(r.hedges_g), "ci_low": float(r.hedges_g) - 1.96 * se,
                         "ci_high": float(r.hedges_g) + 1.96 * se, "fdr": float(r.fdr),
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
        _empty(ax, "no tested result to show")
        return _finish(fig, title, synthetic)
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
    return _finish(fig, f"{title}\n{note}", synthetic)


def therapy_panel(table: pd.DataFrame, alpha: float, synthetic: bool, title: str) -> plt.Figure:
    """Per axis: observed signal per disease beside the clinical outcome of targeting it.

    Left: Hedges' g of the strongest ligand/response change (stars: BH-FDR). Right: summary of
    curated trial outcomes; a heavy frame and '!' flag a paradox (see neurokine.therapy).
    """
    if table.empty:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        _empty(ax, "no curated therapy for any axis")
        return _finish(fig, title, synthetic)
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
    return _finish(fig, f"{title}\n* BH-FDR < {alpha}; paradox: outcome against the observed signal "
                        "or flipped between diseases", synthetic)


# --------------------------------------------------------------------------------------------
# Entry points used by the rule scripts (and the browser test)
# --------------------------------------------------------------------------------------------


def dataset_figures(tables: DatasetTables, *, dataset: str, synthetic: bool, alpha: float,
                    min_cells: int, min_ligand: float, min_receptor: float,
                    top_edges: int = 15) -> Iterator[tuple[str, plt.Figure]]:
    """Yield (file stem, figure) for every per-dataset figure, one at a time (memory stays flat)."""
    builders = {
        "overview": lambda: dataset_overview(tables.cell_counts, tables.qc_steps, synthetic,
                                             f"{dataset}: donors, cells and QC"),
        "composition": lambda: composition(tables.cell_counts, synthetic,
                                           f"{dataset}: cell-type composition per donor"),
        "effect_heatmap": lambda: effect_heatmaps(tables.tests, "response", alpha, synthetic,
                                                  f"{dataset}: response-module effects by disease"),
        "top_findings": lambda: top_findings_figure(
            tables.tests, tables.donor_scores, alpha, min_cells, synthetic,
            f"{dataset}: strongest findings, one point per donor"),
        "dot_plot": lambda: dot_plots(tables.nodes, synthetic, f"{dataset}: ligand and receptor expression"),
        "network": lambda: network_figure(tables.nodes, min_ligand, min_receptor, top_edges, synthetic,
                                          f"{dataset}: sender \u2192 receiver networks"),
        "differential_network": lambda: differential_network_figure(
            tables.network, alpha, top_edges, synthetic,
            f"{dataset}: changed sender \u2192 receiver interactions"),
        "top_interactions": lambda: top_interactions_figure(
            tables.network, tables.nodes, alpha, min_cells, synthetic,
            f"{dataset}: strongest interaction changes, one point per donor"),
    }
    for name in DATASET_FIGURES:
        yield name, builders[name]()
