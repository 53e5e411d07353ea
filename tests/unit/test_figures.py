"""Figures are byte-identical on rerun, carry the synthetic label when asked, and print labels as text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _synthetic_tables import SENDER, synthetic_tables

from neurokine import SYNTHETIC_LABEL
from neurokine.plot import catalog, common, cross_dataset, effects, figures, style, therapy
from neurokine.settings import NetworkSettings

DATASET_STEMS = [f.stem for f in catalog.DATASET_FIGURES]

MALICIOUS = "<img src=x onerror=alert(1)>"


def results_table():
    rng = np.random.default_rng(0)
    rows = []
    for contrast in ("MS_vs_control", "NMOSD_vs_control"):
        for axis in ("TNF", "IL6", "IFN_I"):
            for cell_type in ("mono_classical", "CD8_T"):
                rows.append({"contrast": contrast, "module": "response", "axis": axis, "tissue": "CSF",
                             "cell_type": cell_type, "hedges_g": rng.normal(),
                             "fdr": 0.001 if axis == "TNF" else 0.5, "n_donors_case": 6,
                             "n_donors_reference": 5})
    return pd.DataFrame(rows)


def render(tmp_path, name, synthetic=True):
    style.apply_style()
    fig = effects.effect_heatmaps(results_table(), "response", 0.05, synthetic, "test")
    png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
    style.save_figure(fig, png, svg)
    return png, svg


def render_all(directory: Path, tables: figures.DatasetTables, synthetic: bool = True) -> dict[str, Path]:
    """Every per-dataset figure as PNG and SVG in directory."""
    style.apply_style()
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, fig in figures.dataset_figures(tables, dataset="toy", synthetic=synthetic, alpha=0.05,
                                             min_cells=10, network=NetworkSettings(0.5, 0.1, 15, 0.75)):
        written[f"{name}.png"], written[f"{name}.svg"] = directory / f"{name}.png", directory / f"{name}.svg"
        style.save_figure(fig, written[f"{name}.png"], written[f"{name}.svg"])
    return written


@pytest.fixture(scope="module")
def tables():
    return synthetic_tables()


def test_rerun_is_byte_identical(tmp_path):
    first = render(tmp_path, "a")
    second = render(tmp_path, "b")
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()


def test_every_dataset_figure_is_byte_identical_on_rerun(tmp_path, tables):
    first = render_all(tmp_path / "one", tables)
    second = render_all(tmp_path / "two", tables)
    assert sorted(first) == sorted(f"{n}.{e}" for n in DATASET_STEMS for e in ("png", "svg"))
    changed = [k for k in first if first[k].read_bytes() != second[k].read_bytes()]
    assert changed == []
    assert all(first[k].stat().st_size > 5000 for k in first)  # something was drawn


def test_svg_has_no_date_and_says_synthetic(tmp_path):
    _, svg = render(tmp_path, "s")
    text = svg.read_text()
    assert "<dc:date>" not in text
    assert SYNTHETIC_LABEL in text  # matplotlib keeps each text as a comment beside its glyphs


def test_real_data_figures_carry_no_synthetic_label(tmp_path):
    _, svg = render(tmp_path, "r", synthetic=False)
    assert SYNTHETIC_LABEL not in svg.read_text()


def test_significance_marks():
    assert [common.significance_mark(q, 0.05) for q in (0.0001, 0.004, 0.04, 0.2, np.nan)] == [
        "***", "**", "*", "", ""]


def test_heatmap_labels_carry_donor_counts():
    labels = effects.donor_count_labels(results_table(), "MS_vs_control", "response", "CSF")
    assert labels == {"CD8_T": "CD8_T (6/5)", "mono_classical": "mono_classical (6/5)"}


def test_labels_from_data_stay_text_in_every_figure(tmp_path):
    """A hostile cell-type name (markup, mathtext) draws as text and leaves the SVG well formed."""
    hostile = synthetic_tables(rename={SENDER: MALICIOUS, "B_naive": "$\\alpha$ cells"})
    written = render_all(tmp_path, hostile)
    for name, path in written.items():
        if name.endswith(".svg"):
            root = ET.fromstring(path.read_bytes())  # well-formed XML despite the label
            for element in root.iter():
                assert element.tag.rsplit("}", 1)[-1] not in ("img", "script", "foreignObject")
                assert not [a for a in element.attrib if a.lower().startswith("on")]
                if element.tag.endswith("}image"):  # colour bars are embedded rasters, nothing else
                    href = next(v for k, v in element.attrib.items() if k.endswith("href"))
                    assert href.startswith("data:image/png;base64,")
            assert "onerror=alert" not in path.read_text().replace("onerror=alert(1)&gt;", "")
    heatmap = (tmp_path / "network.svg").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in heatmap  # kept as an escaped text comment


def test_figures_use_the_bundled_font():
    style.apply_style()
    assert Path(style.bundled_font_path()).is_relative_to(Path(matplotlib.get_data_path()))
    assert matplotlib.rcParams["text.parse_math"] is False


def test_forest_rows_without_and_with_meta(tables):
    rows = cross_dataset.forest_rows(tables.tests, None, 0.05, limit=3)
    assert rows["order"].nunique() == 3 and not rows["pooled"].any()
    assert (rows["ci_low"] < rows["estimate"]).all() and (rows["estimate"] < rows["ci_high"]).all()
    top = tables.tests[tables.tests["status"] == "tested"].sort_values("fdr").iloc[0]
    meta = pd.DataFrame([{"contrast": top["contrast"], "tissue": top["tissue"], "signature": top["signature"],
                          "cell_type": top["cell_type"], "status": "tested", "effect": 2.0, "ci_low": 1.0,
                          "ci_high": 3.0, "p_value": 1e-4, "fdr": 1e-3, "n_donors_case": 12,
                          "n_donors_reference": 12}])
    with_meta = cross_dataset.forest_rows(tables.tests, meta, 0.05)
    assert with_meta["pooled"].sum() == 1
    assert with_meta.loc[with_meta["pooled"], "estimate"].item() == 2.0


def test_cross_dataset_figures_render(tmp_path, tables, axes):
    style.apply_style()
    observed = therapy.observed_signal(tables.tests, 0.05, tables.network)
    by_id = {a.id: a for a in axes}
    table = therapy.therapy_table(by_id, observed, ["MS", "NMOSD"], ["toy"])
    records = therapy.therapy_records(by_id)
    for name, fig in (("therapy", cross_dataset.therapy_panel(table, records, 0.05, True, "t")),
                      ("forest", cross_dataset.forest_plot(
                          cross_dataset.forest_rows(tables.tests, None, 0.05), False, 0.05, True, "f"))):
        style.save_figure(fig, tmp_path / f"{name}.png", tmp_path / f"{name}.svg")
        assert SYNTHETIC_LABEL in (tmp_path / f"{name}.svg").read_text()


def test_every_figure_of_the_catalogue_has_a_report_caption_file(repo):
    """The rules register each catalogue figure with workflow/report/<stem>.rst as its caption."""
    for spec in (*catalog.DATASET_FIGURES, *catalog.CROSS_DATASET_FIGURES):
        assert (repo / "workflow/report" / f"{spec.stem}.rst").is_file(), spec.stem
        assert spec.caption and spec.category, spec


def test_two_donor_pilot_heatmap_shows_the_raw_effect_and_says_so():
    """df < 2: every hedges_g is NaN, so the panel shows `effect` on its own scale, never blank."""
    table = results_table().assign(hedges_g=np.nan,
                                   effect=np.linspace(-1.5, 2.5, len(results_table())))
    assert effects.panel_measure(table, "MS_vs_control", "response", "CSF") == "effect"
    fig = effects.effect_heatmaps(table, "response", 0.05, False, "pilot")
    meshes = [c for ax in fig.axes for c in ax.collections if c.get_array() is not None
              and c.get_array().size == 6]
    assert len(meshes) == 2 and all(np.isfinite(np.asarray(m.get_array(), float)).all()
                                    for m in meshes)
    texts = " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))
    assert "raw effect" in texts and "Hedges' g is undefined (df < 2)" in texts
    # With a g anywhere in the panel, the panel keeps Hedges' g.
    assert effects.panel_measure(results_table().assign(effect=1.0), "MS_vs_control", "response",
                                 "CSF") == "hedges_g"


def test_strip_panels_join_paired_donors_and_state_the_raw_effect():
    values = pd.DataFrame({"panel": 0, "donor_id": ["101", "107", "101", "107", "x"],
                           "group": ["control", "control", "stim", "stim", "stim"],
                           "value": [0.1, 0.3, 1.8, 2.4, 2.0]})
    row = pd.Series({"hedges_g": np.nan, "effect": 1.9, "fdr": 0.6}).to_frame().T.iloc[0]
    subtitle = common.stat_line(row, 0.05)
    assert subtitle == "raw effect = 1.90 (no g: df < 2), FDR = 0.6 (n.s.)"
    fig = common.donor_strips(values, [{"title": "t", "subtitle": subtitle, "case": "stim",
                                        "reference": "control"}], "score", False, "pilot", "")
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 2
             and line.get_xdata()[0] < 0.5 < line.get_xdata()[1]]
    assert len(lines) == 2  # donors 101 and 107; donor x is in one arm only
    assert sorted(tuple(line.get_ydata()) for line in lines) == [(0.1, 1.8), (0.3, 2.4)]


def test_network_figures_mark_edges_without_a_receiver_response(tables):
    """The synthetic TNF sender fans out to three receivers; only one receiver's response rose."""
    from _synthetic_tables import RECEIVER

    from neurokine.plot import networks

    changed = tables.network[(tables.network["fdr"] < 0.05)]
    assert len(changed) == 3 and (changed["supported"] == "yes").sum() == 1
    fig = networks.network_figure(tables.network, 0.05, False, "net")
    heatmap = next(ax for ax in fig.axes if ax.get_title().startswith("TNF"))
    stars = [t for t in heatmap.texts if t.get_text().startswith("*")]
    rings = [c for c in heatmap.collections if c.get_offsets().shape[0] == 1]
    assert len(stars) == 1 and len(rings) == 2  # one supported edge, two marked unsupported
    receivers = [t.get_text() for t in heatmap.get_yticklabels()]
    assert receivers[round(stars[0].get_position()[1])] == RECEIVER
    fig = networks.differential_network_figure(tables.network, 0.05, 10, False, "diff")
    dashed = [p for p in fig.axes[0].patches if p.get_linestyle() == "--"]
    assert len(dashed) == 2 and len(fig.axes[0].patches) == 3
