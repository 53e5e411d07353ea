"""Static checks: `snakemake --lint` and `ruff` must be clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_snakemake_lint_is_clean():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in output, output[-3000:]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    run = subprocess.run([ruff, "check", "scripts", "tests", "benchmarks"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]


def test_dry_run_builds_the_dag():
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]


def test_test_modules_have_unique_basenames():
    # pytest's default (prepend) import mode keys test modules by basename, so two `test_x.py` in
    # different folders abort the whole collection; a targeted run of this file catches it first.
    names = [path.name for path in (REPO / "tests").rglob("test_*.py")]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    assert not duplicated, f"rename one of each: {duplicated}"
