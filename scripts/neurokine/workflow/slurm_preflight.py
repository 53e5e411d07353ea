"""Before the first SLURM job: choose a job-status query that can see every job finish.

Why: snakemake-executor-plugin-slurm 2.8.0 asks `sacct` for job states by default whenever the
binary exists. On a cluster without accounting storage `sacct` exits non-zero ("Slurm
accounting storage is disabled"); after its status attempts fail the plugin reports nothing,
drops the jobs from its watch list and Snakemake waits forever without a word (issue 17).
`squeue --states=all` can stand in, but only sees a finished job until slurmctld purges it,
MinJobAge seconds after it ended, so it is safe only when MinJobAge outlasts the longest gap
between two status checks.

This module decides which command to use, or refuses to start with the fix. It runs `sacct`
and `scontrol show config` once (milliseconds) and never imports Snakemake: the workflow's
onstart hook passes the plugin settings in and applies the answer.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta

from neurokine.errors import InputError

#: Plugin 2.8.0 lengthens the wait between status checks by 10 s after every check that finds
#: no job finished, up to this cap (`max_sleep_time` in its check_active_jobs).
MAX_SECONDS_BETWEEN_CHECKS = 180
#: The plugin itself replaces squeue by sacct when MinJobAge < this x the initial wait
#: (`slurm-init-seconds-before-status-checks`), even where sacct cannot answer.
PLUGIN_SQUEUE_FACTOR = 3
#: SLURM's own default MinJobAge (slurm.conf(5)), named in the fix.
SLURM_DEFAULT_MIN_JOB_AGE = 300
#: The profile users run; the fix names the line to add to it.
PROFILE_FILE = "profiles/slurm/profile.v9+.yaml"
#: Prefix of every line the preflight logs, so a run's log can be searched for it.
PREFIX = "SLURM preflight"
#: The plugin waits up to this long for one status query (`query_job_status`).
QUERY_TIMEOUT_S = 60

_MIN_JOB_AGE = re.compile(r"^\s*MinJobAge\s*=\s*(\d+)\s*([A-Za-z]*)\s*$", re.MULTILINE)
_UNIT_SECONDS = {"": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
                 "min": 60, "mins": 60, "minute": 60, "minutes": 60,
                 "h": 3600, "hour": 3600, "hours": 3600}


class SlurmStatusError(InputError):
    """The cluster cannot report finished jobs to the SLURM plugin; the message says the fix."""


@dataclass(frozen=True)
class ClusterFacts:
    """What the submitting host can learn about job-status queries."""

    sacct_error: str | None  # None when sacct answers the plugin's query
    min_job_age: int | None  # seconds; None when unreadable
    min_job_age_error: str | None = None  # why it is unreadable


@dataclass(frozen=True)
class StatusDecision:
    """The status command to use and the log line that explains it."""

    status_command: str
    message: str
    changed: bool


def parse_min_job_age(config_text: str) -> int | None:
    """MinJobAge in seconds from `scontrol show config` output, or None if absent or unclear."""
    match = _MIN_JOB_AGE.search(config_text)
    if match is None or match.group(2).lower() not in _UNIT_SECONDS:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def squeue_min_job_age(init_seconds: int) -> int:
    """Shortest MinJobAge (s) at which squeue sees every finished job of the plugin's run."""
    return max(MAX_SECONDS_BETWEEN_CHECKS, PLUGIN_SQUEUE_FACTOR * init_seconds)


def _threshold_reason(init_seconds: int) -> str:
    """Why squeue needs that MinJobAge, in words."""
    return (f"the SLURM plugin waits up to {MAX_SECONDS_BETWEEN_CHECKS} s between two status "
            f"checks, and goes back to sacct below {PLUGIN_SQUEUE_FACTOR} x "
            f"slurm-init-seconds-before-status-checks = {PLUGIN_SQUEUE_FACTOR * init_seconds} s")


def _run(command: list[str], timeout: float) -> tuple[int, str, str]:
    """Return code, stdout and stderr of a command; 127 when it is not installed."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError:
        return 127, "", f"`{command[0]}` is not installed on this host"
    except subprocess.TimeoutExpired:
        return 124, "", f"`{command[0]}` did not answer within {timeout:.0f} s"
    return done.returncode, done.stdout, done.stderr


def _first_line(rc: int, stderr: str, stdout: str) -> str:
    """The first non-empty line a failed command printed, or its exit status."""
    for line in (stderr + "\n" + stdout).splitlines():
        if line.strip():
            return line.strip()
    return f"exit status {rc}"


def sacct_query(now: datetime | None = None) -> list[str]:
    """The plugin's own status query, for a job name no run uses."""
    start = (now or datetime.now()) - timedelta(days=2)
    return ["sacct", "-X", "--parsable2", "--clusters", "all", "--noheader",
            "--format=JobIdRaw,State", "--starttime", f"{start:%Y-%m-%dT%H:00}",
            "--endtime", "now", "--name", "neurokine-slurm-preflight"]


