"""The HTML report is self-contained, escapes labels from data and flags synthetic data."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from _synthetic_tables import RECEIVER, SENDER, synthetic_tables
from conftest import demo_settings

from neurokine import SYNTHETIC_LABEL
from neurokine.plot import report, therapy
from neurokine.stats import compare
from neurokine.stats import network as nw

MALICIOUS = "<img src=x onerror=alert(1)>"
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16


def section(tmp_path: Path, synthetic: bool, axes) -> report.DatasetSection:
    """A dataset whose sender cell type is called MALICIOUS, with planted truth when synthetic."""
    tables = synthetic_tables(rename={SENDER: MALICIOUS})
    figures = {}
    for name in ("overview", "network"):
        figures[name] = tmp_path / f"{name}.png"
        figures[name].write_bytes(PNG)
    evidence = nw.evidence_agreement(tables.nodes, tables.network, tables.tests,
                                     [compare.Contrast("MS", "control")], min_ligand=0.5,
                                     min_receptor=0.1, alpha=0.05)
    truth = pd.DataFrame([{"disease": "MS", "axis": "TNF", "module": "ligand", "cell_type": MALICIOUS,
                           "log2_fold_change": 1.0, "genes_moved": "TNF", "n_genes_moved": 1}])
    return report.DatasetSection(
        "d", "Demo <b>title</b>", "cite <i>me</i>", synthetic, tables.tests, tables.qc_steps, figures,
        truth if synthetic else None, cell_counts=tables.cell_counts, network=tables.network,
        evidence=evidence, registry={"references": ["PMID:1"], "licence": "MIT"})


def render(tmp_path, axes, synthetic=True, meta=None):
    by_id = {a.id: a for a in axes}
    sec = section(tmp_path, synthetic, axes)
    observed = therapy.observed_signal(sec.results, 0.05, sec.network)
    table = therapy.therapy_table(by_id, observed, ["MS", "NMOSD", "neurosarcoidosis"], ["d"])
    forest = tmp_path / "forest_plot.png"
    forest.write_bytes(PNG)
    cross = report.CrossDataset(figures={"forest_plot": forest}, therapy=table, meta=meta)
    provenance = pd.DataFrame([{"reference": "hcd_cip", "package": "hucira", "version": "0.1.3",
                                "file": "x.csv", "sha256": "ff", "licence": "MIT",
                                "citation": "DOI:10.64898/2025.12.12.693897", "status": "loaded"}])
    settings = demo_settings()
    network = dataclasses.replace(settings.network, min_ligand_fraction=0.5)
    return report.render_report(
        title="T <script>", sections=[sec], axes=by_id,
        config={"seed": 1, "network": {"min_ligand_fraction": 0.5}}, compare=settings.compare,
        network=network, resource_checksums={"x.yaml": "ab"}, cross=cross,
        reference_provenance=provenance, output_checksums={"f.png": "cd"})


@pytest.fixture
def html(tmp_path, axes):
    return render(tmp_path, axes)


def test_labels_from_data_are_escaped(html):
    assert MALICIOUS not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # findings, interactions, evidence
    assert "<b>title</b>" not in html and "<i>me</i>" not in html
    assert "<script" not in html


def test_synthetic_banner_and_both_recovery_tables(html):
    assert 'id="synthetic-banner"' in html and SYNTHETIC_LABEL in html
    assert "Recovery of the planted effects" in html
    assert "Planted sender (ligand) and receiver (receptor) changes" in html


def test_no_banner_for_real_data(tmp_path, axes):
    page = render(tmp_path, axes, synthetic=False)
    assert 'id="synthetic-banner"' not in page and "Recovery of the planted effects" not in page


def test_report_is_self_contained(html):
    sources = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert sources and all(s.startswith("data:") for s in sources)
    assert not re.search(r"https?://", html.split("<pre>")[0])  # nothing is fetched


def test_downloads_decode_to_the_full_tables(html):
    links = dict(re.findall(r'download="([^"]+)" href="data:application/gzip;base64,([^"]+)"', html))
    expected = {"d_signature_tests.tsv.gz", "d_interaction_tests.tsv.gz", "d_evidence.tsv.gz",
                "therapy_panel.tsv.gz"}
    assert expected <= set(links)
    payload = gzip.decompress(base64.b64decode(links["d_interaction_tests.tsv.gz"]))
    network = pd.read_csv(io.BytesIO(payload), sep="\t")
    assert list(network.columns) == nw.NETWORK_COLUMNS
    assert MALICIOUS in set(network["sender"])  # the data keep the label; only the page escapes it


def test_network_and_evidence_sections(html):
    assert "Sender &rarr; receiver interactions that changed" in html
    interactions = html.split('class="interactions"')[1].split("</table>")[0]
    assert RECEIVER in interactions and "TNF" in interactions
    evidence = html.split('class="evidence"')[1].split("</table>")[0]
    assert "receptor + response + sender" in evidence


def test_therapy_outcomes_and_paradoxes(html):
    assert "lenercept (TNFR p55-IgG): harmful" in html  # anti-TNF worsened MS (PMID 10449104)
    paradoxes = html.split('id="paradoxes"')[1].split("</table>")[0]
    assert "blocking the cytokine worsened disease although its signal is up here" in paradoxes


def test_methods_and_provenance(html):
    assert "the donor is the unit of inference" in html.lower()
    assert "minimum over the subunits of a complex and the maximum over alternative" in html
    for anchor in ('id="versions"', 'id="reference-provenance"', 'id="dataset-citations"',
                   'id="output-checksums"'):
        assert anchor in html
    assert "DOI:10.64898/2025.12.12.693897" in html and "PMID:1" in html
    assert "min_ligand_fraction: 0.5" in html  # the configuration block


def test_meta_analysis_download_only_with_pooled_estimates(tmp_path, axes):
    meta = pd.DataFrame([{"contrast": "MS_vs_control", "cell_type": MALICIOUS, "effect": 1.0,
                          "status": "tested"}])
    page = render(tmp_path, axes, meta=meta)
    assert 'download="meta_analysis.tsv.gz"' in page and MALICIOUS not in page
    single = render(tmp_path, axes, meta=meta.assign(status="single_dataset"))
    assert 'download="meta_analysis.tsv.gz"' not in single and "No pooled estimate exists" in single


def test_comparison_gaps_say_why_no_comparison_was_made():
    from neurokine.settings import Contrast
    from neurokine.stats.compare import RESULT_COLUMNS

    empty = pd.DataFrame(columns=RESULT_COLUMNS)
    counts = pd.DataFrame({"disease": ["MS", "MS"]})
    ms = [Contrast("MS", "control")]
    assert report.comparison_gaps(empty, counts, ()) == [
        "compare.contrasts is empty: this is a descriptive run"]
    assert report.comparison_gaps(empty, counts, ms) == [
        "none of the configured contrasts has both groups here (MS_vs_control: no donors of "
        "control in this dataset)"]
    untested = pd.DataFrame([{**dict.fromkeys(RESULT_COLUMNS), "status": "not_tested",
                              "reason": "1 case and 1 reference donors pass the cell minimum"}])
    both = pd.DataFrame({"disease": ["MS", "control"]})
    assert report.comparison_gaps(untested, both, ms) == [
        "every stratum was not tested; e.g. 1 case and 1 reference donors pass the cell minimum"]
    tested = untested.assign(status="tested")
    assert report.comparison_gaps(tested, both, ms) == []
