"""The HTML report is self-contained, escapes labels from data and flags synthetic data."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
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
    values = tables.donor_scores.rename(columns={"mean_score": "value"}).assign(measure="mean_cell_score")
    coverage = pd.DataFrame([{"signature": s, "n_genes_listed": 3, "n_genes_present": 2,
                              "missing_genes": "GENE<X>", "status": "scored"}
                             for s in sorted(tables.donor_scores["signature"].unique())])
    genes = pd.DataFrame([{"contrast": "MS_vs_control", "tissue": "CSF", "cell_type": RECEIVER,
                           "signature": "TNF.response", "gene": g, "status": "tested", "effect": e,
                           "t": e * 4, "p_value": 0.001} for g, e in (("TNFAIP3", 0.8), ("NFKBIA", 1.2))])
    return report.DatasetSection(
        "d", "Demo <b>title</b>", "cite <i>me</i>", synthetic, tables.tests, tables.qc_steps, figures,
        truth if synthetic else None, cell_counts=tables.cell_counts, network=tables.network,
        evidence=evidence, registry={"references": ["PMID:1"], "licence": "MIT"},
        verdicts=tables.verdicts, donor_values=values, coverage=coverage, genes=genes,
        activities=tables.activities)


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
        network=network, scoring=settings.scoring, report_settings=settings.report,
        resource_checksums={"x.yaml": "ab"}, cross=cross,
        reference_provenance=provenance, output_checksums={"f.png": "cd"})


@pytest.fixture
def html(tmp_path, axes):
    return render(tmp_path, axes)


def embedded(html: str, name: str):
    """The JSON payload of one explorable table or detail block, parsed as the page parses it."""
    body = html.split(f'<script type="application/json" id="json-{name}">')[1].split("</script>")[0]
    return json.loads(body)


def test_labels_from_data_are_escaped(html):
    assert MALICIOUS not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 2  # key findings, recovery tables
    assert "<b>title</b>" not in html and "<i>me</i>" not in html
    assert "T <script>" not in html and "T &lt;script&gt;" in html
    # The only script elements are the page's own: the JSON blocks and the inline explorer.
    assert html.count("<script") == html.count('<script type="application/json"') + 1
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in html  # labels inside JSON stay inert
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    verdicts = embedded(html, "d-verdicts")
    cells = [c for r in verdicts["rows"] for c in r if isinstance(c, str)]
    assert any(MALICIOUS in c for c in cells)  # the data keep the label; the page sets it as text
    assert "GENE<X>" not in html and "GENE\\u003cX\\u003e" in html


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
    # Nothing is fetched. The explorer names the SVG namespace for createElementNS: an identifier
    # that browsers never request, and the only URL in the page.
    page = html.split("<pre>")[0].replace('"http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://", page)
    assert not re.search(r"\b(?:fetch|XMLHttpRequest|WebSocket|import)\s*\(", html)


def test_downloads_decode_to_the_full_tables(html):
    links = dict(re.findall(r'download="([^"]+)" href="data:application/gzip;base64,([^"]+)"', html))
    expected = {"d_signature_tests.tsv.gz", "d_interaction_tests.tsv.gz", "d_evidence.tsv.gz",
                "d_verdicts.tsv.gz", "d_finding_genes.tsv.gz", "d_activity_tests.tsv.gz",
                "therapy_panel.tsv.gz"}
    assert expected <= set(links)
    payload = gzip.decompress(base64.b64decode(links["d_interaction_tests.tsv.gz"]))
    network = pd.read_csv(io.BytesIO(payload), sep="\t")
    assert list(network.columns) == nw.NETWORK_COLUMNS
    assert MALICIOUS in set(network["sender"])  # the data keep the label; only the page escapes it


def test_verdicts_lead_the_report_beside_therapy_outcomes(html):
    first = html.split('<section id="verdicts">')[1].split("</section>")[0]
    assert html.index('<section id="verdicts">') < html.index('id="summary"')
    counts = first.split('class="verdict-counts"')[1].split("</table>")[0]
    assert "MS_vs_control" in counts and "supported" in counts
    verdicts = embedded(html, "d-verdicts")
    columns = [c["key"] for c in verdicts["columns"]]
    rows = [dict(zip(columns, r, strict=True)) for r in verdicts["rows"]]
    supported = [r for r in rows if r["verdict"] == "supported"]
    assert [(r["axis"], r["cell_type"]) for r in supported] == [("TNF", RECEIVER)]
    assert "lenercept" in supported[0]["therapy"] and "phase 2 trial" in supported[0]["therapy"]
    assert verdicts["significance_default"] and verdicts["details"]["items"]
    assert "Clinical outcomes of targeting the axes with a verdict" in first
    assert first.count("<tr") > 2


def test_explorable_tables_and_details(html):
    findings = embedded(html, "d-findings")
    keys = [c["key"] for c in findings["columns"]]
    for key in ("contrast", "tissue", "cell_type", "axis", "module", "fdr", "perm_p_value", "perm_p_floor",
                "significant"):
        assert key in keys
    filters = {c["key"] for c in findings["columns"] if c["filter"]}
    assert {"contrast", "tissue", "cell_type", "axis", "module"} <= filters
    assert findings["significance"]["key"] == "significant"  # the 'significant only' switch
    fdr = [r[keys.index("fdr")] for r in findings["rows"]]
    assert fdr[0] == min(f for f in fdr if f is not None)  # most significant first
    details = embedded(html, "d-details")
    stratum = "CSF\x1f" + RECEIVER + "\x1fTNF.response"
    values = details["strata"][stratum]
    groups = {details["groups"][g] for _, g, _ in values}
    assert groups == {"control", "MS"} and len(values) == 12  # one value per donor, both arms
    genes = details["genes"]["MS_vs_control\x1fCSF\x1f" + RECEIVER + "\x1fTNF.response"]
    assert [g[0] for g in genes] == ["NFKBIA", "TNFAIP3"]  # strongest |t| first
    assert details["coverage"]["TNF.response"][:2] == [3, 2]
    interactions = embedded(html, "d-interactions")
    assert RECEIVER in json.dumps(interactions["rows"])


def test_key_findings_show_the_permutation_floor_beside_the_model_fdr(html):
    key = html.split('id="key-findings"')[1].split("</table>")[0]
    assert "permutation p (floor)" in key and "model FDR" in key
    assert re.search(r"0\.0022 \(0\.0022\)", key)  # 6 vs 6 donors: floor 1/462


def test_therapy_outcomes_and_paradoxes(html):
    assert "lenercept (TNFR p55-IgG): harmful (phase 2 trial)" in html  # anti-TNF worsened MS
    paradoxes = html.split('id="paradoxes"')[1].split("</table>")[0]
    assert "blocking the cytokine worsened disease although its signal is up here" in paradoxes


def test_methods_and_provenance(html):
    assert "the donor is the unit of inference" in html.lower()
    methods = html.split('id="methods"')[1].split('id="provenance"')[0]
    assert "minimum over the subunits of a complex, maximum over alternative" in methods
    assert "linear model of one value per donor" in methods and "bootstrap-t interval" in methods
    assert "permutation p-value" in methods and "at least 75% of donors" in methods
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


def test_joint_activities_are_an_explorable_table(tmp_path, axes):
    sec = section(tmp_path, True, axes)
    activities = embedded(render(tmp_path, axes), "d-activities")
    keys = [c["key"] for c in activities["columns"]]
    rows = [dict(zip(keys, r, strict=True)) for r in activities["rows"]]
    tested = sec.activities[sec.activities["status"] == "tested"]
    assert activities["total"] == len(tested) > 0
    assert {r["direction"] for r in rows} <= {"up", "down"}
    significant = [r for r in rows if r["significant"] == "yes"]
    expected = tested[tested["fdr"] < 0.05]
    assert len(significant) == len(expected) and rows[: len(significant)] == significant  # first
    top = expected.loc[expected["fdr"].idxmin()]
    assert (rows[0]["axis"], rows[0]["cell_type"]) == (top["axis"], top["cell_type"])
    assert rows[0]["activity"] == pytest.approx(top["activity"], rel=1e-3)


def test_interactions_say_whether_the_receivers_response_supports_them(html):
    interactions = embedded(html, "d-interactions")
    keys = [c["key"] for c in interactions["columns"]]
    rows = [dict(zip(keys, r, strict=True)) for r in interactions["rows"]]
    assert sorted(r["supported"] for r in rows) == ["no", "no", "yes"]
    assert {r["response_support"] for r in rows} == {"moves_with", "unchanged"}
    assert "1 of them with the receiver's response moving the same way" in " ".join(html.split())
