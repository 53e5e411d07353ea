"""The per-dataset figures, built one at a time from the results tables.

Figures are built from the results tables, never from cells, so each can be rebuilt from the TSVs a
user downloads. Labels from data are drawn as plain text (`style.apply_style` switches mathtext
off), and nothing draws random numbers (jitter is a function of rank, layouts are sorted circles),
so reruns are byte-identical. The figure list itself is in neurokine.plot.catalog.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import matplotlib.pyplot as plt
import pandas as pd

from neurokine.plot.activity import activity_heatmap
from neurokine.plot.catalog import DATASET_FIGURES
from neurokine.plot.effects import effect_heatmaps, top_findings_figure
from neurokine.plot.networks import (
    differential_network_figure,
    dot_plots,
    network_figure,
    top_interactions_figure,
)
from neurokine.plot.overview import composition, dataset_overview, signature_map
from neurokine.plot.verdicts import verdict_figure
from neurokine.settings import NetworkSettings


@dataclasses.dataclass
class DatasetTables:
    """The tables one dataset's figures are drawn from (all read from results/)."""

    tests: pd.DataFrame          # compare/<ds>/signature_tests.tsv
    qc_steps: pd.DataFrame       # prepared/<ds>/qc_steps.tsv
    cell_counts: pd.DataFrame    # aggregate/<ds>/cell_counts.tsv
    donor_scores: pd.DataFrame   # aggregate/<ds>/donor_scores.tsv
    nodes: pd.DataFrame          # network/<ds>/node_scores.tsv
    network: pd.DataFrame        # network/<ds>/interaction_tests.tsv
    activities: pd.DataFrame     # compare/<ds>/activity_tests.tsv
    verdicts: pd.DataFrame | None = None  # network/<ds>/verdicts.tsv


def dataset_figures(tables: DatasetTables, *, dataset: str, synthetic: bool, alpha: float,
                    min_cells: int, network: NetworkSettings) -> Iterator[tuple[str, plt.Figure]]:
    """Yield (file stem, figure) for every per-dataset figure, one at a time (memory stays flat)."""
    builders: dict[str, Callable[[], plt.Figure]] = {
        "overview": lambda: dataset_overview(tables.cell_counts, tables.qc_steps, synthetic,
                                             f"{dataset}: donors, cells and QC"),
        "composition": lambda: composition(tables.cell_counts, synthetic,
                                           f"{dataset}: cell-type composition per donor"),
        "signature_map": lambda: signature_map(tables.donor_scores, synthetic,
                                               f"{dataset}: who makes, senses and responds to each cytokine"),
        "activity_heatmap": lambda: activity_heatmap(tables.activities, alpha, synthetic,
                                                     f"{dataset}: joint activity of each axis"),
        "effect_heatmap": lambda: effect_heatmaps(tables.tests, "response", alpha, synthetic,
                                                  f"{dataset}: response-module effects by disease"),
        "top_findings": lambda: top_findings_figure(
            tables.tests, tables.donor_scores, alpha, min_cells, synthetic,
            f"{dataset}: strongest findings, one point per donor"),
        "dot_plot": lambda: dot_plots(tables.nodes, synthetic, f"{dataset}: ligand and receptor expression"),
        "verdicts": lambda: verdict_figure(tables.verdicts, network.min_donor_agreement, synthetic,
                                           f"{dataset}: evidence verdicts for the top axes"),
        "network": lambda: network_figure(tables.network, alpha, synthetic,
                                          f"{dataset}: changed sender \u2192 receiver pairs of the top axes"),
        "differential_network": lambda: differential_network_figure(
            tables.network, alpha, network.top_edges, synthetic,
            f"{dataset}: changed sender \u2192 receiver interactions"),
        "top_interactions": lambda: top_interactions_figure(
            tables.network, tables.nodes, alpha, min_cells, synthetic,
            f"{dataset}: strongest interaction changes, one point per donor"),
    }
    for spec in DATASET_FIGURES:
        yield spec.stem, builders[spec.stem]()