def probe_cluster(timeout: float = QUERY_TIMEOUT_S) -> ClusterFacts:
    """Ask sacct the plugin's question and read MinJobAge, as this host sees the cluster."""
    rc, out, err = _run(sacct_query(), timeout)
    sacct_error = None if rc == 0 else _first_line(rc, err, out)
    rc, out, err = _run(["scontrol", "show", "config"], timeout)
    if rc != 0:
        return ClusterFacts(sacct_error, None, f"`scontrol show config` failed: "
                                               f"{_first_line(rc, err, out)}")
    age = parse_min_job_age(out)
    return ClusterFacts(sacct_error, age,
                        None if age is not None else "`scontrol show config` shows no MinJobAge")


def _squeue_condition(age: int, init_seconds: int) -> str:
    """The MinJobAge condition squeue relies on, with this cluster's value."""
    return (f"This relies on MinJobAge={age} s >= {squeue_min_job_age(init_seconds)} s: squeue "
            "sees a finished job only until slurmctld forgets it, MinJobAge after it ended, and "
            f"{_threshold_reason(init_seconds)}")


def _refusal(facts: ClusterFacts, init_seconds: int, profile: str) -> SlurmStatusError:
    """The error for a cluster where neither sacct nor squeue can see every job finish."""
    need = squeue_min_job_age(init_seconds)
    age = (f"MinJobAge is unknown ({facts.min_job_age_error})" if facts.min_job_age is None
           else f"squeue forgets a finished job after MinJobAge={facts.min_job_age} s, less than "
                f"the {need} s that squeue-based checks need ({_threshold_reason(init_seconds)})")
    problem = (f"this cluster cannot tell Snakemake when a job has finished: `sacct` cannot "
               f"answer ({facts.sacct_error}) and {age}. Snakemake would wait forever without "
               "output, so no job was submitted")
    line = "`slurm-status-command: squeue`"
    if facts.min_job_age is not None and facts.min_job_age >= MAX_SECONDS_BETWEEN_CHECKS:
        # Only the plugin's 3 x initial-wait rule is in the way: the profile alone can fix it.
        fix = (f"add the line `slurm-init-seconds-before-status-checks: "
               f"{facts.min_job_age // PLUGIN_SQUEUE_FACTOR}` and the line {line} to {profile}")
    else:
        fix = (f"ask the cluster's administrators to enable job accounting (slurmdbd), or to set "
               f"`MinJobAge={max(need, SLURM_DEFAULT_MIN_JOB_AGE)}` (or more) in slurm.conf and "
               f"run `scontrol reconfigure`; then add the line {line} to {profile} (or run "
               "again as before: this check then switches to squeue by itself)")
    return SlurmStatusError(f"{profile} (or --slurm-status-command)", "slurm-status-command",
                            problem, fix)


def choose_status_command(requested: str | None, facts: ClusterFacts, init_seconds: int,
                          profile: str = PROFILE_FILE) -> StatusDecision:
    """Keep the requested status command if it works, else the one that does, else raise."""
    requested = requested or "squeue"  # the plugin queries squeue when it chose no command
    need = squeue_min_job_age(init_seconds)
    squeue_ok = facts.min_job_age is not None and facts.min_job_age >= need
    sacct_ok = facts.sacct_error is None
    if requested == "sacct" and sacct_ok:
        return StatusDecision("sacct", f"{PREFIX}: job status is queried with sacct, which "
                                       "answers on this cluster.", changed=False)
    if requested == "squeue" and squeue_ok:
        return StatusDecision("squeue", f"{PREFIX}: job status is queried with squeue. "
                              f"{_squeue_condition(facts.min_job_age, init_seconds)}.",
                              changed=False)
    if squeue_ok:
        return StatusDecision("squeue", (
            f"{PREFIX}: `sacct` cannot answer on this cluster ({facts.sacct_error}), so job "
            f"status is queried with squeue instead. "
            f"{_squeue_condition(facts.min_job_age, init_seconds)}. To choose squeue yourself, "
            f"add the line `slurm-status-command: squeue` to {profile}."), changed=True)
    if sacct_ok:
        return StatusDecision("sacct", (
            f"{PREFIX}: squeue was asked for, but MinJobAge={facts.min_job_age} s is below "
            f"{need} s ({_threshold_reason(init_seconds)}), so a finished job could vanish from "
            "squeue unseen; sacct answers on this cluster and is used instead."), changed=True)
    raise _refusal(facts, init_seconds, profile)


def preflight(requested: str | None, init_seconds: int,
              profile: str = PROFILE_FILE) -> StatusDecision:
    """Probe the cluster from this host and choose the status command (or raise the fix)."""
    return choose_status_command(requested, probe_cluster(), init_seconds, profile)
