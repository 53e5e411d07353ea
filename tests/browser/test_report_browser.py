"""The demo report in a real headless Chromium: renders, no console errors, every image loads,
and a cell type named like an HTML injection shows as text (no element, no alert).

Needs Debian's `chromium` and `chromium-driver` (installed by .ci/run) and selenium from
requirements-test.txt. Without them the test skips, unless NEUROKINE_REQUIRE_BROWSER=1 (set in
CI), where a missing browser is a failure. NEUROKINE_CHROMIUM / NEUROKINE_CHROMEDRIVER point at
other binaries. Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

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
    for column in ("cell_type", "sender", "receiver", "top_sender", "observed_cell_type"):
        if column in frame.columns:
            frame[column] = frame[column].replace(TARGET, MALICIOUS)
    return frame


def injected_report(demo: Path, out: Path) -> Path:
    """The demo report rebuilt by the library with a hostile cell-type label (figures included)."""
    results = demo / "results"
    ds = "demo_synthetic"
    tables = figures.DatasetTables(
        tests=renamed(read_tsv(results / f"compare/{ds}/signature_tests.tsv")),
        qc_steps=read_tsv(results / f"prepared/{ds}/qc_steps.tsv"),
        cell_counts=renamed(read_tsv(results / f"aggregate/{ds}/cell_counts.tsv")),
        donor_scores=renamed(read_tsv(results / f"aggregate/{ds}/donor_scores.tsv")),
        nodes=renamed(read_tsv(results / f"network/{ds}/node_scores.tsv")),
        network=renamed(read_tsv(results / f"network/{ds}/interaction_tests.tsv")))
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
        evidence=renamed(read_tsv(results / f"network/{ds}/evidence.tsv")), registry=entry)
    html = report.render_report(
        title="neurokine injected-label check", sections=[section], axes=axes, config=config,
        compare=settings.compare, network=settings.network, resource_checksums={},
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
    for anchor in ("summary", "ds-demo_synthetic", "cross-dataset", "methods", "provenance"):
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
    assert_renders_cleanly(driver, len(catalog.DATASET_FIGURES) + len(catalog.CROSS_DATASET_FIGURES))
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
