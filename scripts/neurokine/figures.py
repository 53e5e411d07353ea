"""Figures built from the results tables (never from cells directly)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from neurokine.style import EFFECT_CMAP, NOT_TESTED_COLOUR, mark_synthetic


def significance_mark(fdr: float, alpha: float) -> str:
    """Star label for a heatmap cell: *** < alpha/50, ** < alpha/5, * < alpha, else blank."""
    if not np.isfinite(fdr) or fdr >= alpha:
        return ""
    return "***" if fdr < alpha / 50 else "**" if fdr < alpha / 5 else "*"


def effect_matrix(results: pd.DataFrame, contrast: str, module: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pivot one contrast's effects (Hedges' g) and FDR to axis x cell type matrices."""
    subset = results[(results["contrast"] == contrast) & (results["module"] == module)]
    effect = subset.pivot_table(index="axis", columns="cell_type", values="hedges_g", aggfunc="first",
                                dropna=False)
    fdr = subset.pivot_table(index="axis", columns="cell_type", values="fdr", aggfunc="first",
                             dropna=False)
    axes = sorted(subset["axis"].unique())
    types = sorted(subset["cell_type"].unique())
    return effect.reindex(index=axes, columns=types), fdr.reindex(index=axes, columns=types)


def effect_heatmaps(results: pd.DataFrame, module: str, alpha: float, synthetic: bool,
                    title: str) -> plt.Figure:
    """One heatmap panel per contrast: Hedges' g of axis x cell type, stars for BH-FDR."""
    contrasts = sorted(results["contrast"].unique())
    panels = [effect_matrix(results, c, module) for c in contrasts]
    n_axes = max(len(p[0].index) for p in panels)
    n_types = max(len(p[0].columns) for p in panels)
    limit = np.nanmax([np.nanmax(np.abs(p[0].to_numpy(dtype=float)), initial=0.0) for p in panels])
    limit = float(limit) if np.isfinite(limit) and limit > 0 else 1.0
    n_cols = min(2, len(contrasts))
    n_rows = -(-len(contrasts) // n_cols)
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(1.5 + 0.45 * n_types * n_cols, 1.2 + (1.6 + 0.3 * n_axes) * n_rows))
    for ax in grid.ravel()[len(contrasts):]:
        ax.set_visible(False)
    for index, (ax, contrast, (effect, fdr)) in enumerate(
            zip(grid.ravel(), contrasts, panels, strict=False)):
        stars = np.vectorize(lambda q: significance_mark(q, alpha))(fdr.to_numpy(dtype=float))
        ax.set_facecolor(NOT_TESTED_COLOUR)
        sns.heatmap(effect.astype(float), ax=ax, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit,
                    annot=stars, fmt="", annot_kws={"fontsize": 7}, linewidths=0.4,
                    linecolor="white", xticklabels=True, yticklabels=True,
                    cbar_kws={"label": "Hedges' g (donor level)", "shrink": 0.8})
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(contrast.replace("_vs_", " vs "))
        ax.set_xlabel("cell type" if index // n_cols == n_rows - 1 else "")
        ax.set_ylabel("cytokine axis" if index % n_cols == 0 else "")
    fig.suptitle(f"{title}\n{module} module; * BH-FDR < {alpha}; grey = not tested", y=0.97)
    if synthetic:
        mark_synthetic(fig)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def qc_overview(qc_steps: pd.DataFrame, synthetic: bool, title: str) -> plt.Figure:
    """Cells kept after each QC step, summed over samples, with the per-sample spread."""
    ordered = qc_steps.sort_values(["order", "sample_id"])
    totals = ordered.groupby(["order", "step"], sort=True)["cells_kept"].sum().reset_index()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.bar(totals["step"], totals["cells_kept"], color="#4575b4")
    left.set_ylabel("cells kept (all samples)")
    left.tick_params(axis="x", rotation=45)
    final = ordered[ordered["order"] == ordered["order"].max()]
    first = ordered[ordered["order"] == 0].set_index("sample_id")["cells_kept"]
    kept = (final.set_index("sample_id")["cells_kept"] / first).sort_values()
    right.hist(kept.to_numpy(), bins=20, color="#91bfdb", edgecolor="white")
    right.set_xlabel("fraction of cells kept per sample")
    right.set_ylabel("samples")
    fig.suptitle(title, y=0.97)
    if synthetic:
        mark_synthetic(fig)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
