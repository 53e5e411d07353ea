"""The HTML report is self-contained, escapes labels from data and flags synthetic data."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from neurokine import SYNTHETIC_LABEL, report

MALICIOUS = "<img src=x onerror=alert(1)>"


def section(tmp_path: Path, synthetic: bool) -> report.DatasetSection:
    png = tmp_path / "f.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    results = pd.DataFrame([{
        "dataset_id": "d", "contrast": "MS_vs_control", "case": "MS", "reference": "control",
        "tissue": "CSF", "cell_type": MALICIOUS, "signature": "TNF.response", "axis": "TNF",
        "module": "response", "status": "tested", "reason": "", "n_donors_case": 6,
        "n_donors_reference": 6, "effect": 0.8, "hedges_g": 2.0, "ci_low": 0.4, "ci_high": 1.2,
        "p_value": 1e-4, "fdr": 1e-3}])
    qc = pd.DataFrame({"order": [0, 1], "step": ["input", "min_counts"], "sample_id": ["a", "a"],
                       "cells_kept": [10, 9]})
    truth = pd.DataFrame([{"disease": "MS", "axis": "TNF", "module": "response",
                           "cell_type": MALICIOUS, "log2_fold_change": 1.0}])
    return report.DatasetSection("d", "Demo <b>title</b>", "cite", synthetic, results, qc,
                                 {"heatmap": png}, truth if synthetic else None)


@pytest.fixture
def html(tmp_path, axes, repo):
    return report.render_report(
        repo / "scripts/neurokine/templates", title="T", sections=[section(tmp_path, True)],
        axes={a.id: a for a in axes}, config={"seed": 1}, resource_checksums={"x.yaml": "ab"},
        alpha=0.05)


def test_labels_from_data_are_escaped(html):
    assert MALICIOUS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>title</b>" not in html


def test_synthetic_banner_and_recovery_shown(html):
    assert 'id="synthetic-banner"' in html and SYNTHETIC_LABEL in html
    assert "Recovery of the planted effects" in html


def test_report_is_self_contained(html):
    sources = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert sources and all(s.startswith("data:") for s in sources)
    assert "<script" not in html


def test_therapy_outcomes_sit_beside_findings(html):
    assert "lenercept (TNFR p55-IgG): harmful" in html  # anti-TNF worsened MS (PMID 10449104)
