"""Run the whole workflow on a demo cohort of a given size, in shards, and report cost per job.

The default config is overlaid with ``simulation.donors_per_group`` and
``simulation.cells_per_donor`` for about ``--cells`` cells (donors grow as cells^0.6, so a bigger
cohort has more donors and more cells per donor), ``simulation.n_background_genes`` (default
12,000, a 10x-like gene count) and ``sharding.max_cells`` (``--shard-cells``). The workflow runs
in a fresh directory under ``/usr/bin/time -v`` and every job's ``benchmark:`` file is read. Each
job's peak RSS is set beside its shard's raw count matrix (CSR data + indices + indptr of the
simulated shard file, in memory); jobs that combine shards are set beside the largest shard's.

    python benchmarks/bench_workflow.py --cells 300000 --shard-cells 50000 --cores 2 --compare-unsharded
    python benchmarks/bench_workflow.py --cells 20000 --shard-cells 5000 --background-genes 600

With ``--compare-unsharded`` the same cohort also runs as one shard, and its tables are compared
with the sharded run's (relative difference <= 1e-9). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import pandas as pd
import yaml

from neurokine.validation.equivalence import table_differences
from neurokine.workflow import paths
from neurokine.workflow.shards import shard_ids

REPO = Path(__file__).resolve().parents[1]
N_GROUPS = 5  # control + four diseases in config/config.yaml
DATASET = "demo_synthetic"
#: Memory every job may use beyond its shard's share (interpreter and libraries): the target
#: is peak RSS <= 2.5 x the shard's count matrix + this.
FIXED_MB = 512


def cohort_design(cells: int) -> dict:
    """Donors per group and cells per donor for about `cells` simulated cells."""
    donors = max(2, round(4 * (cells / 20_000) ** 0.6))
    mean = cells / (N_GROUPS * donors)
    return {"donors_per_group": donors,
            "cells_per_donor": {"min": round(0.5 * mean), "max": round(1.5 * mean)}}


def parse_time_report(stderr: str) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of the largest process, from GNU time's report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    return {"wall_s": round(seconds, 1), "largest_process_rss_mb": round(rss_kb / 1024, 1)}


def count_matrix(path: Path) -> tuple[int, int, float]:
    """Cells, non-zeros and in-memory MB of the raw count matrix X of an .h5ad (not loaded)."""
    with h5py.File(path, "r") as handle:
        group = handle["X"]
        sizes = {k: group[k].size * group[k].dtype.itemsize for k in ("data", "indices", "indptr")}
        return int(group.attrs["shape"][0]), int(group["data"].size), sum(sizes.values()) / 2**20


def run_workflow(workdir: Path, cells: int, shard_cells: int, cores: int,
                 background_genes: int) -> dict:
    """Run the workflow once; return the run's totals and one row per job."""
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = workdir / "cohort.yaml"
    simulation = {**cohort_design(cells), "n_background_genes": background_genes}
    overlay.write_text(yaml.safe_dump({"simulation": simulation,
                                       "sharding": {"max_cells": shard_cells}}))
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "snakemake", "--snakefile",
               str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", str(cores),
               "--configfile", str(REPO / "config/config.yaml"), str(overlay)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"workflow failed for {cells} cells:\n{run.stderr[-4000:]}")
    shards = shard_ids(workdir / paths.SHARD_PLAN.format(dataset=DATASET))
    matrices = {s: count_matrix(workdir / paths.SIMULATED.format(dataset=DATASET, shard=s))
                for s in shards}
    largest = max(mb for _, _, mb in matrices.values())
    jobs = []
    for path in sorted((workdir / "results/benchmarks").rglob("*.tsv")):
        row = pd.read_csv(path, sep="\t").iloc[0]
        name = str(path.relative_to(workdir / "results/benchmarks").with_suffix(""))
        shard = re.search(r"/shard-(\d+)$", name)
        matrix_mb = matrices[shard.group(1)][2] if shard else largest
        rss = float(row["max_rss"])
        jobs.append({"job": name, "rule": name.split("/")[0], "s": round(float(row["s"]), 1),
                     "max_rss_mb": round(rss, 1), "shard_matrix_mb": round(matrix_mb, 1),
                     "rss_over_shard_matrix": round((rss - FIXED_MB) / matrix_mb, 3)})
    n_cells = sum(c for c, _, _ in matrices.values())
    nnz = sum(n for _, n, _ in matrices.values())
    return {"cells": n_cells, "nnz": nnz, "shards": len(shards),
            "count_matrix_mb": round(sum(mb for _, _, mb in matrices.values()), 1),
            "largest_shard_matrix_mb": round(largest, 1), **parse_time_report(run.stderr),
            "sum_job_s": round(sum(j["s"] for j in jobs), 1),
            "max_job_rss_mb": max(j["max_rss_mb"] for j in jobs),
            "max_rss_over_shard_matrix": max(j["rss_over_shard_matrix"] for j in jobs),
            "jobs": jobs}


