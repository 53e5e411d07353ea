"""Where every output of the workflow lives, declared once: the rules, the report, the tests and the
benchmarks all take their paths from here (relative to the working directory).

Layout: results/<stage>/<dataset>/..., logs/<rule>/<dataset>.log and per-rule benchmarks in
results/benchmarks/<rule>/<dataset>.tsv; cross-dataset outputs use `all` or their own folder.
Per-shard files (`{shard}`: 001, 002, ... from the dataset's shard plan) carry `shard-{shard}` in
their name, their logs and benchmarks `<dataset>/shard-<shard>`. From the aggregates on, every
table and figure exists once per cell-type level (`{level}`: fine or lineage, config
`cell_type_levels`) in a `<level>/` folder, their logs and benchmarks `<dataset>/<level>`.
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
DEPTH_PLAN = "results/prepared/{dataset}/depth.tsv"
PREPARED = "results/prepared/{dataset}/shard-{shard}.h5ad"

# --- score (per cell, per shard) and aggregate (per sample x cell type, summed over shards)
GENE_STATS = "results/scores/{dataset}/gene_stats.npz"
CELL_SCORES = "results/scores/{dataset}/cell_scores/shard-{shard}.parquet"
GENE_COVERAGE = "results/scores/{dataset}/gene_coverage.tsv"
CELL_DETECTION = "results/scores/{dataset}/cell_detection/shard-{shard}.parquet"
NULL_SIGNATURES = "results/scores/{dataset}/null_signatures.tsv"
GROUP_SUMS = "results/aggregate/{dataset}/shards/shard-{shard}.npz"
DONOR_SCORES = "results/aggregate/{dataset}/{level}/donor_scores.tsv"
CELL_COUNTS = "results/aggregate/{dataset}/{level}/cell_counts.tsv"
GENE_DETECTION = "results/aggregate/{dataset}/{level}/gene_detection.tsv"
RECEPTOR_DETECTION = "results/aggregate/{dataset}/{level}/receptor_detection.tsv"
NULL_CALIBRATION = "results/aggregate/{dataset}/{level}/null_calibration.tsv"
PSEUDOBULK = "results/aggregate/{dataset}/{level}/pseudobulk.h5ad"

# --- compare
SIGNATURE_TESTS = "results/compare/{dataset}/{level}/signature_tests.tsv"
PSEUDOBULK_TESTS = "results/compare/{dataset}/{level}/pseudobulk_tests.tsv"
DONOR_VALUES = "results/compare/{dataset}/{level}/donor_values.tsv"
COMPOSITION = "results/compare/{dataset}/{level}/composition.tsv"
COMPOSITION_TESTS = "results/compare/{dataset}/{level}/composition_tests.tsv"
RESPONSE_ENRICHMENT = "results/compare/{dataset}/{level}/response_enrichment.tsv"
ACTIVITY_TESTS = "results/compare/{dataset}/{level}/activity_tests.tsv"
ACTIVITY_LEAKAGE = "results/compare/{dataset}/{level}/activity_leakage.tsv"
META_ANALYSIS = "results/compare/meta/{level}/meta_analysis.tsv"

# --- network
NODE_SCORES = "results/network/{dataset}/{level}/node_scores.tsv"
INTERACTION_TESTS = "results/network/{dataset}/{level}/interaction_tests.tsv"
EVIDENCE = "results/network/{dataset}/{level}/evidence.tsv"
VERDICTS = "results/network/{dataset}/{level}/verdicts.tsv"

# --- figures and report
DATASET_FIGURE = "results/figures/{dataset}/{level}/{stem}.{ext}"
CROSS_DATASET_FIGURE = "results/figures/cross_dataset/{stem}.{ext}"
THERAPY_TABLE = "results/figures/cross_dataset/therapy_panel.tsv"
FINDING_GENES = "results/report/{dataset}/{level}/finding_genes.tsv"
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
#: The `name` of a per-level job's log and benchmark (per dataset, or across datasets).
LEVEL_NAME = "{dataset}/{level}"
ALL_LEVEL_NAME = "all/{level}"


def per_shard(template: str, dataset: str, shards: Iterable[str]) -> list[str]:
    """A per-shard path of one dataset for each shard, in the given (plan) order."""
    return [template.format(dataset=dataset, shard=s) for s in shards]


def dataset_figure(stem: str, ext: str, dataset: str = "{dataset}", level: str = "{level}") -> str:
    """One per-dataset figure file (`{dataset}` and `{level}` stay wildcards unless given)."""
    return DATASET_FIGURE.format(dataset=dataset, level=level, stem=stem, ext=ext)


def cross_dataset_figure(stem: str, ext: str) -> str:
    """One cross-dataset figure file."""
    return CROSS_DATASET_FIGURE.format(stem=stem, ext=ext)


def per_dataset(template: str, datasets: Iterable[str], level: str = "{level}") -> list[str]:
    """A per-dataset path for each dataset, in the given order (`{level}` stays unless given)."""
    return [template.format(dataset=d, level=level) for d in datasets]


def per_level(template: str, levels: Iterable[str], datasets: Iterable[str] = ("{dataset}",)
              ) -> list[str]:
    """A per-level path for each dataset and level (datasets outer, levels inner)."""
    return [template.format(dataset=d, level=lv) for d in datasets for lv in levels]
