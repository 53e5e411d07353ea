"""A dataset split into shards of whole samples gives the same tables whatever the shard size.

The fast demo (12 donors) runs as 1 shard (the suite's reference run), 3 shards (up to the
tables) and 7 shards (the sharded reference the SLURM test also compares with). Every table of
the 3- and 7-shard runs equals the 1-shard run's within a relative 1e-9 (summation order is the
only thing allowed to differ); each shard's steps ran as their own jobs. Byte identity for one
and the same plan is checked by the SLURM test (cluster run against the local 7-shard run) and,
for one shard, by test_demo_workflow's forced rerun.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARDED_DEMO_SHARDS
from fixtures.workflow import (
    FAST_DEMO_CONFIGS,
    differing,
    digests,
    outputs_of,
    run_workflow,
    shard_overlay,
    tail,
)

from neurokine.validation.equivalence import result_tables, table_differences
from neurokine.workflow import paths
from neurokine.workflow.shards import read_plan

pytestmark = pytest.mark.workflow

DATASET = "demo_synthetic"
#: Per-shard steps: one job (and one benchmark file) per shard.
SHARD_RULES = ("simulate_shard", "qc_shard", "prepare_shard", "score_shard")
#: Targets of the 3-shard run: every table up to the comparisons and networks (no figures).
TABLE_TARGETS = tuple(path for level in ("fine", "lineage") for path in (
    paths.META_ANALYSIS.format(level=level),
    *(template.format(dataset=DATASET, level=level) for template in (
        paths.RESPONSE_ENRICHMENT, paths.ACTIVITY_TESTS, paths.INTERACTION_TESTS))))


def shards_of(workdir: Path) -> list[str]:
    """Shard ids of the demo dataset in a run's plan."""
    plan = read_plan(workdir / paths.SHARD_PLAN.format(dataset=DATASET))
    return list(dict.fromkeys(str(r["shard"]) for r in plan))


def shard_jobs(workdir: Path, rule: str) -> list[str]:
    """Shards whose job of `rule` ran (one benchmark file each)."""
    folder = workdir / Path(paths.benchmark(rule, DATASET)).with_suffix("")
    return sorted(p.stem.removeprefix("shard-") for p in folder.glob("shard-*.tsv"))


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory, fast_demo_reference) -> Path:
    """The fast demo in 3 shards, run up to its tables."""
    workdir = tmp_path_factory.mktemp("three_shards")
    plan = fast_demo_reference / paths.SHARD_PLAN.format(dataset=DATASET)
    overlay = shard_overlay(plan, 3, tmp_path_factory.mktemp("overlay"))
    run = run_workflow(workdir, *TABLE_TARGETS, configfiles=(*FAST_DEMO_CONFIGS, overlay))
    assert run.returncode == 0, tail(outputs_of(run))
    return workdir


def test_each_run_has_its_shards_and_one_job_per_shard_and_step(
        fast_demo_reference, three_shards, sharded_demo_reference):
    for workdir, expected in ((fast_demo_reference, 1), (three_shards, 3),
                              (sharded_demo_reference, SHARDED_DEMO_SHARDS)):
        shards = shards_of(workdir)
        assert len(shards) == expected, shards
        for rule in SHARD_RULES:
            assert shard_jobs(workdir, rule) == shards, (rule, workdir)
    # whole samples: every sample in exactly one shard, the same samples in every plan
    plans = [read_plan(w / paths.SHARD_PLAN.format(dataset=DATASET))
             for w in (fast_demo_reference, three_shards, sharded_demo_reference)]
    assert len({tuple(r["sample_id"] for r in plan) for plan in plans}) == 1


def test_every_table_is_the_same_whatever_the_shard_size(
        fast_demo_reference, three_shards, sharded_demo_reference):
    reference = result_tables(fast_demo_reference)
    assert len(reference) >= 20, reference
    three = result_tables(three_shards)
    # the 3-shard run stops at the tables: everything it made is compared, and it made every
    # QC, scoring, aggregate, comparison and network table
    stages = ("/prepared/", "/scores/", "/aggregate/", "/compare/", "/network/")
    made = {t for t in reference if any(stage in t for stage in stages)}
    assert len(made) >= 16 and made <= set(three), sorted(made - set(three))
    assert table_differences(fast_demo_reference, three_shards, three) == {}
    assert table_differences(fast_demo_reference, sharded_demo_reference) == {}
    identical = set(digests(fast_demo_reference)) - set(differing(digests(fast_demo_reference),
                                                                  digests(sharded_demo_reference)))
    print(f"\n{len(reference)} tables equal within 1e-9 at 1, 3 and {SHARDED_DEMO_SHARDS} shards; "
          f"{len(identical)} tables, figures and report files byte-identical at 1 and "
          f"{SHARDED_DEMO_SHARDS} shards")
