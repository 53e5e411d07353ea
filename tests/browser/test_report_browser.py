"""The demo report in a real headless Chromium: renders, no console errors, every image loads,
and a cell type named like an HTML injection shows as text (no element, no alert).

Needs Debian's `chromium` and `chromium-driver` (installed by .ci/run) and selenium from
requirements-test.txt. Without them the test skips, unless NEUROKINE_REQUIRE_BROWSER=1 (set in
CI), where a missing browser is a failure. NEUROKINE_CHROMIUM / NEUROKINE_CHROMEDRIVER point at
other binaries. Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from neurokine import SYNTHETIC_LABEL
from neurokine.curated import references
from neurokine.curated.axes import load_axes
from neurokine.io.files import read_tsv
from neurokine.plot import catalog, cross_dataset, figures, report, style, therapy
from neurokine.settings import Settings
from neurokine.workflow.config import load_config

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
MALICIOUS = "<img src=x onerror=alert(1)>"
TARGET = "mono_classical"  # the demo cell type renamed to MALICIOUS in the injected report
pytestmark = [pytest.mark.browser, pytest.mark.workflow]


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail when CI requires the browser."""
    if os.environ.get("NEUROKINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (NEUROKINE_REQUIRE_BROWSER=1 requires the browser test to run)")
    pytest.skip(reason)


def find_binary(variable: str, *names: str) -> str | None:
    """A browser binary: the path in `variable` if set (it must exist), else the first on PATH."""
    if os.environ.get(variable):
        path = os.environ[variable]
        return path if Path(path).is_file() else None
    return next((found for found in map(shutil.which, names) if found), None)


