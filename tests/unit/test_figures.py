"""Figures are byte-identical on rerun and carry the synthetic label when asked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurokine import SYNTHETIC_LABEL, figures, style


def results_table():
    rng = np.random.default_rng(0)
    rows = []
    for contrast in ("MS_vs_control", "NMOSD_vs_control"):
        for axis in ("TNF", "IL6", "IFN_I"):
            for cell_type in ("mono_classical", "CD8_T"):
                rows.append({"contrast": contrast, "module": "response", "axis": axis,
                             "cell_type": cell_type, "hedges_g": rng.normal(),
                             "fdr": 0.001 if axis == "TNF" else 0.5})
    return pd.DataFrame(rows)


def render(tmp_path, name, synthetic=True):
    style.apply_style()
    fig = figures.effect_heatmaps(results_table(), "response", 0.05, synthetic, "test")
    png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
    style.save_figure(fig, png, svg)
    return png, svg


def test_rerun_is_byte_identical(tmp_path):
    first = render(tmp_path, "a")
    second = render(tmp_path, "b")
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()


def test_svg_has_no_date_and_says_synthetic(tmp_path):
    _, svg = render(tmp_path, "s")
    text = svg.read_text()
    assert "<dc:date>" not in text
    assert SYNTHETIC_LABEL in text  # matplotlib keeps each text as a comment beside its glyphs


def test_real_data_figures_carry_no_synthetic_label(tmp_path):
    _, svg = render(tmp_path, "r", synthetic=False)
    assert SYNTHETIC_LABEL not in svg.read_text()


def test_significance_marks():
    assert [figures.significance_mark(q, 0.05) for q in (0.0001, 0.004, 0.04, 0.2, np.nan)] == [
        "***", "**", "*", "", ""]
