rule prepare_dataset:
    input:
        h5ad=raw_counts,
    output:
        h5ad="results/prepared/{dataset}.h5ad",
        qc="results/prepared/{dataset}/qc_steps.tsv",
    params:
        qc=config["qc"],
        normalize=config["normalize"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_dataset/{dataset}.tsv"
    threads: 1
    resources:
        # gzip-compressed h5ad inflates ~4x in memory; QC holds the input and a filtered copy.
        mem_mb=mem_mb(per_input_mb=12, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=0.05, minimum_min=15),
    script:
        "../../scripts/prepare_dataset.py"
