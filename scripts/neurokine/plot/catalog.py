"""The catalogue of figures: file stem, caption and report category, declared once.

The rules (outputs and `snakemake --report` registration), the HTML report and the tests all read
the figure list from here. Import-light on purpose: the Snakefile reads it at parse time.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure: file stem, its caption in the HTML report and its `snakemake --report` category
    (the caption file of `snakemake --report` is workflow/report/<stem>.rst)."""

    stem: str
    caption: str
    category: str


#: Per-dataset figures, in the order the report shows them.
DATASET_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("verdicts", "Evidence verdicts for the top axes of each contrast: the ligand in its "
               "sender, the receptor, the response of the receiver and the share of donors following "
               "it, and the verdict they add up to.", "Verdicts"),
    FigureSpec("overview", "Donors and cells per group and tissue, and cells kept after each QC step.",
               "Overview"),
    FigureSpec("composition", "Cell-type composition per donor sample, donors grouped by disease.",
               "Overview"),
    FigureSpec("signature_map", "Ligand, receptor and response scores of every axis per cell type, "
               "averaged over donors (descriptive: no comparison).", "Overview"),
    FigureSpec("activity_heatmap", "Joint activity of every axis's response program per cell type and "
               "contrast (all programs fitted at once, so shared genes are not double-counted); stars "
               "mark BH-FDR.", "Comparisons"),
    FigureSpec("effect_heatmap", "Response-module effects (Hedges' g) per axis and cell type; stars "
               "mark BH-FDR; column labels give donors per arm.", "Comparisons"),
    FigureSpec("top_findings", "Strongest findings: one point per donor (the values the tests used).",
               "Comparisons"),
    FigureSpec("dot_plot", "Ligand (sender) and receptor (receiver) expression per axis and cell type.",
               "Networks"),
    FigureSpec("network", "Changed sender \u2192 receiver pairs of the top axes per contrast: "
               "Hedges' g of each tested pair (rows receivers, columns senders), stars mark BH-FDR.",
               "Networks"),
    FigureSpec("differential_network", "Sender \u2192 receiver interactions that changed in each "
               "disease.", "Networks"),
    FigureSpec("top_interactions", "Strongest interaction changes: one point per donor.", "Networks"),
)
#: Figures drawn once over all datasets.
CROSS_DATASET_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("forest_plot", "Top findings across datasets: per-dataset Hedges' g with 95% CI (and "
               "the pooled estimate when a meta-analysis exists).", "Cross-dataset"),
    FigureSpec("therapy_panel", "Observed signal per disease beside the clinical outcome of targeting "
               "each axis; '!' marks a paradox.", "Cross-dataset"),
)
#: Caption of every figure by stem (the report's lookup).
CAPTIONS: dict[str, str] = {f.stem: f.caption for f in (*DATASET_FIGURES, *CROSS_DATASET_FIGURES)}