def per_rule(jobs: list[dict]) -> list[dict]:
    """One row per rule: jobs, summed and longest time, largest peak RSS and RSS / shard matrix."""
    table = pd.DataFrame(jobs).groupby("rule", sort=False).agg(
        jobs=("s", "size"), sum_s=("s", "sum"), max_s=("s", "max"),
        max_rss_mb=("max_rss_mb", "max"), max_rss_over_shard_matrix=("rss_over_shard_matrix", "max"))
    return [{"rule": rule, "jobs": int(row["jobs"]), "sum_s": round(float(row["sum_s"]), 1),
             "max_s": round(float(row["max_s"]), 1), "max_rss_mb": round(float(row["max_rss_mb"]), 1),
             "max_rss_over_shard_matrix": round(float(row["max_rss_over_shard_matrix"]), 3)}
            for rule, row in table.sort_values("sum_s", ascending=False).iterrows()]


def show(label: str, result: dict) -> None:
    """Print one run's per-rule table."""
    print(f"\n== {label}: {result['cells']} cells in {result['shards']} shards (largest shard "
          f"matrix {result['largest_shard_matrix_mb']} MB, whole {result['count_matrix_mb']} MB): "
          f"wall {result['wall_s']} s, sum of jobs {result['sum_job_s']} s", flush=True)
    print(f"{'rule':<22} {'jobs':>5} {'sum s':>9} {'max s':>8} {'max RSS MB':>11} "
          f"{'(RSS-0.5GB)/shard':>18}")
    for row in per_rule(result["jobs"]):
        print(f"{row['rule']:<22} {row['jobs']:>5} {row['sum_s']:>9.1f} {row['max_s']:>8.1f} "
              f"{row['max_rss_mb']:>11.1f} {row['max_rss_over_shard_matrix']:>18.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000, help="cohort size (cells)")
    parser.add_argument("--shard-cells", type=int, default=200_000,
                        help="sharding.max_cells of the run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--background-genes", type=int, default=12_000,
                        help="simulation.n_background_genes of the cohort")
    parser.add_argument("--compare-unsharded", action="store_true",
                        help="also run the cohort as one shard and compare the tables")
    parser.add_argument("--keep", help="keep the run directories under this path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        sharded = run_workflow(root / f"cells_{args.cells}_shards_{args.shard_cells}", args.cells,
                               args.shard_cells, args.cores, args.background_genes)
        show("sharded", sharded)
        summary = {k: v for k, v in sharded.items() if k != "jobs"}
        summary.update({"target_cells": args.cells, "shard_cells": args.shard_cells,
                        "cores": args.cores, "background_genes": args.background_genes,
                        **cohort_design(args.cells),
                        "sum_job_over_wall": round(sharded["sum_job_s"] / sharded["wall_s"], 2),
                        "per_rule": per_rule(sharded["jobs"]), "outputs_equal_unsharded": None})
        if args.compare_unsharded:
            whole = run_workflow(root / f"cells_{args.cells}_unsharded", args.cells,
                                 10 * args.cells, args.cores, args.background_genes)
            show("unsharded", whole)
            differences = table_differences(root / f"cells_{args.cells}_unsharded",
                                            root / f"cells_{args.cells}_shards_{args.shard_cells}")
            for table, problems in differences.items():
                print(f"DIFFERS {table}: {problems[:3]}")
            summary["outputs_equal_unsharded"] = not differences
            summary["unsharded"] = {**{k: v for k, v in whole.items() if k != "jobs"},
                                    "per_rule": per_rule(whole["jobs"])}
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
