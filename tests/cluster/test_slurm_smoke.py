"""Smoke test: a throwaway three-rule workflow runs as real SLURM jobs through profiles/slurm.

Needs the single-node cluster of tests/cluster/start_slurm.sh. Skips only when `sbatch` is
absent, and never when NEUROKINE_REQUIRE_SLURM=1 (CI), where a missing cluster fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.slurm import require_idle_node, require_slurm, scontrol_job
from fixtures.workflow import clean_env

pytestmark = [pytest.mark.cluster, pytest.mark.workflow]

REPO = Path(__file__).resolve().parents[2]
SLURM_PROFILE = REPO / "profiles" / "slurm"
TEST_PROFILE = REPO / "tests" / "cluster" / "profile"
WORKSTATION_PROFILE = REPO / "profiles" / "default"

# Three rules, three jobs: two independent producers and one consumer. Each job records the
# SLURM job id and node it saw, which only exist inside a SLURM allocation.
SNAKEFILE = r"""
rule all:
    input:
        "results/combined.txt",

rule first:
    output:
        "results/first.txt",
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        'echo "first job=${{SLURM_JOB_ID:-none}} node=${{SLURMD_NODENAME:-none}}" > {output}'

rule second:
    output:
        "results/second.txt",
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        'echo "second job=${{SLURM_JOB_ID:-none}} node=${{SLURMD_NODENAME:-none}}" > {output}'

rule combine:
    input:
        "results/first.txt",
        "results/second.txt",
    output:
        "results/combined.txt",
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        'cat {input} > {output} && '
        'echo "combine job=${{SLURM_JOB_ID:-none}} node=${{SLURMD_NODENAME:-none}}" >> {output}'
"""

RUN_ID = re.compile(r"SLURM run ID: (\S+)")
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")
RECORD = re.compile(r"^(first|second|combine) job=(\S+) node=(\S+)$")


def test_workflow_jobs_run_as_distinct_slurm_jobs(tmp_path: Path) -> None:
    require_slurm()
    node = require_idle_node()

    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    # Inside each allocation the job runs Snakemake again from this directory, where the real
    # repository has profiles/default; Snakemake 9.27 loads no profile in that inner
    # (--mode remote) run, and the copy keeps the test honest should that ever change.
    shutil.copytree(WORKSTATION_PROFILE, tmp_path / "profiles" / "default")

    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--workflow-profile",
        "none",
        "--profile",
        str(SLURM_PROFILE),
        "--profile",
        str(TEST_PROFILE),
        "--jobs",
        "3",
        # Keep every job's SLURM log so a failure can be diagnosed from the artifacts.
        "--slurm-keep-successful-logs",
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=900
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake failed (rc={proc.returncode}):\n{log[-6000:]}"
    run_id = RUN_ID.search(log)
    assert run_id, f"the slurm executor did not run:\n{log[-3000:]}"

    # Snakemake's own log names one SLURM job id per submitted job.
    submitted = SUBMITTED.findall(log)
    assert len(submitted) == 3, f"expected 3 submissions, found {submitted}:\n{log[-3000:]}"
    assert len(set(submitted)) == 3, f"job ids not distinct: {submitted}"

    # Every job saw its own SLURM job id and ran on the cluster node.
    records = {}
    for name in ("first", "second"):
        records.update(_records(tmp_path / "results" / f"{name}.txt"))
    combined = _records(tmp_path / "results" / "combined.txt")
    assert {k: combined[k] for k in ("first", "second")} == records, "combine lost its inputs"
    records["combine"] = combined["combine"]
    seen_ids = [job for job, _ in records.values()]
    assert all(job.isdigit() for job in seen_ids), f"a job ran outside SLURM: {records}"
    assert sorted(seen_ids) == sorted(submitted), (seen_ids, submitted)
    assert {n for _, n in records.values()} == {node}, records

    # slurmctld confirms each as a completed batch job named after this run's id.
    fields = [scontrol_job(job) for job in submitted]
    assert {f["JobState"] for f in fields} == {"COMPLETED"}, fields
    assert {f["BatchFlag"] for f in fields} == {"1"}, fields
    assert {f["JobName"] for f in fields} == {run_id.group(1)}, fields
    assert {f["NodeList"] for f in fields} == {node}, fields


def _records(path: Path) -> dict[str, tuple[str, str]]:
    """Parse the `<rule> job=<id> node=<name>` lines a test job wrote."""
    assert path.is_file(), f"missing output {path}"
    out = {}
    for line in path.read_text().splitlines():
        match = RECORD.match(line)
        assert match, f"unexpected line in {path}: {line!r}"
        out[match.group(1)] = (match.group(2), match.group(3))
    return out
