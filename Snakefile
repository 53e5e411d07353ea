# neurokine: cytokine signalling in neuroinflammatory disease from single-cell RNA-seq.
# Run from the repository root (`snakemake --cores 8`); workflow/Snakefile includes this file for
# the Snakemake workflow catalog's layout. Shipped files resolve from the repository root
# (common.smk: REPO), the configfile and every output from the working directory.
# Outputs: results/<stage>/<dataset>/..., logs/<rule>/<dataset>.log,
# per-rule benchmarks in results/benchmarks/<rule>/<dataset>.tsv (all declared in
# scripts/neurokine/workflow/paths.py).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


##### helpers #####
include: "workflow/rules/common.smk"
include: "workflow/rules/requests.smk"


##### validation, before any job runs: config (schema defaults filled in), registry, contrasts #####
SETTINGS, REGISTRY = validated_workflow(config)
DATASETS = REGISTRY.selected


##### stages #####
include: "workflow/rules/check.smk"
include: "workflow/rules/shards.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/load.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/network.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


##### SLURM runs: check that job status can be read, before the first job #####
include: "workflow/rules/slurm.smk"


##### targets #####
rule all:
    input:
        final_outputs(),
    default_target: True
