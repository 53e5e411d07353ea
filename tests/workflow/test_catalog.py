"""The Snakemake workflow catalog's way of running the workflow: entry point workflow/Snakefile,
working directory .test with its own config/config.yaml, nothing else on the command line."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml
from fixtures.workflow import REPO, clean_env, differing, digests, outputs_of, tail

pytestmark = pytest.mark.workflow


def test_catalog_files_describe_the_workflow():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage["software-stack-deployment"]) >= {"conda", "apptainer", "report"}
    assert (REPO / "workflow/Snakefile").is_file() and (REPO / "config/README.md").is_file()
    assert (REPO / ".test/config/config.yaml").is_file()


def test_dot_test_run_through_workflow_snakefile_equals_the_fast_demo(tmp_path, fast_demo_reference):
    workdir = tmp_path / ".test"
    shutil.copytree(REPO / ".test", workdir)  # a copy, so the run leaves the checkout clean
    run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", "workflow/Snakefile",
                          "--cores", "2", "--directory", str(workdir)],
                         cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, tail(outputs_of(run))
    assert "(100%) done" in outputs_of(run)
    assert differing(digests(fast_demo_reference), digests(workdir)) == []
