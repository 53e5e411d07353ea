"""Run the whole workflow on demo cohorts of growing size and report cost per rule and in total.

For each cohort size (default 20k, 100k and 300k cells) the default config is overlaid with
``simulation.donors_per_group`` and ``simulation.cells_per_donor`` (both grow, so a bigger
cohort has more donors and more cells per donor) and ``simulation.n_background_genes``
(default 12,000, a 10x-like gene count; the demo's 600 give a matrix several times smaller).
The workflow runs in a fresh directory under ``/usr/bin/time -v`` and every rule's
``benchmark:`` file is read. Each rule's peak RSS is set beside the in-memory size of the
cohort's raw count matrix (CSR data + indices + indptr).

    python benchmarks/bench_workflow.py --cores 2
    python benchmarks/bench_workflow.py --sizes 20000 --cores 2 --background-genes 600

The last line printed is one JSON object (per-size totals and the growth from the smallest to
the largest size).
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

REPO = Path(__file__).resolve().parents[1]
N_GROUPS = 5  # control + four diseases in config/config.yaml


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


def count_matrix_mb(path: Path) -> tuple[int, int, float]:
    """Cells, non-zeros and in-memory MB of the raw count matrix X of an .h5ad (not loaded)."""
    with h5py.File(path, "r") as handle:
        group = handle["X"]
        sizes = {k: group[k].size * group[k].dtype.itemsize for k in ("data", "indices", "indptr")}
        return int(group.attrs["shape"][0]), int(group["data"].size), sum(sizes.values()) / 2**20


def run_size(cells: int, cores: int, workdir: Path, background_genes: int) -> dict:
    """Run the workflow once for one cohort size; return per-rule and total cost."""
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = workdir / "cohort.yaml"
    simulation = {**cohort_design(cells), "n_background_genes": background_genes}
    overlay.write_text(yaml.safe_dump({"simulation": simulation}))
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "snakemake", "--snakefile",
               str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", str(cores),
               "--configfile", str(REPO / "config/config.yaml"), str(overlay)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(f"workflow failed for {cells} cells:\n{run.stderr[-4000:]}")
    total = parse_time_report(run.stderr)
    n_cells, nnz, matrix_mb = count_matrix_mb(workdir / "results/simulated/demo_synthetic.h5ad")
    rules = []
    for path in sorted((workdir / "results/benchmarks").glob("*/*.tsv")):
        row = pd.read_csv(path, sep="\t").iloc[0]
        rules.append({"rule": path.parent.name, "s": round(float(row["s"]), 1),
                      "max_rss_mb": round(float(row["max_rss"]), 1),
                      "rss_over_matrix": round(float(row["max_rss"]) / matrix_mb, 2)})
    return {"target_cells": cells, "cells": n_cells, "nnz": nnz, "count_matrix_mb": round(matrix_mb, 1),
            **cohort_design(cells), **total, "rules_s": round(sum(r["s"] for r in rules), 1),
            "max_rule_rss_mb": max(r["max_rss_mb"] for r in rules),
            "max_rss_over_matrix": max(r["rss_over_matrix"] for r in rules), "rules": rules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,100000,300000",
                        help="comma-separated cohort sizes (cells)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--background-genes", type=int, default=12_000,
                        help="simulation.n_background_genes of every cohort")
    parser.add_argument("--keep", help="keep the run directories under this path")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        results = []
        for cells in sizes:
            result = run_size(cells, args.cores, root / f"cells_{cells}", args.background_genes)
            results.append(result)
            print(f"\n== {result['cells']} cells ({result['donors_per_group']} donors/group), "
                  f"count matrix {result['count_matrix_mb']} MB: wall {result['wall_s']} s")
            print(f"{'rule':<24} {'s':>8} {'max RSS MB':>11} {'RSS/matrix':>11}")
            for rule in result["rules"]:
                print(f"{rule['rule']:<24} {rule['s']:>8.1f} {rule['max_rss_mb']:>11.1f} "
                      f"{rule['rss_over_matrix']:>11.2f}", flush=True)
    first, last = results[0], results[-1]
    summary = {"cores": args.cores, "background_genes": args.background_genes,
               "sizes": [{k: v for k, v in r.items() if k != "rules"} for r in results],
               "per_rule": {r["cells"]: r["rules"] for r in results},
               "cells_growth": round(last["cells"] / first["cells"], 2),
               "wall_growth": round(last["wall_s"] / first["wall_s"], 2),
               "rules_time_growth": round(last["rules_s"] / first["rules_s"], 2),
               "max_rss_over_matrix": max(r["max_rss_over_matrix"] for r in results)}
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
