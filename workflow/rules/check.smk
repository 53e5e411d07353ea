# Validate the curated resources once per run, before any expensive job: axis and vocabulary
# schemas, citations, and every gene symbol against the reference gene universe (required
# references + allow-list). Local: a few seconds of work that every other job waits for.
rule check_curated:
    input:
        **CURATED_FILES,
        allowlist=str(CURATED_ALLOWLIST),
    output:
        genes="results/resources/curated_genes.tsv",
    params:
        # The configured directory itself, so an empty one is reported rather than skipped.
        axes_dir=lambda wildcards, input: str(AXES_DIR),
    log:
        "logs/check_curated/all.log",
    benchmark:
        "results/benchmarks/check_curated/all.tsv"
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=5),
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/check_curated.py"
