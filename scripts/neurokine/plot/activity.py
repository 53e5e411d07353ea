"""The joint-activity heatmap: per contrast, which axis's response program moved in which cell type."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from neurokine.plot.common import empty_panel, finish, significance_mark
from neurokine.plot.style import EFFECT_CMAP, NOT_TESTED_COLOUR


def activity_heatmap(table: pd.DataFrame, alpha: float, synthetic: bool, title: str) -> plt.Figure:
    """One panel per contrast x level x tissue: activity change of axis x cell type, stars for BH-FDR."""
    tested = table[table["status"] == "tested"].astype({"axis": str, "cell_type": str})
    keys = ["contrast", "level", "tissue"]
    panels = list(tested.groupby(keys, sort=True)) if len(tested) else []
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 3))
        empty_panel(ax, "no activity could be tested (see activity_tests.tsv for why)")
        return finish(fig, title, synthetic)
    axes_ids = sorted(tested["axis"].unique())
    limit = float(np.nanmax(np.abs(tested["activity"].to_numpy(dtype=float)), initial=0.0)) or 1.0
    n_types = tested.groupby(keys)["cell_type"].nunique().max()
    n_cols = min(2, len(panels))
    n_rows = -(-len(panels) // n_cols)
    height = 1.6 + (2.2 + 0.27 * len(axes_ids)) * n_rows
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(2.4 + 0.45 * n_types * n_cols, height))
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    resource = ", ".join(sorted(tested["resource"].astype(str).unique()))
    for index, (ax, ((contrast, level, tissue), rows)) in enumerate(zip(grid.ravel(), panels, strict=False)):
        values = rows.pivot_table(index="axis", columns="cell_type", values="activity", aggfunc="first")
        fdr = rows.pivot_table(index="axis", columns="cell_type", values="fdr", aggfunc="first")
        values = values.reindex(index=axes_ids)
        fdr = fdr.reindex(index=axes_ids, columns=values.columns)
        stars = np.vectorize(lambda q: significance_mark(q, alpha))(fdr.to_numpy(dtype=float))
        ax.set_facecolor(NOT_TESTED_COLOUR)
        sns.heatmap(values.astype(float), ax=ax, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit, annot=stars,
                    fmt="", annot_kws={"fontsize": 7}, linewidths=0.4, linecolor="white",
                    xticklabels=True, yticklabels=True,
                    cbar_kws={"label": "activity change (log2 CPM per unit weight)", "shrink": 0.8})
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"{contrast.replace('_vs_', ' vs ')} ({tissue}, {level})")
        ax.set_xlabel("cell type" if index // n_cols == n_rows - 1 else "")
        ax.set_ylabel("cytokine axis" if index % n_cols == 0 else "")
    return finish(fig, f"{title}\nall programs fitted jointly ({resource}); * BH-FDR < {alpha}, "
                       f"** < {alpha / 5:g}, *** < {alpha / 50:g}; grey = not tested", synthetic)
