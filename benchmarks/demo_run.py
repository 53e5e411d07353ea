"""Time the full default demo run and score it against the planted truth.

Runs `/usr/bin/time -v snakemake --cores N` on config/config.yaml in a fresh directory, then
reports wall time, peak RSS (largest process), per-rule benchmark rows, and the precision and
recall of the planted effects. The last line printed is one JSON object.

    python benchmarks/demo_run.py --cores 2
    python benchmarks/demo_run.py --cores 2 --keep /tmp/demo   # keep the run's files
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from neurokine.validation.evaluation import recovery_summary

REPO = Path(__file__).resolve().parents[1]

def parse_time_report(stderr: str) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) from GNU time's verbose report."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    return {"wall_s": round(seconds, 1), "peak_rss_mb": round(rss_kb / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", help="run in this directory and keep it (report, tables)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        command = ["/usr/bin/time", "-v", sys.executable, "-m", "snakemake", "--snakefile",
                   str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", str(args.cores),
                   "--configfile", str(REPO / "config/config.yaml")]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(run.stderr[-3000:])
        timing = parse_time_report(run.stderr)
        rules = []
        for path in sorted((workdir / "results/benchmarks").glob("*/*.tsv")):
            row = pd.read_csv(path, sep="\t").iloc[0]
            rules.append({"rule": path.parent.name, "s": round(float(row["s"]), 1),
                          "max_rss_mb": round(float(row["max_rss"]), 1)})
        results = pd.read_csv(workdir / "results/compare/demo_synthetic/fine/signature_tests.tsv", sep="\t")
        truth = pd.read_csv(workdir / "results/simulated/demo_synthetic/planted_effects.tsv", sep="\t")
        n_cells = int(pd.read_csv(workdir / "results/prepared/demo_synthetic/qc_steps.tsv", sep="\t")
                      .query("order == 0")["cells_kept"].sum())
    for rule in rules:
        print(f"{rule['rule']:<24} {rule['s']:>7.1f} s {rule['max_rss_mb']:>8.1f} MB")
    summary = recovery_summary(truth, results, alpha=0.05)
    print(json.dumps({"cores": args.cores, "cells": n_cells, **timing, **summary}, sort_keys=True))


if __name__ == "__main__":
    main()
