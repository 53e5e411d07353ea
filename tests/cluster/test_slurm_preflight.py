"""The shipped SLURM profile on a cluster without accounting (issue 17).

1. The workflow runs through the shipped `profiles/slurm`, with nothing but site values on the
   command line, on the test cluster (accounting disabled, MinJobAge=3600) to completion: the
   preflight switches status queries to squeue and says so, instead of the plugin's silent wait.
2. On a cluster with neither sacct nor a long MinJobAge the same command stops before any job,
   with the fix. That cluster is a second, private slurmctld started by this test from its own
   slurm.conf (MinJobAge=60, no nodes needed since nothing may be submitted): MinJobAge cannot be
   changed at runtime (`scontrol update` has no such entity), and rewriting the shared cluster's
   slurm.conf would break other runs on it.

Skips only when `sbatch` is absent, and never with NEUROKINE_REQUIRE_SLURM=1.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fixtures.slurm import require_idle_node, require_slurm, scontrol_job
from fixtures.workflow import FAST_DEMO_CONFIGS, REPO, clean_env, snakemake_command, tail

from neurokine.workflow.slurm_preflight import PREFIX, probe_cluster

SLURM_PROFILE = REPO / "profiles" / "slurm"
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
#: One SLURM job of the real workflow: the job the issue saw finish and then wait forever on
#: (the fast demo is one shard; its plan is written by a local job first).
TARGET = "results/simulated/demo_synthetic/shard-001.h5ad"
SHORT_MIN_JOB_AGE = 60


@dataclass
class TimedRun:
    """A finished command: exit status, merged output, seconds to the end and to a marker."""

    returncode: int
    log: str
    seconds: float
    marker_seconds: float | None
    killed: bool


def run_timed(command: list[str], cwd: Path, env: dict[str, str], marker: str,
              timeout: float) -> TimedRun:
    """Run a command, noting when `marker` first appears; kill it (by its pid) after timeout."""
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    lines, marker_at = [], None
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker_at is None and marker in line:
                marker_at = time.monotonic() - started
        proc.wait()
    finally:
        killer.cancel()
    return TimedRun(proc.returncode, "".join(lines), time.monotonic() - started, marker_at,
                    killed=proc.returncode == -9)


def site_values(partition: str) -> list[str]:
    """The profile's default-resources plus the site's partition, as a user would set them.

    `--default-resources` on the command line replaces the profile's block, so the shipped
    entries are repeated from the file itself; the test cluster keeps no accounts (no
    slurm_account).
    """
    shipped = yaml.safe_load((SLURM_PROFILE / "profile.v9+.yaml").read_text())["default-resources"]
    return ["--default-resources", *(f"{k}={v}" for k, v in shipped.items()),
            f"slurm_partition={partition}"]


def default_partition() -> str:
    """The partition `sinfo` marks as the default."""
    names = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True,
                           timeout=30, check=True).stdout.split()
    marked = [n.rstrip("*") for n in names if n.endswith("*")]
    assert marked, f"no default partition in sinfo: {names}"
    return marked[0]


@pytest.mark.cluster
@pytest.mark.workflow
def test_shipped_profile_runs_to_completion_on_a_cluster_without_accounting(tmp_path):
    require_slurm()
    node = require_idle_node()
    facts = probe_cluster()
    assert facts.sacct_error, "the test cluster answers sacct: it no longer shows issue 17"
    assert facts.min_job_age is not None and facts.min_job_age >= 180, facts

    # The README's command, from the directory the run works in; only site values are added.
    # Keeping the successful jobs' SLURM logs lets the test read what ran inside them.
    command = [*snakemake_command(tmp_path, (), TARGET, "--workflow-profile", str(SLURM_PROFILE),
                                  *site_values(default_partition()),
                                  "--slurm-keep-successful-logs"),
               "--configfile", *map(str, FAST_DEMO_CONFIGS)]
    run = run_timed(command, tmp_path, clean_env(), PREFIX, timeout=300)
    assert not run.killed, f"snakemake hung and was killed after 300 s:\n{tail(run.log, 6000)}"
    assert run.returncode == 0, f"snakemake failed (rc={run.returncode}):\n{tail(run.log, 6000)}"

    # The preflight said what it did and what it relies on, before any job.
    switched = [line for line in run.log.splitlines() if line.startswith(PREFIX)]
    assert len(switched) == 1, switched
    assert "so job status is queried with squeue instead" in switched[0]
    assert f"MinJobAge={facts.min_job_age} s >= 180 s" in switched[0]
    assert run.log.index(PREFIX) < run.log.index("Select jobs to execute")

    # One real SLURM batch job, completed; the preflight never ran inside it.
    submitted = SUBMITTED.findall(run.log)
    assert len(submitted) == 1, submitted
    fields = scontrol_job(submitted[0])
    assert fields["JobState"] == "COMPLETED", fields
    assert fields["BatchFlag"] == "1" and fields["NodeList"] == node, fields
    assert fields["JobName"] == RUN_ID.search(run.log).group(1), fields
    job_log = Path(fields["StdOut"]).read_text()
    assert "rule simulate_shard:" in job_log and "1 of 1 steps (100%) done" in job_log
    assert PREFIX not in job_log, job_log[-3000:]
    assert (tmp_path / TARGET).is_file()
    print(f"\nshipped profile, no accounting: {run.seconds:.0f} s, {len(submitted)} SLURM job, "
          f"preflight message after {run.marker_seconds:.1f} s")


def _free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def private_controller(root: Path, min_job_age: int) -> Iterator[Path]:
    """A second slurmctld without accounting and with a short MinJobAge; yields its slurm.conf.

    It shares only munge with the test cluster: own name, ports, state, logs and pid file, and a
    node that never registers (State=FUTURE), so it can run no job. Stopped by its pid.
    """
    slurmctld = shutil.which("slurmctld") or "/usr/sbin/slurmctld"
    if not Path(slurmctld).is_file():
        pytest.fail("sbatch exists but slurmctld does not: install slurm-wlm "
                    "(tests/cluster/start_slurm.sh does)")
    for sub in ("state", "spool"):
        (root / sub).mkdir(parents=True)
    conf = root / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=nkpreflight",
        f"SlurmctldHost={socket.gethostname().split('.')[0]}(127.0.0.1)",
        f"SlurmUser={pwd.getpwuid(os.getuid()).pw_name}",
        "AuthType=auth/munge", "CryptoType=crypto/munge", "MpiDefault=none",
        "MailProg=/bin/true", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "SchedulerType=sched/builtin", "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        f"MinJobAge={min_job_age}",
        f"StateSaveLocation={root / 'state'}", f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}", f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
        "NodeName=ghost NodeAddr=127.0.0.1 CPUs=1 RealMemory=100 State=FUTURE",
        "PartitionName=ghost Nodes=ghost Default=YES MaxTime=INFINITE State=UP", ""]))
    env = {**clean_env(), "SLURM_CONF": str(conf)}
    with open(root / "slurmctld.out", "w") as out:
        daemon = subprocess.Popen([slurmctld, "-D", "-i", "-f", str(conf)], stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["scontrol", "ping"], env=env, capture_output=True,
                             timeout=30).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the private slurmctld did not start:\n"
                            + (root / "slurmctld.out").read_text()[-3000:])
            time.sleep(0.1)
        yield conf
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=15)


@pytest.mark.cluster
@pytest.mark.workflow
def test_preflight_stops_at_once_without_sacct_or_long_min_job_age(tmp_path, monkeypatch):
    require_slurm()
    require_idle_node()  # munge and the SLURM installation work
    shared_before = probe_cluster()
    workdir = tmp_path / "run"
    workdir.mkdir()
    with private_controller(tmp_path / "slurm", SHORT_MIN_JOB_AGE) as conf:
        monkeypatch.setenv("SLURM_CONF", str(conf))
        # What the preflight reads there, from the real sacct and `scontrol show config`.
        facts = probe_cluster()
        assert facts.sacct_error == "Slurm accounting storage is disabled", facts
        assert facts.min_job_age == SHORT_MIN_JOB_AGE, facts

        # The README's command, as a user with an unedited profile would type it.
        command = [*snakemake_command(workdir, (), "--workflow-profile", str(SLURM_PROFILE)),
                   "--configfile", *map(str, FAST_DEMO_CONFIGS)]
        env = {**clean_env(), "SLURM_CONF": str(conf)}
        run = run_timed(command, workdir, env, "cannot tell Snakemake when a job has finished",
                        timeout=300)
        queued = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i %j"], env=env,
                                capture_output=True, text=True, timeout=30, check=True).stdout
    assert not run.killed, f"snakemake hung and was killed:\n{tail(run.log, 6000)}"
    assert run.returncode != 0, tail(run.log, 6000)
    assert run.marker_seconds is not None, tail(run.log, 6000)

    message = " ".join(run.log.split())  # the error is printed as one long line; join wraps
    for part in ("profiles/slurm/profile.v9+.yaml", "slurm-status-command",
                 "`sacct` cannot answer (Slurm accounting storage is disabled)",
                 f"MinJobAge={SHORT_MIN_JOB_AGE} s, less than the 180 s",
                 "no job was submitted", "enable job accounting (slurmdbd)",
                 "`MinJobAge=300` (or more) in slurm.conf",
                 "add the line `slurm-status-command: squeue`"):
        assert part in message, (part, tail(run.log, 4000))
    # Stopped before the first job of any kind, local ones included.
    assert "Select jobs to execute" not in run.log and not SUBMITTED.search(run.log)
    assert not (workdir / "results").exists()
    assert queued.strip() == "", queued
    # The shared cluster is as it was.
    monkeypatch.delenv("SLURM_CONF")
    assert probe_cluster() == shared_before
    print(f"\nno sacct, MinJobAge={SHORT_MIN_JOB_AGE} s: preflight message after "
          f"{run.marker_seconds:.1f} s, exit {run.returncode} after {run.seconds:.1f} s")


@pytest.mark.workflow
def test_local_run_does_not_run_the_preflight(tmp_path):
    # No executor plugin but the local one: the hook must return at once. It would fail the run
    # if it did not (local executor settings have no status_command).
    command = snakemake_command(tmp_path, FAST_DEMO_CONFIGS, "results/resources/curated_genes.tsv",
                                "--cores", "1")
    run = subprocess.run(command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                         timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, tail(log)
    assert "localrule check_curated:" in log and PREFIX not in log, tail(log)