def test_a_missing_browser_fails_when_ci_requires_it(monkeypatch):
    """The fail-not-skip switch itself: CI sets NEUROKINE_REQUIRE_BROWSER=1."""
    monkeypatch.setenv("NEUROKINE_CHROMIUM", "/nonexistent/chromium")
    assert find_binary("NEUROKINE_CHROMIUM", "chromium") is None
    monkeypatch.setenv("NEUROKINE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="requires the browser test"):
        unavailable("Chromium not found")
    monkeypatch.delenv("NEUROKINE_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception):
        unavailable("Chromium not found")


@pytest.fixture(scope="session")  # session scope like demo_run, so a missing browser stops first
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -r requirements-test.txt)")
    chromium = find_binary("NEUROKINE_CHROMIUM", "chromium", "chromium-browser")
    chromedriver = find_binary("NEUROKINE_CHROMEDRIVER", "chromedriver")
    if not chromium or not chromedriver:
        unavailable("Chromium or chromedriver not found (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="neurokine-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                     "--window-size=1280,1600"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit Service path means selenium never tries to download a driver.
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


def renamed(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace the target cell type by MALICIOUS in every label column of a results table."""
    frame = frame.copy()
    for column in ("cell_type", "sender", "receiver", "top_sender", "observed_cell_type", "senders_up",
                   "senders_down"):
        if column in frame.columns:
            frame[column] = frame[column].replace(TARGET, MALICIOUS)
    return frame


def injected_report(demo: Path, out: Path) -> Path:
    """The demo report rebuilt by the library with a hostile cell-type label (figures included)."""
    results = demo / "results"
    ds = "demo_synthetic"
    tables = figures.DatasetTables(
        tests=renamed(read_tsv(results / f"compare/{ds}/fine/signature_tests.tsv")),
        qc_steps=read_tsv(results / f"prepared/{ds}/qc_steps.tsv"),
        cell_counts=renamed(read_tsv(results / f"aggregate/{ds}/fine/cell_counts.tsv")),
        donor_scores=renamed(read_tsv(results / f"aggregate/{ds}/fine/donor_scores.tsv")),
        nodes=renamed(read_tsv(results / f"network/{ds}/fine/node_scores.tsv")),
        network=renamed(read_tsv(results / f"network/{ds}/fine/interaction_tests.tsv")),
        activities=renamed(read_tsv(results / f"compare/{ds}/fine/activity_tests.tsv")),
        verdicts=renamed(read_tsv(results / f"network/{ds}/fine/verdicts.tsv")))
    config = load_config([REPO / "config/config.yaml"], REPO / "workflow/schemas/config.schema.yaml")
    style.apply_style()
    pngs = {}
    settings = Settings.from_config(config)
    for name, fig in figures.dataset_figures(tables, dataset=ds, synthetic=True, alpha=0.05, min_cells=10,
                                             network=settings.network):
        pngs[name] = out / f"{name}.png"
        style.save_figure(fig, pngs[name], out / f"{name}.svg")
    axes = {a.id: a for a in load_axes(REPO / "resources/signatures/axes",
                                       REPO / "resources/schemas/axis.schema.yaml")}
    table = therapy.therapy_table(axes, therapy.observed_signal(tables.tests, 0.05, tables.network),
                                  ["MS", "NMOSD", "neurosarcoidosis", "ICANS"], [ds])
    style.save_figure(cross_dataset.therapy_panel(table, therapy.therapy_records(axes), 0.05, True,
                                                  "therapy"), out / "therapy_panel.png",
                      out / "therapy_panel.svg")
    entry = yaml.safe_load((REPO / "config/datasets.yaml").read_text())[ds]
    truth = renamed(read_tsv(results / f"simulated/{ds}/planted_effects.tsv"))
    section = report.DatasetSection(
        ds, entry["title"], entry["citation"], True, tables.tests, tables.qc_steps, pngs, truth,
        cell_counts=tables.cell_counts, network=tables.network,
        evidence=renamed(read_tsv(results / f"network/{ds}/fine/evidence.tsv")), registry=entry,
        verdicts=tables.verdicts,
        donor_values=renamed(read_tsv(results / f"compare/{ds}/fine/donor_values.tsv")),
        coverage=read_tsv(results / f"scores/{ds}/gene_coverage.tsv"),
        genes=renamed(read_tsv(results / f"report/{ds}/fine/finding_genes.tsv")), level="fine")
    html = report.render_report(
        title="neurokine injected-label check", sections=[section], axes=axes, config=config,
        compare=settings.compare, network=settings.network, scoring=settings.scoring,
        report_settings=settings.report, resource_checksums={},
        cross=report.CrossDataset({"therapy_panel": out / "therapy_panel.png"}, table),
        reference_provenance=references.provenance())
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    return page


def load(driver, page: Path, screenshot: str) -> None:
    """Open a report from disk, wait for it, and keep a screenshot as a test artifact."""
    driver.get(page.resolve().as_uri())
    driver.execute_script("return document.readyState")  # blocks until the page has loaded
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / screenshot))


def assert_renders_cleanly(driver, n_images: int) -> None:
    """Title, banner, sections; every image decoded; no console error; no alert."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 (reading the alert is the check)
    assert driver.find_element(By.TAG_NAME, "h1").is_displayed()
    banner = driver.find_element(By.ID, "synthetic-banner")
    assert banner.is_displayed() and banner.text == SYNTHETIC_LABEL
    for anchor in ("summary", "ds-demo_synthetic-fine", "cross-dataset", "methods", "provenance"):
        assert driver.find_element(By.ID, anchor)
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
    assert len(images) == n_images
    assert all(done and width > 100 and height > 100 for done, width, height in images), images
    downloads = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[download]')).map(a => a.href.slice(0, 5));")
    assert downloads and set(downloads) == {"data:"}
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_demo_report_renders_in_chromium(driver, demo_run):
    page = demo_run / "results/report/index.html"
    load(driver, page, "report_demo.png")
    # one section per cell-type level (fine, lineage), each with every per-dataset figure
    assert_renders_cleanly(driver, 2 * len(catalog.DATASET_FIGURES) + len(catalog.CROSS_DATASET_FIGURES))
    assert driver.title == "neurokine cytokine-signalling report"


def test_injected_label_shows_as_text(driver, demo_run, tmp_path):
    from selenium.webdriver.common.by import By

    page = injected_report(demo_run, tmp_path)
    load(driver, page, "report_injected_top.png")
    assert_renders_cleanly(driver, len(catalog.DATASET_FIGURES) + 1)
    # the label is a text node, never an element: no <img src="x"> exists anywhere
    assert driver.execute_script('return document.querySelectorAll(\'img[src="x"]\').length') == 0
    cells = [c for c in driver.find_elements(By.TAG_NAME, "td") if c.text == MALICIOUS]
    assert len(cells) >= 3  # findings, interactions, evidence, recovery tables
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cells[0])
    assert cells[0].is_displayed()
    driver.save_screenshot(str(ARTIFACTS / "report_injected_label.png"))
    # The explorable tables render the label as text too: the verdict table (first section) and
    # the table of all tests, once opened.
    verdict_cells = driver.execute_script(
        "return Array.from(document.querySelectorAll('#explore-demo_synthetic-fine-verdicts td'))"
        ".filter(td => td.textContent.includes(arguments[0])).length;", MALICIOUS)
    assert verdict_cells >= 1
    host = driver.find_element(By.ID, "explore-demo_synthetic-fine-findings")
    search = host.find_element(By.CSS_SELECTOR, "input.search")
    search.send_keys("onerror")
    rows = host.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert rows and all(MALICIOUS in r.text for r in rows)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", rows[0])
    rows[0].click()
    panel = host.find_element(By.CSS_SELECTOR, ".detail")
    assert panel.is_displayed() and MALICIOUS in panel.text
    assert driver.execute_script('return document.querySelectorAll(\'img[src="x"]\').length') == 0
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018


def click(driver, element) -> None:
    """Click an element after centring it (the sticky synthetic banner covers the top edge)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def visible_rows(host) -> list[list[str]]:
    """Cell texts of the rows a table shows."""
    from selenium.webdriver.common.by import By

    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in host.find_elements(By.CSS_SELECTOR, "tbody tr")]


def test_tables_filter_sort_search_download_and_open_a_finding(driver, demo_run):
    """The demo report's table of all tests: filter by axis, module and significance, sort by a
    column, search, download the filtered rows as CSV, open a finding and see its donors and genes;
    then the verdict table. Expectations come from the run's own TSVs."""
    from urllib.parse import unquote

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from neurokine.stats.verdict import rank_verdicts

    results = demo_run / "results"
    tests = read_tsv(results / "compare/demo_synthetic/fine/signature_tests.tsv")
    genes = read_tsv(results / "report/demo_synthetic/fine/finding_genes.tsv")
    coverage = read_tsv(results / "scores/demo_synthetic/gene_coverage.tsv").set_index("signature")
    load(driver, results / "report/index.html", "report_explore.png")
    host = driver.find_element(By.ID, "explore-demo_synthetic-fine-findings")
    header = [th.text for th in host.find_elements(By.CSS_SELECTOR, "thead th")]
    col = {name: header.index(name) for name in ("contrast", "cell type", "axis", "module", "Hedges' g",
                                                   "FDR", "permutation p", "permutation floor")}
    total = len(visible_rows(host))
    Select(host.find_element(By.CSS_SELECTOR, 'select[data-key="axis"]')).select_by_value("IFN_I")
    rows = visible_rows(host)
    assert rows and len(rows) < total and {r[col["axis"]] for r in rows} == {"IFN_I"}
    Select(host.find_element(By.CSS_SELECTOR, 'select[data-key="module"]')).select_by_value("response")
    click(driver, host.find_element(By.CSS_SELECTOR, "label.significant input"))  # BH-FDR < alpha only
    hits = tests[(tests["axis"] == "IFN_I") & (tests["module"] == "response") & (tests["fdr"] < 0.05)]
    rows = visible_rows(host)
    assert sorted((r[col["contrast"]], r[col["cell type"]]) for r in rows) == sorted(
        zip(hits["contrast"], hits["cell_type"], strict=True))
    assert ("NMOSD_vs_control", "CD4_T_memory") in {(r[col["contrast"]], r[col["cell type"]]) for r in rows}
    # open the planted finding: its donors, its gene coverage and the genes driving it
    finding = hits[(hits["contrast"] == "NMOSD_vs_control") & (hits["cell_type"] == "CD4_T_memory")].iloc[0]
    target = next(tr for tr in host.find_elements(By.CSS_SELECTOR, "tbody tr")
                  if "NMOSD_vs_control" in tr.text and "CD4_T_memory" in tr.text)
    click(driver, target)
    panel = host.find_element(By.CSS_SELECTOR, ".detail")
    assert panel.is_displayed()
    dots = panel.find_elements(By.CSS_SELECTOR, "svg.donors circle.donor")
    assert len(dots) == finding["n_donors_case"] + finding["n_donors_reference"]
    assert not panel.find_elements(By.CSS_SELECTOR, "line.paired")  # unpaired design: no lines
    listed = coverage.loc["IFN_I.response"]
    assert f"gene coverage: {listed['n_genes_present']} of {listed['n_genes_listed']}" in panel.text
    mine = genes[(genes["contrast"] == "NMOSD_vs_control") & (genes["cell_type"] == "CD4_T_memory")
                 & (genes["signature"] == "IFN_I.response")]
    shown = panel.find_elements(By.CSS_SELECTOR, "table.genes tr")[1:]
    assert len(shown) == len(mine) > 5
    strongest = mine.loc[mine["t"].abs().idxmax(), "gene"]
    assert shown[0].text.split()[0] == strongest
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", panel)
    driver.save_screenshot(str(ARTIFACTS / "report_finding_opened.png"))
    # back to all IFN_I rows: sort by Hedges' g both ways
    click(driver, host.find_element(By.CSS_SELECTOR, "label.significant input"))
    Select(host.find_element(By.CSS_SELECTOR, 'select[data-key="module"]')).select_by_value("")
    sorter = host.find_elements(By.CSS_SELECTOR, "thead th")[col["Hedges' g"]]
    click(driver, sorter)
    ascending = [float(r[col["Hedges' g"]]) for r in visible_rows(host)]
    assert ascending == sorted(ascending) and sorter.get_attribute("aria-sort") == "ascending"
    click(driver, sorter)
    descending = [float(r[col["Hedges' g"]]) for r in visible_rows(host)]
    assert descending == sorted(descending, reverse=True)
    # search, then download exactly the rows shown
    search = host.find_element(By.CSS_SELECTOR, "input.search")
    search.send_keys("mono_classical")
    rows = visible_rows(host)
    assert rows and all(r[col["cell type"]] == "mono_classical" for r in rows)
    href = host.find_element(By.CSS_SELECTOR, "a.csv").get_attribute("href")
    assert href.startswith("data:text/csv")
    csv = pd.read_csv(io.StringIO(unquote(href.split(",", 1)[1])))
    assert len(csv) == len(rows) and set(csv["axis"]) == {"IFN_I"}
    assert set(csv["cell type"]) == {"mono_classical"}
    # The verdict table leads the report, shows verdicts with a moving layer by default, strongest
    # first, and opens one with its receiver's response and its sender's ligand.
    verdicts = rank_verdicts(read_tsv(results / "network/demo_synthetic/fine/verdicts.tsv"))
    informative = verdicts[~verdicts["verdict"].isin(["no_change", "not_testable"])]
    table = driver.find_element(By.ID, "explore-demo_synthetic-fine-verdicts")
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == len(informative)
    top = informative.iloc[0]
    assert top["axis"] in rows[0].text and top["verdict"] in rows[0].text
    click(driver, rows[0])
    items = table.find_elements(By.CSS_SELECTOR, ".detail .detail-item")
    expected = int(top["response_status"] == "tested") + int(isinstance(top["top_sender"], str))
    assert len(items) == expected >= 1
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_paired_designs_draw_one_line_per_donor(driver, tmp_path):
    """A paired finding (the same donors in both arms) joins each donor's two values."""
    from selenium.webdriver.common.by import By

    from neurokine.plot import explore

    values = pd.DataFrame([{"dataset_id": "p", "sample_id": f"d{i}{arm}", "donor_id": f"d{i}",
                            "tissue": "CSF", "disease": arm, "cell_type": MALICIOUS,
                            "signature": "A.response", "n_cells": 50,
                            "value": i + (2 if arm == "stim" else 0), "measure": "mean_cell_score"}
                           for i in range(4) for arm in ("ctrl", "stim")])
    rows = pd.DataFrame([{"contrast": "stim_vs_ctrl", "tissue": "CSF", "cell_type": MALICIOUS,
                          "signature": "A.response", "case": "stim", "reference": "ctrl", "fdr": 0.01}])
    columns = [explore.Column("contrast", "contrast", filter=True), explore.Column("cell_type", "cell type"),
               explore.Column("fdr", "FDR", "p"), explore.Column("signature", "s", hidden=True),
               explore.Column("tissue", "t", hidden=True), explore.Column("case", "c", hidden=True),
               explore.Column("reference", "r", hidden=True)]
    table = explore.table_payload("paired", "paired", rows, columns, limit=10,
                                  details=[explore.DetailItem("cell_type", "signature")])
    strata = {explore.stratum_key("CSF", MALICIOUS, "A.response")}
    details = {**explore.donor_payload(values, strata, 10), "genes": {}, "coverage": {}}
    script = (report.TEMPLATES / "explore.js").read_text()
    page = tmp_path / "paired.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>paired</title></head><body>"
        "<div class='explorable' id='x' data-source='json-t' data-details='json-d'></div>"
        f"<script type='application/json' id='json-t'>{explore.script_json(table)}</script>"
        f"<script type='application/json' id='json-d'>{explore.script_json(details)}</script>"
        f"<script>{script}</script></body></html>", encoding="utf-8")
    load(driver, page, "report_paired.png")
    click(driver, driver.find_element(By.CSS_SELECTOR, "#x tbody tr"))
    panel = driver.find_element(By.CSS_SELECTOR, "#x .detail")
    assert len(panel.find_elements(By.CSS_SELECTOR, "line.paired")) == 4
    assert len(panel.find_elements(By.CSS_SELECTOR, "circle.donor")) == 8
    assert MALICIOUS in panel.text
    assert driver.execute_script('return document.querySelectorAll(\'img[src="x"]\').length') == 0
