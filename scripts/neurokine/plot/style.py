"""One plotting style and a deterministic figure writer (byte-identical PNG and SVG on rerun)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are built on clusters and in CI without a display

import matplotlib.pyplot as plt
from matplotlib import font_manager

from neurokine import SYNTHETIC_LABEL
from neurokine.io.files import atomic_path

#: Diverging map for signed effects; grey marks cells that were not tested.
EFFECT_CMAP = "RdBu_r"
NOT_TESTED_COLOUR = "#d9d9d9"
#: Sequential map for expression levels (dot plots, network strength).
LEVEL_CMAP = "viridis"
UP_COLOUR = "#b2182b"
DOWN_COLOUR = "#2166ac"
NEUTRAL_COLOUR = "#4d4d4d"
#: Clinical outcome of targeting an axis -> colour of its cell in the therapy panel.
OUTCOME_COLOURS = {
    "beneficial": "#1a9850", "harmful": "#d73027", "failed": "#fdae61", "mixed": "#fee08b",
    "withdrawn": "#969696", "untested": "#f0f0f0", "none": "#ffffff",
}
#: Evidence verdict -> colour (neurokine.stats.verdict).
VERDICT_COLOURS = {
    "supported": "#1a9850", "contradicted": "#d73027", "partial": "#fee08b", "no_change": "#f7f7f7",
    "not_testable": "#bdbdbd",
}
#: Colour per disease group (others get a stable grey).
GROUP_COLOURS = {
    "control": "#7f7f7f", "MS": "#1f77b4", "NMOSD": "#ff7f0e", "neurosarcoidosis": "#2ca02c",
    "ICANS": "#9467bd",
}
FONT_FAMILY = "DejaVu Sans"
#: Arrows in edge labels: an axis that went up or down, and sender -> receiver.
UP_ARROW, DOWN_ARROW, RIGHT_ARROW = "\u2191", "\u2193", "\u2192"


def group_colour(group: str) -> str:
    """Colour of a disease group; unknown groups are grey so figures never fail on new labels."""
    return GROUP_COLOURS.get(str(group), "#8c8c8c")


def _pin_bundled_font() -> None:
    """Use the DejaVu Sans that ships inside matplotlib, never a system copy of another version.

    A system DejaVu (e.g. pulled in by a browser package) may differ glyph by glyph from the
    bundled one; which one matplotlib picks depends on its font cache, so the same figure could
    differ between machines. Dropping system copies makes the choice fixed.
    """
    bundled = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    manager = font_manager.fontManager
    kept = [f for f in manager.ttflist
            if not (f.name == FONT_FAMILY and not str(f.fname).startswith(bundled))]
    if len(kept) != len(manager.ttflist):
        manager.ttflist = kept
        manager._findfont_cached.cache_clear()  # the lookup cache still points at removed files


def apply_style() -> None:
    """Set fonts, sizes and the SVG hash salt so every figure looks alike and reproduces exactly."""
    # SOURCE_DATE_EPOCH and hashsalt remove the two sources of SVG churn: dates and random ids.
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    _pin_bundled_font()
    matplotlib.rcParams.update({
        "font.family": FONT_FAMILY,
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "svg.hashsalt": "neurokine",
        "svg.fonttype": "path",
        "axes.spines.top": False,
        "axes.spines.right": False,
        # Labels come from data: a '$' in a cell-type name must print, not start mathtext.
        "text.parse_math": False,
        "text.usetex": False,
        "path.simplify": True,
    })


def bundled_font_path() -> str:
    """File of the font every figure uses (for provenance and tests)."""
    return font_manager.findfont(font_manager.FontProperties(family=FONT_FAMILY), fallback_to_default=False)


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
