"""The shipped Snakemake profiles parse with the pinned Snakemake and say what they promise.

A profile key Snakemake does not know makes every run fail before it starts, so each profile
is checked against the real command-line parser (including the SLURM plugin's flags). These
tests need no cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PROFILE = REPO / "profiles" / "default"
SLURM_PROFILE = REPO / "profiles" / "slurm"
GENERIC_PROFILE = REPO / "profiles" / "cluster-generic"
TEST_PROFILE = REPO / "tests" / "cluster" / "profile"
PROFILE_FILE = "profile.v9+.yaml"

# The only settings in which a cluster test run may differ from a user's run.
TEST_OVERRIDES = {"slurm-status-command", "slurm-init-seconds-before-status-checks"}

TRIVIAL_SNAKEFILE = 'rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n'


def parse(argv: list[str]):
    """Parse argv exactly as the `snakemake` command does, profiles included."""
    from snakemake.cli import parse_args

    return parse_args(argv)[1]


def comparable(value: object) -> object:
    """A value that compares by content (some parsed settings are plain objects)."""
    if hasattr(value, "args"):  # DefaultResources: compare the entries as written
        return value.args
    return vars(value) if hasattr(value, "__dict__") else repr(value)


def dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("label", "args"),
    [
        ("default (found on its own as the workflow profile)", []),
        ("slurm, as users run it", ["--workflow-profile", str(SLURM_PROFILE)]),
        ("cluster-generic, as users run it", ["--workflow-profile", str(GENERIC_PROFILE)]),
        (
            "slurm + test overrides, as the cluster test runs it",
            [
                "--workflow-profile",
                "none",
                "--profile",
                str(SLURM_PROFILE),
                "--profile",
                str(TEST_PROFILE),
            ],
        ),
    ],
)
def test_profile_is_accepted_by_snakemake(tmp_path: Path, label: str, args: list[str]) -> None:
    (tmp_path / "Snakefile").write_text(TRIVIAL_SNAKEFILE)
    shutil.copytree(DEFAULT_PROFILE, tmp_path / "profiles" / "default")
    proc = dry_run(tmp_path, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{label}: snakemake rejected the profile:\n{out[-4000:]}"
    assert "unrecognized arguments" not in out, out[-4000:]
    if not args:
        assert "workflow specific profile profiles/default" in out, out[-2000:]


def test_default_profile_caps_memory_below_this_machine() -> None:
    args = parse(["--workflow-profile", str(DEFAULT_PROFILE)])
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    cap = args.resources["mem_mb"].value
    assert 1000 <= cap < total_mb, (cap, total_mb)
    assert args.cores == len(os.sched_getaffinity(0))
    assert args.retries >= 1
    assert args.rerun_incomplete and args.printshellcmds


def test_slurm_profile_submits_with_site_defaults() -> None:
    args = parse(["--workflow-profile", str(SLURM_PROFILE)])
    assert args.executor == "slurm"
    assert args.retries >= 1 and args.rerun_incomplete
    # Partition and account are site settings: shipped commented out, never hard-coded.
    names = {entry.split("=", 1)[0] for entry in args.default_resources.args}
    assert not names & {"slurm_partition", "slurm_account"}, args.default_resources.args
    # Status checks stay on the plugin's own default (sacct where it exists).
    assert not isinstance(args.slurm_status_command, str), args.slurm_status_command


def test_test_profile_only_changes_status_checks() -> None:
    keys = set(yaml.safe_load((TEST_PROFILE / PROFILE_FILE).read_text()))
    assert keys <= TEST_OVERRIDES, f"test profile changes more than status checks: {keys}"

    user = parse(["--workflow-profile", "none", "--profile", str(SLURM_PROFILE)])
    test = parse(
        [
            "--workflow-profile",
            "none",
            "--profile",
            str(SLURM_PROFILE),
            "--profile",
            str(TEST_PROFILE),
        ]
    )
    assert test.slurm_status_command == "squeue"
    assert test.slurm_init_seconds_before_status_checks < 40
    changed = {
        name
        for name in vars(user)
        if not name.startswith("slurm_")
        and name != "profile"  # the list of profiles itself
        and comparable(vars(user)[name]) != comparable(vars(test)[name])
    }
    assert not changed, f"the test profile changed user settings: {sorted(changed)}"


def test_cluster_generic_profile_submits_with_every_rule_resource() -> None:
    args = parse(["--workflow-profile", str(GENERIC_PROFILE)])
    assert args.executor == "cluster-generic"
    assert args.retries >= 1 and args.rerun_incomplete
    submit = args.cluster_generic_submit_cmd
    for placeholder in ("{threads}", "{resources.mem_mb}", "{resources.runtime}", "{rule}"):
        assert placeholder in submit, (placeholder, submit)
