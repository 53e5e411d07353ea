"""Effect heatmaps and the per-donor values behind the strongest signature findings."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

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
    EFFECT_CMAP,
    NOT_TESTED_COLOUR,
)

#: Colour-bar labels of the two effect measures a heatmap panel can show.
MEASURE_LABELS = {"hedges_g": "Hedges' g (donor level)",
                  "effect": "raw effect: score difference (no g below 2 df)"}


def effect_matrix(results: pd.DataFrame, contrast: str, module: str,
                  tissue: str | None = None, value: str = "hedges_g"
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pivot one contrast's effects (Hedges' g, or the raw `effect`) and FDR to axis x cell type
    matrices."""
    subset = results[(results["contrast"] == contrast) & (results["module"] == module)]
    if tissue is not None:
        subset = subset[subset["tissue"] == tissue]
    subset = subset.astype({"axis": str, "cell_type": str})
    effect = subset.pivot_table(index="axis", columns="cell_type", values=value, aggfunc="first",
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


def panel_measure(results: pd.DataFrame, contrast: str, module: str, tissue: str) -> str:
    """Hedges' g, unless no tested cell of the panel has one (df < 2, e.g. two paired donors):
    then the raw effect, so a small pilot's heatmap shows what happened instead of a blank."""
    if "effect" not in results.columns:
        return "hedges_g"
    g, _ = effect_matrix(results, contrast, module, tissue)
    raw, _ = effect_matrix(results, contrast, module, tissue, "effect")
    if np.isfinite(g.to_numpy(dtype=float)).any() or not np.isfinite(raw.to_numpy(dtype=float)).any():
        return "hedges_g"
    return "effect"


def effect_heatmaps(results: pd.DataFrame, module: str, alpha: float, synthetic: bool,
                    title: str) -> plt.Figure:
    """One heatmap per contrast x tissue: Hedges' g of axis x cell type, stars for BH-FDR.

    Column labels carry the donors per arm (case/reference) that entered each cell type's tests.
    A panel without any Hedges' g (fewer than 2 residual df) shows the raw effect instead, on its
    own colour scale, and says so in its title and colour bar.
    """
    panels = []
    for contrast in sorted(results["contrast"].unique()):
        for tissue in sorted(results.loc[results["contrast"] == contrast, "tissue"].astype(str).unique()):
            measure = panel_measure(results, contrast, module, tissue)
            effect, fdr = effect_matrix(results, contrast, module, tissue, measure)
            if effect.size:
                panels.append((contrast, tissue, effect, fdr,
                               donor_count_labels(results, contrast, module, tissue), measure))
    if not panels:
        fig, ax = plt.subplots(figsize=(6, 3))
        empty_panel(ax, f"no {module}-module results")
        return finish(fig, title, synthetic)
    n_axes = max(len(p[2].index) for p in panels)
    n_types = max(len(p[2].columns) for p in panels)
    limits = {}
    for measure in {p[5] for p in panels}:
        limit = np.nanmax([np.nanmax(np.abs(p[2].to_numpy(dtype=float)), initial=0.0)
                           for p in panels if p[5] == measure])
        limits[measure] = float(limit) if np.isfinite(limit) and limit > 0 else 1.0
    n_cols = min(2, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, grid = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(2.2 + 0.42 * n_types * n_cols, 1.6 + (2.4 + 0.27 * n_axes) * n_rows))
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    for index, (ax, (contrast, tissue, effect, fdr, labels, measure)) in enumerate(
            zip(grid.ravel(), panels, strict=False)):
        stars = np.vectorize(lambda q: significance_mark(q, alpha))(fdr.to_numpy(dtype=float))
        ax.set_facecolor(NOT_TESTED_COLOUR)
        limit = limits[measure]
        sns.heatmap(effect.astype(float), ax=ax, cmap=EFFECT_CMAP, vmin=-limit, vmax=limit,
                    annot=stars, fmt="", annot_kws={"fontsize": 7}, linewidths=0.4,
                    linecolor="white", xticklabels=[labels.get(c, c) for c in effect.columns],
                    yticklabels=True, cbar_kws={"label": MEASURE_LABELS[measure], "shrink": 0.8})
        ax.tick_params(axis="y", rotation=0)
        raw = "; raw effect, not g" if measure == "effect" else ""
        ax.set_title(f"{contrast.replace('_vs_', ' vs ')} ({tissue}){raw}")
        ax.set_xlabel("cell type (donors case/reference)" if index // n_cols == n_rows - 1 else "")
        ax.set_ylabel("cytokine axis" if index % n_cols == 0 else "")
    note = ("\npanels marked 'raw effect' show the score difference case - reference: with so few "
            "donors Hedges' g is undefined (df < 2); read them with caution"
            if any(p[5] == "effect" for p in panels) else "")
    return finish(fig, f"{title}\n{module} module; * BH-FDR < {alpha}, ** < {alpha / 5:g}, "
                        f"*** < {alpha / 50:g}; grey = not tested{note}", synthetic)


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
    return stack_panels(rows)


def top_findings_figure(tests: pd.DataFrame, donor_scores: pd.DataFrame, alpha: float, min_cells: int,
                        synthetic: bool, title: str, limit: int = 6) -> plt.Figure:
    """Donor-level values of the strongest compare-stage findings (case vs reference)."""
    findings = rank_findings(tests, alpha, limit)
    values = signature_donor_values(donor_scores, findings, min_cells)
    panels = [{"title": f"{r.signature} in {r.cell_type}\n{r.contrast.replace('_vs_', ' vs ')} ({r.tissue})",
               "subtitle": stat_line(r, alpha), "case": r.case, "reference": r.reference}
              for r in findings.itertuples(index=False)]
    return donor_strips(values, panels, "donor mean score", synthetic, title,
                        "no test could be run (see not_tested reasons in the table)")
