rule prepare_dataset:
    input:
        h5ad=raw_counts,
    output:
        h5ad=paths.PREPARED,
        qc=paths.QC_STEPS,
    params:
        prepare=SETTINGS.prepare,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("prepare_dataset"),
    benchmark:
        paths.benchmark("prepare_dataset")
    threads: 1
    resources:
        # gzip-compressed h5ad inflates ~4x in memory; QC holds the input and a filtered copy.
        mem_mb=mem_mb(per_input_mb=12, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=0.05, minimum_min=15),
    script:
        "../../scripts/prepare_dataset.py"
