"""The demo workflow, split into shards, submitted through profiles/slurm to the real
single-node SLURM cluster.

The fast demo runs in SHARDED_DEMO_SHARDS (7) shards of whole samples. Asserts that every
non-local job ran as its own SLURM batch job (Snakemake's submissions, slurmctld's records, each
job's SLURM log), that each shard's simulation, QC, preparation and scoring were distinct
batch jobs, and that the tables, figures and report are byte-identical to an uninterrupted
local run of the same config (the same shard plan). Prints the duration and the number of
jobs. Skips only when `sbatch` is absent, and never with NEUROKINE_REQUIRE_SLURM=1.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SHARDED_DEMO_SHARDS
from fixtures.slurm import node_memory_mb, require_idle_node, require_slurm, scontrol_job
from fixtures.workflow import (
    FAST_DEMO_CONFIGS,
    REPO,
    clean_env,
    differing,
    digests,
    outputs_of,
    shard_overlay,
    snakemake_command,
    tail,
    temp_debris,
)

from neurokine.workflow import paths

pytestmark = [pytest.mark.cluster, pytest.mark.workflow]

SLURM_PROFILE = REPO / "profiles" / "slurm"
TEST_PROFILE = REPO / "tests" / "cluster" / "profile"
RUN_ID = re.compile(r"SLURM run ID: (\S+)")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
RULE_HEADER = re.compile(r"^(localrule|rule) (\w+):$", re.MULTILINE)
#: Rules of the demo that are real jobs; check_curated, plan_shards, planted_effects and `all`
#: run on the submitting host.
SHARD_RULES = {"simulate_shard", "qc_shard", "prepare_shard", "score_shard"}
#: Rules with one job per cell-type level (fine and lineage, the config default).
LEVEL_RULES = {"aggregate_shards", "compare_groups", "response_enrichment", "estimate_activities",
               "finding_genes", "meta_analysis", "build_network", "plot_figures"}
N_LEVELS = 2
CLUSTER_RULES = {*SHARD_RULES, *LEVEL_RULES, "gather_qc", "plan_scoring", "plot_cross_dataset",
                 "render_report"}


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, fast_demo_reference):
    """The sharded fast demo run through the user's SLURM profile plus the test overrides."""
    require_slurm()
    node = require_idle_node()
    workdir = tmp_path_factory.mktemp("slurm_demo")
    plan = fast_demo_reference / paths.SHARD_PLAN.format(dataset="demo_synthetic")
    overlay = shard_overlay(plan, SHARDED_DEMO_SHARDS, tmp_path_factory.mktemp("overlay"))
    command = snakemake_command(
        workdir, (*FAST_DEMO_CONFIGS, overlay), "--workflow-profile", "none",
        "--profile", str(SLURM_PROFILE),
        "--profile", str(TEST_PROFILE), "--jobs", "4",
        # Keep every job's SLURM log: the test reads them.
        "--slurm-keep-successful-logs")
    started = time.monotonic()
    # The SLURM log directory is relative to where Snakemake starts: start it in workdir.
    run = subprocess.run(command, cwd=workdir, env=clean_env(), capture_output=True, text=True,
                         timeout=1500)
    seconds = time.monotonic() - started
    log = outputs_of(run)
    assert run.returncode == 0, f"snakemake on SLURM failed (rc={run.returncode}):\n{tail(log, 8000)}"
    submitted = SUBMITTED.findall(log)
    local = sorted(rule for kind, rule in RULE_HEADER.findall(log) if kind == "localrule")
    print(f"\nSLURM demo run: {seconds:.0f} s, {len(submitted)} SLURM jobs submitted, "
          f"local jobs on the submitting host: {local}")
    return {"workdir": workdir, "log": log, "node": node, "submitted": submitted,
            "seconds": seconds}


def test_every_job_ran_as_its_own_slurm_batch_job(slurm_run):
    log, node = slurm_run["log"], slurm_run["node"]
    run_id = RUN_ID.search(log)
    assert run_id, f"the slurm executor did not run:\n{tail(log)}"
    headers = RULE_HEADER.findall(log)
    remote_rules = sorted(rule for kind, rule in headers if kind == "rule")
    assert set(remote_rules) == CLUSTER_RULES, headers
    submitted = slurm_run["submitted"]
    slurm_ids = [slurm_id for _, slurm_id in submitted]
    n_jobs = (len(CLUSTER_RULES) + (SHARDED_DEMO_SHARDS - 1) * len(SHARD_RULES)
              + (N_LEVELS - 1) * len(LEVEL_RULES))
    assert len(submitted) == len(remote_rules) == n_jobs, submitted
    assert len(set(slurm_ids)) == len(slurm_ids), f"job ids not distinct: {slurm_ids}"

    ran, shards, levels = {}, {}, {}
    for slurm_id in slurm_ids:
        fields = scontrol_job(slurm_id)
        assert fields["JobState"] == "COMPLETED", fields
        assert fields["BatchFlag"] == "1", fields
        assert fields["JobName"] == run_id.group(1), fields
        assert fields["NodeList"] == node, fields
        assert fields["WorkDir"] == str(slurm_run["workdir"]), fields
        comment = re.fullmatch(r"rule_(\w+?)(_wildcards_(.*))?", fields["Comment"])
        rule = comment.group(1)
        ran[rule] = fields
        if rule in SHARD_RULES:  # each shard of each step: a batch job of its own
            shards.setdefault(rule, []).append(comment.group(3))
        if rule in LEVEL_RULES:  # each cell-type level: a batch job of its own
            levels.setdefault(rule, set()).add(comment.group(3))
        # The job's own SLURM log shows Snakemake running that rule inside the allocation.
        job_log = Path(fields["StdOut"])
        assert job_log.is_file(), fields["StdOut"]
        text = job_log.read_text()
        assert f"rule {rule}:" in text and "1 of 1 steps (100%) done" in text, text[-3000:]
    assert set(ran) == CLUSTER_RULES, sorted(ran)
    for rule in SHARD_RULES:
        assert len(set(shards[rule])) == len(shards[rule]) == SHARDED_DEMO_SHARDS, shards[rule]
    for rule in LEVEL_RULES:
        assert len(levels[rule]) == N_LEVELS, (rule, levels[rule])
    print(f"\n{len(slurm_ids)} SLURM jobs, of which {SHARDED_DEMO_SHARDS} per shard step "
          f"({', '.join(sorted(SHARD_RULES))})")


def test_jobs_requested_their_rule_resources_and_fit_the_node(slurm_run):
    capacity = node_memory_mb(slurm_run["node"])
    for _, slurm_id in slurm_run["submitted"]:
        fields = scontrol_job(slurm_id)
        memory = int(fields["MinMemoryNode"].removesuffix("M"))
        minutes = sum(int(x) * f for x, f in zip(fields["TimeLimit"].split(":"), (60, 1, 1 / 60),
                                                  strict=True))
        assert 1000 <= memory <= capacity, fields
        # Every rule asks for at least 15 minutes; the profile's 120-min default is not used.
        assert 15 <= minutes < 120, fields
        assert fields["NumCPUs"] == "1", fields


def test_outputs_are_byte_identical_to_a_local_run(slurm_run, sharded_demo_reference):
    local, cluster = digests(sharded_demo_reference), digests(slurm_run["workdir"])
    assert len(local) >= 12, sorted(local)
    assert differing(local, cluster) == []
    assert temp_debris(slurm_run["workdir"] / "results") == []
    print(f"\n{len(local)} tables, figures and report files byte-identical to the local run")
