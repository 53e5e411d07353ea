"""The SLURM preflight's decision (issue 17): which status command, or which fix.

The decision is a pure function of what the cluster answered; the cluster tests
(tests/cluster/test_slurm_preflight.py) feed it real answers. Here every branch is checked, and
the constants it copies from snakemake-executor-plugin-slurm are checked against the installed
plugin's own source, so a plugin upgrade that changes them fails here instead of hanging.
"""

from __future__ import annotations

import inspect
import shlex
from datetime import datetime

import pytest

from neurokine.errors import InputError
from neurokine.workflow.slurm_preflight import (
    MAX_SECONDS_BETWEEN_CHECKS,
    PLUGIN_SQUEUE_FACTOR,
    PREFIX,
    ClusterFacts,
    SlurmStatusError,
    choose_status_command,
    parse_min_job_age,
    sacct_query,
    squeue_min_job_age,
)

NO_ACCOUNTING = "Slurm accounting storage is disabled"

# `scontrol show config` as SLURM 22.05 prints it (excerpt of the test cluster's answer).
SCONTROL_CONFIG = """\
Configuration data as of 2026-12-05T08:00:00
AccountingStorageType   = accounting_storage/none
MaxJobCount             = 10000
MinJobAge               = 3600 sec
MpiDefault              = none
"""


@pytest.mark.parametrize(("line", "seconds"), [
    ("MinJobAge               = 3600 sec", 3600),
    ("MinJobAge = 300", 300),
    ("MinJobAge=2 min", 120),
    ("MinJobAge = 1h", 3600),
    ("MinJobAge = 0 sec", 0),
])
def test_min_job_age_is_read_in_seconds(line, seconds):
    assert parse_min_job_age(f"ClusterName = x\n{line}\nMpiDefault = none\n") == seconds


@pytest.mark.parametrize("text", [
    "ClusterName = x\n",                       # not printed at all
    "MinJobAge = 5 fortnights\n",              # a unit we cannot convert
    "MinJobAge = (null)\n",
    "MinJobAgeExtra = 3600 sec\n",             # another key that merely starts the same
])
def test_unreadable_min_job_age_is_none(text):
    assert parse_min_job_age(text) is None


def test_min_job_age_from_a_full_config_listing():
    assert parse_min_job_age(SCONTROL_CONFIG) == 3600


def test_squeue_threshold_is_the_longer_of_the_check_gap_and_the_plugin_rule():
    assert squeue_min_job_age(40) == MAX_SECONDS_BETWEEN_CHECKS == 180   # plugin default wait
    assert squeue_min_job_age(2) == 180
    assert squeue_min_job_age(100) == 300


def test_working_sacct_is_kept():
    decision = choose_status_command("sacct", ClusterFacts(None, 60), 40)
    assert (decision.status_command, decision.changed) == ("sacct", False)
    assert decision.message.startswith(PREFIX)


def test_squeue_is_kept_and_its_condition_stated_when_min_job_age_is_long():
    decision = choose_status_command("squeue", ClusterFacts(NO_ACCOUNTING, 3600), 40)
    assert (decision.status_command, decision.changed) == ("squeue", False)
    assert "MinJobAge=3600 s >= 180 s" in decision.message


def test_failing_sacct_switches_to_squeue_when_min_job_age_is_long_enough():
    decision = choose_status_command("sacct", ClusterFacts(NO_ACCOUNTING, 3600), 40)
    assert (decision.status_command, decision.changed) == ("squeue", True)
    assert NO_ACCOUNTING in decision.message
    assert "MinJobAge=3600 s >= 180 s" in decision.message
    assert "`slurm-status-command: squeue`" in decision.message


def test_the_threshold_is_inclusive():
    assert choose_status_command("sacct", ClusterFacts(NO_ACCOUNTING, 180), 40).status_command \
        == "squeue"
    with pytest.raises(SlurmStatusError):
        choose_status_command("sacct", ClusterFacts(NO_ACCOUNTING, 179), 40)


def test_squeue_with_short_min_job_age_goes_to_a_working_sacct():
    decision = choose_status_command("squeue", ClusterFacts(None, 150), 40)
    assert (decision.status_command, decision.changed) == ("sacct", True)
    assert "MinJobAge=150 s is below 180 s" in decision.message


def test_no_command_chosen_by_the_plugin_means_squeue():
    assert choose_status_command(None, ClusterFacts(None, 3600), 40).changed is False
    assert choose_status_command(None, ClusterFacts(None, 3600), 40).status_command == "squeue"


def test_neither_sacct_nor_long_min_job_age_stops_with_the_cluster_fix_and_profile_line():
    with pytest.raises(SlurmStatusError) as caught:
        choose_status_command("sacct", ClusterFacts(NO_ACCOUNTING, 60), 40)
    error = caught.value
    assert isinstance(error, InputError)
    assert error.field == "slurm-status-command"
    assert "profiles/slurm/profile.v9+.yaml" in error.source
    assert NO_ACCOUNTING in error.problem and "MinJobAge=60 s" in error.problem
    assert "no job was submitted" in error.problem
    # MinJobAge advice never goes below SLURM's own default of 300 s.
    assert "`MinJobAge=300`" in error.fix and "scontrol reconfigure" in error.fix
    assert "`slurm-status-command: squeue`" in error.fix


def test_unknown_min_job_age_stops_and_says_why():
    facts = ClusterFacts(NO_ACCOUNTING, None, "`scontrol show config` failed: Unable to contact")
    with pytest.raises(SlurmStatusError, match=r"MinJobAge is unknown .*Unable to contact"):
        choose_status_command("sacct", facts, 40)


def test_long_initial_wait_is_fixed_in_the_profile_alone():
    # MinJobAge outlasts the gap between checks; only the plugin's 3 x initial-wait rule fails.
    with pytest.raises(SlurmStatusError) as caught:
        choose_status_command("squeue", ClusterFacts(NO_ACCOUNTING, 200), 100)
    fix = caught.value.fix
    assert "`slurm-init-seconds-before-status-checks: 66`" in fix
    assert PLUGIN_SQUEUE_FACTOR * 66 <= 200 and squeue_min_job_age(66) <= 200
    assert "slurm.conf" not in fix


# The constants above are copied from the pinned plugin; these checks read its source.

def test_sacct_probe_asks_the_plugins_own_question():
    from snakemake_executor_plugin_slurm.job_status_query import query_job_status_sacct

    ours = sacct_query(datetime.now())
    plugin = shlex.split(query_job_status_sacct("neurokine-slurm-preflight"))
    # Both start two days back at the top of an hour; compare all but that value.
    start = ours.index("--starttime") + 1
    assert ours[:start] + ours[start + 1:] == plugin[:start] + plugin[start + 1:]


def test_plugin_constants_still_hold():
    from snakemake_executor_plugin_slurm import Executor

    checks = inspect.getsource(Executor.check_active_jobs)
    assert f"max_sleep_time = {MAX_SECONDS_BETWEEN_CHECKS}" in checks
    assert f"dynamic_check_threshold = {PLUGIN_SQUEUE_FACTOR} * initial_interval" in checks
    assert "status_command_name = self.get_status_command()" in checks
    # The onstart hook changes the setting after the executor exists: it must be read per check.
    assert "self.workflow.executor_settings.status_command" in inspect.getsource(
        Executor.get_status_command)
