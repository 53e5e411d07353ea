rule score_cells:
    input:
        h5ad="results/prepared/{dataset}.h5ad",
        **CURATED,
    output:
        scores="results/scores/{dataset}/cell_scores.parquet",
        coverage="results/scores/{dataset}/gene_coverage.tsv",
    params:
        scoring=config["scoring"],
        seed=config["seed"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/score_cells/{dataset}.log",
    benchmark:
        "results/benchmarks/score_cells/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=8, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=0.05, minimum_min=15),
    script:
        "../../scripts/score_cells.py"
