"""A bad config stops the real `snakemake` command before any job runs, naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("seed=-5", ["seed:", "minimum 0"]),
        ("colour=red", ["colour: unknown key", "allowed keys:"]),
        ("datasets=['no_such_dataset']", ["datasets[0]", "is not in the registry", "demo_synthetic"]),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, override, expected):
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(REPO / "config/config.yaml"), "--cores", "1",
         "--config", override],
        capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    for fragment in expected:
        assert fragment in output, output[-2000:]
    assert not (tmp_path / "results").exists()
