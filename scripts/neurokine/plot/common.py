"""Shared pieces of the figures: layout, synthetic stamp, ranking and per-donor strip panels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurokine.plot.style import (
    GROUP_COLOURS,
    NEUTRAL_COLOUR,
    group_colour,
    mark_synthetic,
)
from neurokine.stats.compare import cell_weighted_means


def significance_mark(fdr: float, alpha: float) -> str:
    """Star label for a heatmap cell: *** < alpha/50, ** < alpha/5, * < alpha, else blank."""
    if not np.isfinite(fdr) or fdr >= alpha:
        return ""
    return "***" if fdr < alpha / 50 else "**" if fdr < alpha / 5 else "*"


def finish(fig: plt.Figure, title: str, synthetic: bool, top: float | None = None,
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


def empty_panel(ax: plt.Axes, message: str) -> None:
    """A panel that states why there is nothing to draw, instead of a blank box."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, color=NEUTRAL_COLOUR, wrap=True)


def jitter(values: np.ndarray, width: float = 0.28) -> np.ndarray:
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
    # Without a Hedges' g (df < 2) the raw effect still orders the findings.
    tested["abs_effect"] = tested["effect"].abs() if "effect" in tested.columns else np.nan
    keys = [c for c in ("contrast", "tissue", "cell_type", "sender", "receiver", "signature", "axis")
            if c in tested.columns]
    tested = tested.sort_values(["significant", "fdr", "p_value", "abs_g", "abs_effect", *keys],
                                ascending=[False, True, True, False, False, *[True] * len(keys)],
                                kind="mergesort")
    return tested.head(limit).drop(columns=["significant", "abs_g", "abs_effect"])


def group_order(groups: Sequence[str]) -> list[str]:
    """Disease groups with the usual reference first, then the review's diseases, then others."""
    known = list(GROUP_COLOURS)
    return sorted(set(map(str, groups)), key=lambda g: (known.index(g) if g in known else len(known), g))


def sample_table(cell_counts: pd.DataFrame) -> pd.DataFrame:
    """One row per sample with donor, disease, tissue and its total cell count."""
    columns = ["sample_id", "donor_id", "disease", "tissue", "n_cells_sample"]
    samples = (cell_counts[columns].astype({"sample_id": str, "donor_id": str, "disease": str, "tissue": str})
               .drop_duplicates("sample_id"))
    rank = {g: i for i, g in enumerate(group_order(samples["disease"]))}
    return (samples.assign(_rank=samples["disease"].map(rank))
            .sort_values(["_rank", "tissue", "donor_id", "sample_id"], kind="mergesort")
            .drop(columns="_rank").reset_index(drop=True))


def donor_means(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Cell-weighted mean of `column` per donor and disease (columns donor_id, group, value), as the
    tests computed it."""
    values = cell_weighted_means(frame, ["donor_id", "disease"], column)
    values = values.rename(columns={column: "value", "disease": "group"})[["donor_id", "group", "value"]]
    return values.astype({"donor_id": object, "group": object})


def stack_panels(frames: list[pd.DataFrame]) -> pd.DataFrame:
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
        empty_panel(ax, empty_message)
        return finish(fig, title, synthetic)
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
            ax.scatter(x + jitter(points), points, s=18, zorder=3, color=group_colour(group),
                       edgecolor="white", linewidth=0.4)
        _pair_lines(ax, sub, groups)
        counts = [int((sub["group"] == g).sum()) for g in groups]
        ax.set_xticks([0, 1], [f"{g}\n(n={c} donors)" for g, c in zip(groups, counts, strict=True)])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(panel["title"], fontsize=8.5)
        ax.text(0.02, 0.98, panel["subtitle"], transform=ax.transAxes, va="top", fontsize=7,
                color=NEUTRAL_COLOUR)
        ax.set_ylabel(ylabel if key % n_cols == 0 else "")
    return finish(fig, title, synthetic)


def _pair_lines(ax: plt.Axes, values: pd.DataFrame, groups: Sequence[str]) -> None:
    """A thin line joining each donor's two points (paired designs: a donor in both arms)."""
    where = {}
    for x, group in enumerate(groups):
        points = values[values["group"] == group]
        offsets = jitter(points["value"].to_numpy(dtype=float))
        where[group] = {d: (x + o, v) for d, o, v in zip(points["donor_id"], offsets,
                                                         points["value"], strict=True)}
    for donor in sorted(set(where[groups[0]]) & set(where[groups[1]])):
        (x0, y0), (x1, y1) = where[groups[0]][donor], where[groups[1]][donor]
        ax.plot([x0, x1], [y0, y1], color=NEUTRAL_COLOUR, linewidth=0.7, alpha=0.7, zorder=2)


def stat_line(row: object, alpha: float) -> str:
    """'g = 2.1, FDR = 0.003' (or 'n.s.') for a panel subtitle; without a g (df < 2) the raw
    effect, labelled as such."""
    g, fdr = float(row.hedges_g), float(row.fdr)
    mark = f"FDR = {fdr:.2g}" if np.isfinite(fdr) else "FDR n/a"
    effect = float(getattr(row, "effect", np.nan))
    size = (f"g = {g:.2f}" if np.isfinite(g) or not np.isfinite(effect)
            else f"raw effect = {effect:.2f} (no g: df < 2)")
    return f"{size}, {mark}" + ("" if np.isfinite(fdr) and fdr < alpha else " (n.s.)")
