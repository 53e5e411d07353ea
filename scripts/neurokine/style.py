"""One plotting style and a deterministic figure writer (byte-identical PNG and SVG on rerun)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are built on clusters and in CI without a display

import matplotlib.pyplot as plt

from neurokine import SYNTHETIC_LABEL
from neurokine.io import atomic_path

#: Diverging map for signed effects; grey marks cells that were not tested.
EFFECT_CMAP = "RdBu_r"
NOT_TESTED_COLOUR = "#d9d9d9"


def apply_style() -> None:
    """Set fonts, sizes and the SVG hash salt so every figure looks alike and reproduces exactly."""
    # SOURCE_DATE_EPOCH and hashsalt remove the two sources of SVG churn: dates and random ids.
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    matplotlib.rcParams.update({
        "font.family": "DejaVu Sans",  # ships with matplotlib, so glyphs are identical everywhere
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "svg.hashsalt": "neurokine",
        "svg.fonttype": "path",
        "axes.spines.top": False,
        "axes.spines.right": False,
    })


def mark_synthetic(fig: plt.Figure) -> None:
    """Stamp the synthetic-data warning across the top of a figure."""
    fig.text(0.5, 0.995, SYNTHETIC_LABEL, ha="center", va="top", fontsize=9,
             color="#b2182b", fontweight="bold")


def save_figure(fig: plt.Figure, png: str | os.PathLike[str], svg: str | os.PathLike[str]) -> None:
    """Write a figure as PNG and SVG atomically, with no timestamps or software tags."""
    for path, metadata in ((png, {"Software": None}), (svg, {"Date": None, "Creator": None})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], metadata=metadata, bbox_inches="tight")
    plt.close(fig)
