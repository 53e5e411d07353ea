"""profiles/cluster-generic, exactly as shipped, drives a three-job workflow to completion.

No PBS server exists here, so `qsub` is a stand-in script on PATH that records its arguments
and runs the job script Snakemake gives it in the background, as a scheduler would. What is
tested is neurokine's side: the profile parses, its submit command is filled in per job with
the rule's threads, memory and runtime (and the shell part of it runs), and Snakemake follows
the jobs to completion through the job scripts' marker files. The real-scheduler path is
covered by the SLURM tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.workflow import REPO, clean_env, outputs_of, tail

pytestmark = pytest.mark.workflow

QSUB = """#!/bin/bash
# Stand-in for PBS qsub: record the arguments, run the job script (last argument) detached,
# print a job id.
echo "$*" >> "$QSUB_RECORD"
id=$(( $(wc -l < "$QSUB_RECORD") + 1000 ))
setsid bash "${@: -1}" > "$QSUB_OUTPUT/$id.log" 2>&1 < /dev/null &
echo "$id"
"""

SNAKEFILE = """
rule all:
    input: "results/combined.txt"

rule first:
    output: "results/first.txt"
    threads: 1
    resources: mem_mb=300, runtime=7
    shell: "echo first > {output}"

rule second:
    output: "results/second.txt"
    threads: 2
    resources: mem_mb=500, runtime=9
    shell: "echo second > {output}"

rule combine:
    input: "results/first.txt", "results/second.txt"
    output: "results/combined.txt"
    threads: 1
    resources: mem_mb=200, runtime=5
    shell: "cat {input} > {output}"
"""


def test_generic_profile_submits_each_job_with_its_resources(tmp_path: Path) -> None:
    bin_dir, output = tmp_path / "bin", tmp_path / "qsub-output"
    bin_dir.mkdir()
    output.mkdir()
    (bin_dir / "qsub").write_text(QSUB)
    (bin_dir / "qsub").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    (work / "Snakefile").write_text(SNAKEFILE)
    env = clean_env()
    env.update(PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env['PATH']}",
               QSUB_RECORD=str(tmp_path / "qsub.args"), QSUB_OUTPUT=str(output))
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--workflow-profile", "none", "--profile",
         str(REPO / "profiles/cluster-generic"), "--jobs", "3",
         # Check the job scripts' markers every 2 s instead of 10 (test speed only).
         "--seconds-between-status-checks", "2"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600)
    log = outputs_of(run)
    assert run.returncode == 0, tail(log) + "".join(p.read_text() for p in output.iterdir())
    assert (work / "results/combined.txt").read_text() == "first\nsecond\n"
    assert log.count("with external jobid") == 3, tail(log)
    calls = sorted((tmp_path / "qsub.args").read_text().splitlines())
    assert len(calls) == 3, calls
    expected = {"first": ("ppn=1", "mem=300mb", "walltime=7:00"),
                "second": ("ppn=2", "mem=500mb", "walltime=9:00"),
                "combine": ("ppn=1", "mem=200mb", "walltime=5:00")}
    for rule, fragments in expected.items():
        call = next(c for c in calls if f"-N nk.{rule} " in c)
        assert all(f in call for f in fragments), (rule, call)
        assert call.split()[-1].endswith(".sh"), call  # the job script comes last
    assert (work / "logs/cluster").is_dir()  # the shell part of the submit command ran
    shutil.rmtree(output)
