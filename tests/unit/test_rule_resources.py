"""Every rule that runs a job declares threads, a log, a benchmark, and mem_mb and runtime that
follow its input size (per-shard rules: their shard's size in the shard plan), grow with the
retry attempt and stay under the memory cap.

The rules are read by Snakemake itself (its API parses the real Snakefile, in a subprocess so
its global state stays out of the test session) and each request is evaluated exactly as
Snakemake evaluates it for a job (`Rule.expand_resources`), for small and large inputs and
for every attempt the shipped profiles allow. `threads:` is checked in the rule source, since
a rule without it silently gets one thread.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((REPO / "workflow/rules").glob("*.smk"))
#: Retries in the shipped profiles; requests are evaluated for attempts 1..max+1.
MAX_RETRIES = max(yaml.safe_load((REPO / f"profiles/{p}/profile.v9+.yaml").read_text())["retries"]
                  for p in ("default", "slurm"))
ATTEMPTS = list(range(1, MAX_RETRIES + 2))
SIZES_MB = (0.0, 50.0, 5000.0, 500000.0)
#: Rules whose requests come from the shard plan, the config or the registry, not from their
#: input files.
SHARD_RULES = {"simulate_shard", "qc_shard", "prepare_shard", "score_shard"}
SIZED_ELSEWHERE = {**dict.fromkeys(SHARD_RULES, "the shard's size in the shard plan"),
                   "fetch_dataset": "registry file sizes", "load_dataset": "deposit file sizes"}
#: The shard plan the evaluation reads: a small and a large shard of one dataset (cells, stored
#: counts); the largest sample of each is its first.
PLAN_SHARDS = {"001": [(2_000, 4_000_000), (1_500, 3_000_000)],
               "002": [(150_000, 300_000_000), (50_000, 100_000_000)]}

EVALUATE = r"""
import json, sys
from pathlib import Path
from types import SimpleNamespace
from snakemake.api import SnakemakeApi
from snakemake.iocontainers import Wildcards
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

repo, workdir, dataset, configfiles, sizes, attempts, shards = json.loads(sys.argv[1])
out = {}
with SnakemakeApi(OutputSettings(quiet=True)) as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(cores=1),
        config_settings=ConfigSettings(configfiles=[Path(p) for p in configfiles]),
        snakefile=Path(repo) / "Snakefile", workdir=Path(workdir))._workflow
    for rule in workflow.rules:
        record = {"runs": not rule.norun, "log": bool(rule.log), "benchmark": bool(rule.benchmark),
                  "local": rule.name in workflow._localrules, "requests": {}}
        if not rule.norun:
            for shard in shards:
                names = {"dataset": dataset, "shard": shard}
                wildcards = Wildcards(fromdict={w: names.get(w, dataset) for w in rule.wildcard_names})
                for size in sizes:
                    rows = []
                    for attempt in attempts:
                        res = rule.expand_resources(wildcards, SimpleNamespace(size_mb=size), attempt)
                        rows.append({k: res.get(k) for k in ("mem_mb", "runtime", "_cores")})
                    record["requests"].setdefault(shard, {})[str(size)] = rows
            record["shards"] = record["requests"]
            record["requests"] = record["requests"][shards[0]]
        out[rule.name] = record
heavy = {"scipy", "anndata", "scanpy", "h5py", "sklearn", "numba", "matplotlib", "statsmodels"}
out["__modules__"] = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print("RESULT " + json.dumps(out))
"""


def write_plan(workdir: Path, dataset: str) -> None:
    """The shard plan PLAN_SHARDS describes, where the workflow keeps the dataset's plan."""
    from neurokine.workflow import paths

    rows = ["shard\tsample_id\tn_cells\tnnz\tn_genes"]
    for shard, samples in PLAN_SHARDS.items():
        rows += [f"{shard}\ts{shard}_{i}\t{cells}\t{nnz}\t20000"
                 for i, (cells, nnz) in enumerate(samples)]
    plan = workdir / paths.SHARD_PLAN.format(dataset=dataset)
    plan.parent.mkdir(parents=True)
    plan.write_text("\n".join(rows) + "\n")


