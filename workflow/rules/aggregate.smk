rule aggregate_donors:
    input:
        h5ad="results/prepared/{dataset}.h5ad",
        scores="results/scores/{dataset}/cell_scores.parquet",
        **CURATED,
    output:
        donor_scores="results/aggregate/{dataset}/donor_scores.tsv",
        cell_counts="results/aggregate/{dataset}/cell_counts.tsv",
        gene_detection="results/aggregate/{dataset}/gene_detection.tsv",
        pseudobulk="results/aggregate/{dataset}/pseudobulk.h5ad",
    params:
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/aggregate_donors/{dataset}.log",
    benchmark:
        "results/benchmarks/aggregate_donors/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=8, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=0.05, minimum_min=15),
    script:
        "../../scripts/aggregate_donors.py"
