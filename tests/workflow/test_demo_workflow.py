"""End to end: the real `snakemake` command on a reduced demo cohort in a temporary directory.

Checks that the planted effects are recovered, that null axes are mostly not significant (the
false-positive count is printed), that a second run has nothing to do, and that a forced rerun
reproduces every table, figure and the report byte for byte.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurokine.evaluation import recovery_summary

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

DETERMINISTIC = ("*.tsv", "*.png", "*.svg", "*.html")


def snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile in workdir with the reduced demo config."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "2",
               "--configfile", str(REPO / "config/config.yaml"),
               str(REPO / "tests/workflow/small_demo.yaml"), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=1200)


def digests(workdir: Path) -> dict[str, str]:
    """SHA-256 of every deterministic output under results/ (benchmarks excluded: they time)."""
    files = [p for pattern in DETERMINISTIC for p in (workdir / "results").rglob(pattern)
             if "benchmarks" not in p.parts]
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    run = snakemake(workdir)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir


def test_planted_effects_are_recovered_and_nulls_stay_quiet(demo_run):
    results = pd.read_csv(demo_run / "results/compare/demo_synthetic/signature_tests.tsv", sep="\t")
    truth = pd.read_csv(demo_run / "results/simulated/demo_synthetic/planted_effects.tsv", sep="\t")
    summary = recovery_summary(truth, results, alpha=0.05)
    print(f"planted effects recovered {summary['n_recovered']}/{summary['n_planted']}; "
          f"false positives {summary['n_false_positives']} of {summary['n_null_tests']} null tests")
    assert summary["n_recovered"] >= summary["n_planted"] - 1
    assert summary["n_false_positives"] <= max(2, 0.01 * summary["n_null_tests"])


def test_every_table_and_figure_says_synthetic(demo_run):
    html = (demo_run / "results/report/index.html").read_text()
    assert "SYNTHETIC DEMO DATA" in html
    svg = (demo_run / "results/figures/demo_synthetic/effect_heatmap.svg").read_text()
    assert "SYNTHETIC DEMO DATA" in svg
    for table in (demo_run / "results").rglob("*.tsv"):
        if "benchmarks" in table.parts:
            continue
        if table.parent.name == "resources":  # the curated-resource check: no data in it
            continue
        if table.parent.name == "meta":  # cross-dataset tables name their datasets in a column
            assert "demo_synthetic" in table.read_text(), table
        else:
            assert "demo_synthetic" in str(table), table  # every table is filed under the demo id


def test_second_run_changes_nothing_and_forced_rerun_is_byte_identical(demo_run):
    before = digests(demo_run)
    assert len(before) >= 10
    second = snakemake(demo_run)
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Nothing to be done" in second.stdout + second.stderr
    assert digests(demo_run) == before
    forced = snakemake(demo_run, "--forceall")
    assert forced.returncode == 0, forced.stderr[-4000:]
    after = digests(demo_run)
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert changed == []
