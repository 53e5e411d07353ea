rule compare_groups:
    input:
        donor_scores="results/aggregate/{dataset}/donor_scores.tsv",
        coverage="results/scores/{dataset}/gene_coverage.tsv",
    output:
        tests="results/compare/{dataset}/signature_tests.tsv",
    params:
        compare=config["compare"],
        seed=config["seed"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/compare_groups/{dataset}.log",
    benchmark:
        "results/benchmarks/compare_groups/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/compare_groups.py"
