"""The evidence-verdict figure: for the top axes of each contrast, every layer behind the verdict."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from neurokine.plot.common import empty_panel, finish
from neurokine.plot.style import (
    DOWN_ARROW,
    DOWN_COLOUR,
    NOT_TESTED_COLOUR,
    RIGHT_ARROW,
    UP_ARROW,
    UP_COLOUR,
    VERDICT_COLOURS,
)
from neurokine.stats.verdict import VERDICTS, rank_verdicts, verdict_counts

#: The layer columns of the figure: title and width (data units).
LAYERS = (("ligand in sender", 2.4), ("receptor", 0.9), ("response (receiver)", 2.0),
          ("donors agreeing", 1.3), ("verdict", 1.2))
LIGHT_UP, LIGHT_DOWN, PALE = "#f4a582", "#92c5de", "#f0f0f0"


def top_verdict_rows(verdicts: pd.DataFrame, axes_per_contrast: int = 4,
                     receivers_per_axis: int = 3) -> pd.DataFrame:
    """The strongest verdict rows: per contrast its top axes (best verdict first), per axis its
    strongest receivers; rows that are neither 'no_change' nor 'not_testable'."""
    ranked = rank_verdicts(verdicts[~verdicts["verdict"].isin(["no_change", "not_testable"])])
    keys = ["contrast", *(["level"] if "level" in ranked.columns else []), "axis"]
    picked = []
    for _, group in ranked.groupby(keys[:-1], sort=True):
        axes = list(dict.fromkeys(group["axis"]))[:axes_per_contrast]
        for axis in axes:
            picked.append(group[group["axis"] == axis].head(receivers_per_axis))
    return pd.concat(picked, ignore_index=True) if picked else ranked.iloc[:0]


def _arrow(state: str) -> str:
    """An arrow for an up/down state, the state itself otherwise."""
    return {"up": UP_ARROW, "down": DOWN_ARROW}.get(state, state)


def _cells(row: pd.Series, min_agreement: float) -> list[tuple[str, str]]:
    """(text, colour) of the five layer cells of one verdict row."""
    sender = row["sender_state"]
    if sender in ("up", "down"):
        ligand = (f"{_arrow(sender)} {row['top_sender']} (g {row['top_sender_hedges_g']:.1f}, "
                  f"q {row['top_sender_fdr']:.1g})", UP_COLOUR if sender == "up" else DOWN_COLOUR)
    elif sender == "mixed":
        ligand = ("senders up and down", "#fee08b")
    elif sender == "none":
        ligand = ("no sender changed", PALE)
    else:
        ligand = ("no sender", NOT_TESTED_COLOUR)
    fraction = row["receptor_fraction"]
    receptor = {"present": (f"{fraction:.2f}", "#d9f0d3"), "absent": (f"{fraction:.2f} (absent)", "#fdae61")
                }.get(row["receptor_state"], ("not measured", NOT_TESTED_COLOUR))
    state = row["response_state"]
    if state in ("up", "down"):
        response = (f"{_arrow(state)} g {row['response_hedges_g']:.1f}, q {row['response_fdr']:.1g}",
                    UP_COLOUR if state == "up" else DOWN_COLOUR)
    elif state == "none":
        response = (f"none (q {row['response_fdr']:.2g})", PALE)
    elif state == "unspecific":
        # The module moved but the axis's joint activity did not: another axis's program.
        response = (f"unspecific (activity p {row['response_activity_p']:.1g})", "#fee08b")
    else:
        response = ("not testable", NOT_TESTED_COLOUR)
    agreement = row["response_agreement"]
    if np.isfinite(agreement) and state in ("up", "down"):
        colour = ("#a6dba0" if agreement >= min_agreement else "#d73027" if agreement < 0.5 else "#fee08b")
        donors = (f"{int(row['n_donors_agreeing'])}/{int(row['n_donors_compared'])}", colour)
    else:
        donors = ("\u2013", PALE)
    verdict = (str(row["verdict"]).replace("_", " "), VERDICT_COLOURS.get(str(row["verdict"]), "white"))
    return [ligand, receptor, response, donors, verdict]


def verdict_figure(verdicts: pd.DataFrame | None, min_agreement: float, synthetic: bool,
                   title: str) -> plt.Figure:
    """Per contrast, its top axes: ligand in the sender, receptor, response and donor agreement of
    the strongest receivers, and the verdict they add up to; a count line per contrast."""
    if verdicts is None or verdicts.empty:
        fig, ax = plt.subplots(figsize=(7, 2.5))
        empty_panel(ax, "no verdict could be made (no comparison in this dataset)")
        return finish(fig, title, synthetic)
    rows = top_verdict_rows(verdicts)
    counts = verdict_counts(verdicts)
    group_keys = ["contrast", *(["level"] if "level" in verdicts.columns else [])]
    n_groups = len(counts)
    height = 1.3 + 0.27 * (len(rows) + 1.6 * n_groups)
    fig, ax = plt.subplots(figsize=(8.27, height))
    label_width = 3.2
    widths = [w for _, w in LAYERS]
    starts = np.cumsum([0, *widths[:-1]])
    y = 0.0
    for values in counts.itertuples(index=False):
        group = dict(zip(counts.columns, values, strict=True))
        mine = rows
        for key in group_keys:
            mine = mine[mine[key].astype(str) == str(group[key])]
        heading = " ".join(str(group[k]).replace("_vs_", " vs ") for k in group_keys)
        tally = "  ".join(f"{v.replace('_', ' ')} {int(group[v])}" for v in VERDICTS)
        ax.text(-label_width, y + 0.55, f"{heading}:  {tally}", fontsize=7.5, fontweight="bold",
                va="center", ha="left")
        y += 1.0
        if mine.empty:
            ax.text(-label_width, y + 0.5, "no axis with a changed ligand or response", fontsize=7,
                    va="center", color="#666666")
            y += 1.0
        for _, row in mine.iterrows():
            ax.text(-0.1, y + 0.5, f"{row['axis']} {RIGHT_ARROW} {row['cell_type']}", fontsize=7,
                    va="center", ha="right")
            for (text, colour), x0, width in zip(_cells(row, min_agreement), starts, widths, strict=True):
                ax.add_patch(Rectangle((x0 + 0.03, y + 0.06), width - 0.06, 0.88, facecolor=colour,
                                       edgecolor="white", linewidth=0.5))
                dark = colour in (UP_COLOUR, DOWN_COLOUR, VERDICT_COLOURS["supported"],
                                  VERDICT_COLOURS["contradicted"])
                ax.text(x0 + width / 2, y + 0.5, text, fontsize=6.3, ha="center", va="center",
                        color="white" if dark else "black")
            y += 1.0
        y += 0.6
    for (name, _), x0, width in zip(LAYERS, starts, widths, strict=True):
        ax.text(x0 + width / 2, -0.45, name, fontsize=7.5, ha="center", va="bottom", fontweight="bold")
    ax.set_xlim(-label_width, float(sum(widths)))
    ax.set_ylim(y, -0.9)
    ax.set_axis_off()
    handles = [Patch(facecolor=c, edgecolor="#999999", label=v.replace("_", " "))
               for v, c in VERDICT_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=7)
    return finish(fig, f"{title}\ntop 4 axes per contrast, 3 receivers each; q = BH-FDR\n"
                        f"donors agreeing: donors following the response change (supported needs "
                        f"{min_agreement:.0%})", synthetic, bottom_inches=0.35)