def evaluate_rules(tmp_path: Path, dataset: str, *configfiles: Path) -> dict:
    """Rule attributes and evaluated requests, from Snakemake's own parse of the workflow
    (`requests`: the small shard's; `shards`: per shard of PLAN_SHARDS)."""
    write_plan(tmp_path / "work", dataset)
    args = json.dumps([str(REPO), str(tmp_path / "work"), dataset, [str(p) for p in configfiles],
                       list(SIZES_MB), ATTEMPTS, list(PLAN_SHARDS)])
    run = subprocess.run([sys.executable, "-c", EVALUATE, args], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def rule_blocks() -> dict[str, str]:
    """Source text of every rule, by name."""
    blocks = {}
    for path in RULE_FILES:
        parts = re.split(r"^(?:rule|checkpoint) (\w+):\n", path.read_text(), flags=re.MULTILINE)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            blocks[name] = body.split("\n\n\n")[0]
    blocks.update({"all": (REPO / "Snakefile").read_text().split("rule all:", 1)[1]})
    return blocks


@pytest.fixture(scope="module")
def demo_rules(tmp_path_factory) -> dict:
    """The shipped configuration (demo), evaluated with a public dataset id as wildcard."""
    return evaluate_rules(tmp_path_factory.mktemp("rules"), "heming2021",
                          REPO / "config/config.yaml")


@pytest.fixture(scope="module")
def big_rules(tmp_path_factory) -> dict:
    """A large simulated cohort, a 3 GB local deposit and a lower memory cap."""
    tmp = tmp_path_factory.mktemp("rules_big")
    deposit = tmp / "cohort.h5ad"
    with open(deposit, "wb") as handle:  # sparse file: 3 GB on paper, nothing on disk
        handle.truncate(3 * 2**30)
    registry = {"big_user": {
        "title": "big", "loader": "h5ad", "tissue": ["CSF"], "citation": "none", "licence": "none",
        "files": [{"name": "cohort.h5ad", "role": "h5ad", "path": str(deposit)}],
        "metadata": {"columns": {"donor": "d", "disease": "g", "cell_type": "c"},
                     "constants": {"tissue": "CSF"}},
        "disease_map": {"h": "control", "m": "MS"}}}
    (tmp / "registry.yaml").write_text(yaml.safe_dump(registry))
    demo = yaml.safe_load((REPO / "config/config.yaml").read_text())
    overlay = {"max_mem_mb": 12000, "datasets": ["big_user"], "registry": str(tmp / "registry.yaml"),
               "compare": {**demo["compare"], "contrasts": [{"case": "MS", "reference": "control"}]},
               "simulation": {**demo["simulation"], "donors_per_group": 100,
                              "cells_per_donor": {"min": 2000, "max": 5000},
                              "n_background_genes": 20000}}
    (tmp / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    return evaluate_rules(tmp, "big_user", REPO / "config/config.yaml", tmp / "overlay.yaml")


def job_rules(rules: dict) -> dict:
    """Rules that run a job (target rules such as `all` run nothing)."""
    return {name: rec for name, rec in rules.items() if name != "__modules__" and rec["runs"]}


def test_every_job_rule_declares_threads_log_benchmark_and_requests(demo_rules):
    blocks = rule_blocks()
    jobs = job_rules(demo_rules)
    assert {"prepare_shard", "score_shard", "compare_groups", "load_dataset"} <= set(jobs)
    assert set(demo_rules) - {"__modules__"} <= set(blocks), sorted(set(demo_rules) - set(blocks))
    problems = []
    for name, record in jobs.items():
        # a fixed count, or the resources.smk helper that sizes threads from the input
        if not re.search(r"^    threads: (\d+|threads_for_input\(|shard_threads\()", blocks[name],
                         flags=re.MULTILINE):
            problems.append(f"{name}: no threads")
        for key in ("log", "benchmark"):
            if not record[key]:
                problems.append(f"{name}: no {key}")
        for row in record["requests"]["0.0"]:
            if not isinstance(row["mem_mb"], int) or not isinstance(row["runtime"], int):
                problems.append(f"{name}: mem_mb/runtime not declared ({row})")
            if row["_cores"] < 1:
                problems.append(f"{name}: threads {row['_cores']}")
    assert problems == []


@pytest.mark.parametrize("fixture", ["demo_rules", "big_rules"])
def test_requests_grow_with_each_attempt_up_to_the_cap(fixture, request):
    rules = request.getfixturevalue(fixture)
    cap = 12000 if fixture == "big_rules" else 16000
    for name, record in job_rules(rules).items():
        for size, rows in record["requests"].items():
            mem = [r["mem_mb"] for r in rows]
            runtime = [r["runtime"] for r in rows]
            assert all(m <= cap for m in mem), (name, size, mem)
            assert all(b > a or b == cap for a, b in itertools.pairwise(mem)), (name, size, mem)
            assert all(b > a for a, b in itertools.pairwise(runtime)), (name, size, runtime)


def test_requests_follow_input_size(demo_rules, big_rules):
    for name, record in job_rules(demo_rules).items():
        if name in SIZED_ELSEWHERE:
            continue
        small, large = record["requests"]["0.0"][0], record["requests"]["500000.0"][0]
        # Memory reaches the cap for a huge input; runtime keeps growing.
        assert large["mem_mb"] > small["mem_mb"], (name, small, large)
        assert large["runtime"] > small["runtime"], (name, small, large)
    # Sized from the deposit instead of input files:
    load_demo, load_big = demo_rules["load_dataset"], big_rules["load_dataset"]
    assert load_big["requests"]["0.0"][0]["mem_mb"] > load_demo["requests"]["0.0"][0]["mem_mb"]
    assert load_big["requests"]["0.0"][0]["runtime"] > load_demo["requests"]["0.0"][0]["runtime"]
    fetch_big = big_rules["fetch_dataset"]["requests"]["0.0"][0]["runtime"]
    assert fetch_big > demo_rules["fetch_dataset"]["requests"]["0.0"][0]["runtime"]


def test_shard_jobs_are_sized_from_their_own_shard_not_the_dataset(demo_rules, big_rules):
    for name in SHARD_RULES:
        for rules in (demo_rules, big_rules):
            small, large = (rules[name]["shards"][s] for s in PLAN_SHARDS)
            # the input file's size plays no part; the shard's size in the plan does
            assert small["0.0"] == small["500000.0"], (name, small)
            assert large["0.0"][0]["mem_mb"] > small["0.0"][0]["mem_mb"], name
            assert large["0.0"][0]["runtime"] > small["0.0"][0]["runtime"], name
    # a shard of 350 M stored counts: the prepare job asks ~24 bytes per count (raw counts, kept
    # cells, their depth-thinned copy), never above the cap
    prepare = demo_rules["prepare_shard"]["shards"]["002"]["0.0"]
    assert 9000 < prepare[0]["mem_mb"] < 11000 and prepare[-1]["mem_mb"] == 16000, prepare
    assert big_rules["prepare_shard"]["shards"]["002"]["0.0"][-1]["mem_mb"] == 12000


def test_local_rules_are_the_light_bookkeeping_steps(demo_rules):
    local = {name for name, rec in job_rules(demo_rules).items() if rec["local"]}
    assert local == {"check_curated", "fetch_dataset", "shared_donors", "plan_shards",
                     "planted_effects"}


def test_parsing_the_snakefile_imports_no_heavy_library(demo_rules):
    # Every cluster job parses the Snakefile again (twice under SLURM): the config and
    # registry checks run then must not pull in scipy, anndata or plotting (seconds per job).
    assert demo_rules["__modules__"] == []


@pytest.mark.cluster
def test_every_request_on_the_last_retry_fits_the_slurm_node(demo_rules):
    from fixtures.slurm import node_memory_mb, require_idle_node, require_slurm

    require_slurm()
    capacity = node_memory_mb(require_idle_node())
    worst = max(row["mem_mb"] for record in job_rules(demo_rules).values()
                for rows in record["requests"].values() for row in rows)
    # sbatch refuses a job asking for more than a node has, so even a huge input on the last
    # retry must fit (the default cap; sites with bigger nodes raise max_mem_mb).
    assert worst <= capacity, (worst, capacity)
