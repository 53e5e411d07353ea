"""End to end: the real `snakemake` command on a reduced demo cohort in a temporary directory.

Checks that the planted effects are recovered, that null axes are mostly not significant (the
false-positive count is printed), that a second run has nothing to do, and that a forced rerun
reproduces every table, figure and the report byte for byte.
"""

from __future__ import annotations

import hashlib
import itertools
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_demo_snakemake

from neurokine.curated.axes import load_axes
from neurokine.plot.catalog import CROSS_DATASET_FIGURES, DATASET_FIGURES
from neurokine.stats import network, verdict
from neurokine.validation import evaluation
from neurokine.validation.evaluation import recovery_summary

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

DETERMINISTIC = ("*.tsv", "*.png", "*.svg", "*.html")
#: Cell-type levels of the demo run (the config default).
LEVELS = ("fine", "lineage")


def snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile in workdir with the reduced demo config."""
    return run_demo_snakemake(workdir, *extra)


def digests(workdir: Path) -> dict[str, str]:
    """SHA-256 of every deterministic output under results/ (benchmarks excluded: they time)."""
    files = [p for pattern in DETERMINISTIC for p in (workdir / "results").rglob(pattern)
             if "benchmarks" not in p.parts]
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_planted_effects_are_recovered_and_nulls_stay_quiet(demo_run):
    results = pd.read_csv(demo_run / "results/compare/demo_synthetic/fine/signature_tests.tsv", sep="\t")
    truth = pd.read_csv(demo_run / "results/simulated/demo_synthetic/planted_effects.tsv", sep="\t")
    summary = recovery_summary(truth, results, alpha=0.05)
    # Modules sharing genes with a planted one really moved (simulation.planted_genes: all):
    # their significant tests are leakage, counted apart from false positives.
    print(f"planted effects recovered {summary['n_recovered']}/{summary['n_planted']}; "
          f"false positives {summary['n_false_positives']} of {summary['n_null_tests']} null tests; "
          f"leakage {summary['n_leakage']} of {summary['n_leakage_tests']} gene-sharing tests")
    assert summary["n_recovered"] >= summary["n_planted"] - 1
    assert summary["n_false_positives"] <= max(2, 0.01 * summary["n_null_tests"])


def test_every_table_and_figure_says_synthetic(demo_run):
    html = (demo_run / "results/report/index.html").read_text()
    assert "SYNTHETIC DEMO DATA" in html
    for svg in (demo_run / "results/figures").rglob("*.svg"):
        assert "SYNTHETIC DEMO DATA" in svg.read_text(), svg
    for table in (demo_run / "results").rglob("*.tsv"):
        if "benchmarks" in table.parts:
            continue
        if table.parent.name == "resources":  # the curated-resource check: no data in it
            continue
        if "meta" in table.parts or table.parent.name == "cross_dataset":  # these name their datasets
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


def test_planted_sender_changes_are_recovered_in_the_network(demo_run):
    """Every planted ligand (sender) effect whose sender is testable shows up as changed
    sender -> receiver interactions with the planted sign, and nulls stay quiet."""
    axes = {a.id: a for a in load_axes(REPO / "resources/signatures/axes",
                                       REPO / "resources/schemas/axis.schema.yaml")}
    tests = pd.read_csv(demo_run / "results/network/demo_synthetic/fine/interaction_tests.tsv", sep="\t")
    truth = pd.read_csv(demo_run / "results/simulated/demo_synthetic/planted_effects.tsv", sep="\t")
    recovery = evaluation.network_recovery(truth, tests, axes, alpha=0.05)
    false = evaluation.network_false_positives(truth, tests, axes, alpha=0.05)
    tested = (tests["status"] == "tested").sum()
    print(f"network: {len(tests)} rows, {tested} tested; planted sender changes recovered "
          f"{int(recovery['recovered'].sum())}/{len(recovery)}; unexplained significant {len(false)}")
    senders = recovery[recovery["side"] == "sender"]
    planted = {(e.disease, e.axis, e.cell_type) for e in truth.itertuples(index=False)
               if e.module == "ligand"}
    assert planted == {("MS", "TNF", "CD4_T_memory"), ("ICANS", "IL1", "mono_classical")}
    # Other sender changes come only from ligands another planted module moved through shared
    # genes (CXCL9/10/11 are IFNG response genes and CXCR3 ligands).
    moved = {(e.disease, a.split(".")[0], e.cell_type) for e in truth.itertuples(index=False)
             for a in str(e.shared_with).split(",") if a.endswith(".ligand")}
    assert set(zip(senders["disease"], senders["axis"], senders["cell_type"], strict=True)) == planted | moved
    senders = senders[[k in planted for k in zip(senders["disease"], senders["axis"],
                                                  senders["cell_type"], strict=True)]]
    assert senders["recovered"].sum() >= 1
    assert (senders["n_wrong_sign"] == 0).all()
    assert len(false) <= max(2, 0.01 * tested)


def test_evidence_table_and_every_figure_are_built(demo_run):
    evidence = pd.read_csv(demo_run / "results/network/demo_synthetic/fine/evidence.tsv", sep="\t")
    assert list(evidence.columns) == ["level", *network.EVIDENCE_COLUMNS]
    planted = evidence[(evidence["contrast"] == "NMOSD_vs_control") & (evidence["axis"] == "IFN_I")
                       & (evidence["cell_type"] == "CD4_T_memory")]
    assert planted["response_changed"].all()  # the planted IFN-I response footprint
    for stem in (f.stem for f in DATASET_FIGURES):
        for level, ext in itertools.product(LEVELS, ("png", "svg")):
            assert (demo_run / f"results/figures/demo_synthetic/{level}/{stem}.{ext}").stat().st_size > 5000
    for stem in (f.stem for f in CROSS_DATASET_FIGURES):
        assert (demo_run / f"results/figures/cross_dataset/{stem}.png").exists()
    html = (demo_run / "results/report/index.html").read_text()
    n_figures = len(LEVELS) * len(DATASET_FIGURES) + len(CROSS_DATASET_FIGURES)
    assert html.count('<img src="data:image/png;base64,') == n_figures
    print(f"report {len(html.encode())} bytes, {n_figures} figures")


def test_verdicts_follow_the_planted_effects(demo_run):
    """Planted response effects reach a verdict that names the response; null axes never reach
    'supported'; every row says why; the genes of the top findings are on disk."""
    verdicts = pd.read_csv(demo_run / "results/network/demo_synthetic/fine/verdicts.tsv", sep="\t")
    truth = pd.read_csv(demo_run / "results/simulated/demo_synthetic/planted_effects.tsv", sep="\t")
    assert list(verdicts.columns) == ["level", *verdict.VERDICT_COLUMNS]
    assert set(verdicts["verdict"]) <= set(verdict.VERDICTS) and verdicts["reason"].notna().all()
    for effect in truth[truth["module"] == "response"].itertuples(index=False):
        mine = verdicts[(verdicts["case"] == effect.disease) & (verdicts["axis"] == effect.axis)
                        & (verdicts["cell_type"] == effect.cell_type)].iloc[0]
        assert mine["verdict"] in ("supported", "partial") and "response up" in mine["layers_holding"]
    planted_axes = {(r.disease, r.axis) for r in truth.itertuples(index=False)}
    # An axis a planted effect moved through shared genes really changed (leakage), so it may be
    # supported too; the run prints which were.
    leaked_axes = {(d, a) for d, a, _, _ in evaluation.leakage_keys(truth)} - planted_axes
    supported = verdicts[verdicts["verdict"] == "supported"]
    print("supported through shared genes only:", sorted(
        {(r.case, r.axis) for r in supported.itertuples(index=False)} & leaked_axes))
    assert all((r.case, r.axis) in planted_axes | leaked_axes for r in supported.itertuples(index=False))
    counts = verdict.verdict_counts(verdicts)
    print("verdicts per contrast:\n" + counts.to_string(index=False))
    genes = pd.read_csv(demo_run / "results/report/demo_synthetic/fine/finding_genes.tsv", sep="\t")
    assert (genes["status"] == "tested").any() and set(genes["contrast"]) <= set(verdicts["contrast"])


def test_snakemake_report_zip_packs_every_figure_and_table(demo_run):
    """`snakemake --report report.zip` works and contains each registered figure and table."""
    import zipfile

    run = snakemake(demo_run, "--report", str(demo_run / "report.zip"))
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    names = zipfile.ZipFile(demo_run / "report.zip").namelist()
    expected = [*(f"{s.stem}.png" for s in DATASET_FIGURES),
                *(f"{s.stem}.png" for s in CROSS_DATASET_FIGURES),
                "signature_tests.tsv", "interaction_tests.tsv", "evidence.tsv", "verdicts.tsv",
                "node_scores.tsv",
                "therapy_panel.tsv", "index.html"]
    missing = [e for e in expected if not any(n.endswith("/" + e) for n in names)]
    assert missing == [], names[:50]
