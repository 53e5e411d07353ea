"""Where every output of the workflow lives, declared once: the rules, the report, the tests and the
benchmarks all take their paths from here (relative to the working directory).

Layout: results/<stage>/<dataset>/..., logs/<rule>/<dataset>.log and per-rule benchmarks in
results/benchmarks/<rule>/<dataset>.tsv; cross-dataset outputs use `all` or their own folder.
Per-shard files (`{shard}`: 001, 002, ... from the dataset's shard plan) carry `shard-{shard}` in
their name, their logs and benchmarks `<dataset>/shard-<shard>`.
"""

from __future__ import annotations

from collections.abc import Iterable

# --- curated resources checked once per run
CURATED_GENES = "results/resources/curated_genes.tsv"

# --- shard plan: which whole samples each shard job processes (neurokine.workflow.shards)
SHARD_PLAN = "results/shards/{dataset}/plan.tsv"

# --- simulate / fetch / load
SIMULATED = "results/simulated/{dataset}/shard-{shard}.h5ad"
PLANTED_EFFECTS = "results/simulated/{dataset}/planted_effects.tsv"
MANIFEST = "{downloads}/{dataset}/MANIFEST.tsv"
LOADED = "results/loaded/{dataset}.h5ad"
LABELS = "results/loaded/{dataset}.labels.tsv"
SHARED_DONORS = "results/loaded/shared_donors.tsv"
UNDECLARED_SHARED_DONORS = "results/loaded/undeclared_shared_donors.tsv"

# --- prepare: cell QC per shard, the gene filter over all shards, then normalization per shard
QC_SHARD = "results/prepared/{dataset}/qc/shard-{shard}.npz"
QC_SHARD_STEPS = "results/prepared/{dataset}/qc/shard-{shard}.tsv"
QC_STEPS = "results/prepared/{dataset}/qc_steps.tsv"
GENES_KEPT = "results/prepared/{dataset}/genes.tsv"
PREPARED = "results/prepared/{dataset}/shard-{shard}.h5ad"

# --- score (per cell, per shard) and aggregate (per sample x cell type, summed over shards)
GENE_STATS = "results/scores/{dataset}/gene_stats.npz"
CELL_SCORES = "results/scores/{dataset}/cell_scores/shard-{shard}.parquet"
GENE_COVERAGE = "results/scores/{dataset}/gene_coverage.tsv"
CELL_DETECTION = "results/scores/{dataset}/cell_detection/shard-{shard}.parquet"
NULL_SIGNATURES = "results/scores/{dataset}/null_signatures.tsv"
GROUP_SUMS = "results/aggregate/{dataset}/shards/shard-{shard}.npz"
DONOR_SCORES = "results/aggregate/{dataset}/donor_scores.tsv"
CELL_COUNTS = "results/aggregate/{dataset}/cell_counts.tsv"
GENE_DETECTION = "results/aggregate/{dataset}/gene_detection.tsv"
RECEPTOR_DETECTION = "results/aggregate/{dataset}/receptor_detection.tsv"
NULL_CALIBRATION = "results/aggregate/{dataset}/null_calibration.tsv"
PSEUDOBULK = "results/aggregate/{dataset}/pseudobulk.h5ad"

# --- compare
SIGNATURE_TESTS = "results/compare/{dataset}/signature_tests.tsv"
PSEUDOBULK_TESTS = "results/compare/{dataset}/pseudobulk_tests.tsv"
DONOR_VALUES = "results/compare/{dataset}/donor_values.tsv"
COMPOSITION = "results/compare/{dataset}/composition.tsv"
COMPOSITION_TESTS = "results/compare/{dataset}/composition_tests.tsv"
RESPONSE_ENRICHMENT = "results/compare/{dataset}/response_enrichment.tsv"
ACTIVITY_TESTS = "results/compare/{dataset}/activity_tests.tsv"
ACTIVITY_LEAKAGE = "results/compare/{dataset}/activity_leakage.tsv"
META_ANALYSIS = "results/compare/meta/meta_analysis.tsv"

# --- network
NODE_SCORES = "results/network/{dataset}/node_scores.tsv"
INTERACTION_TESTS = "results/network/{dataset}/interaction_tests.tsv"
EVIDENCE = "results/network/{dataset}/evidence.tsv"
VERDICTS = "results/network/{dataset}/verdicts.tsv"

# --- figures and report
DATASET_FIGURE = "results/figures/{dataset}/{stem}.{ext}"
CROSS_DATASET_FIGURE = "results/figures/cross_dataset/{stem}.{ext}"
THERAPY_TABLE = "results/figures/cross_dataset/therapy_panel.tsv"
FINDING_GENES = "results/report/{dataset}/finding_genes.tsv"
REPORT = "results/report/index.html"

# --- bookkeeping of every rule
LOG = "logs/{rule}/{name}.log"
BENCHMARK = "results/benchmarks/{rule}/{name}.tsv"


def log(rule: str, name: str = "{dataset}") -> str:
    """The log file of one job of `rule` (per dataset, or `all` for cross-dataset rules)."""
    return LOG.format(rule=rule, name=name)


def benchmark(rule: str, name: str = "{dataset}") -> str:
    """The benchmark (time, peak memory) file of one job of `rule`."""
    return BENCHMARK.format(rule=rule, name=name)


#: The `name` of a per-shard job's log and benchmark.
SHARD_NAME = "{dataset}/shard-{shard}"


def per_shard(template: str, dataset: str, shards: Iterable[str]) -> list[str]:
    """A per-shard path of one dataset for each shard, in the given (plan) order."""
    return [template.format(dataset=dataset, shard=s) for s in shards]


def dataset_figure(stem: str, ext: str, dataset: str = "{dataset}") -> str:
    """One per-dataset figure file (`{dataset}` stays a wildcard unless given)."""
    return DATASET_FIGURE.format(dataset=dataset, stem=stem, ext=ext)


def cross_dataset_figure(stem: str, ext: str) -> str:
    """One cross-dataset figure file."""
    return CROSS_DATASET_FIGURE.format(stem=stem, ext=ext)


def per_dataset(template: str, datasets: Iterable[str]) -> list[str]:
    """A per-dataset path for each dataset, in the given order."""
    return [template.format(dataset=d) for d in datasets]
