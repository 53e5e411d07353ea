# QC and normalization per shard. The cell filters are per cell (qc_shard), but the gene filter
# counts cells per gene over the whole dataset and the equalized depth is the shallowest
# sample's: gather_qc adds the shards' records up, then each shard keeps the same genes, thins
# its samples to the same depth and normalizes its own cells (prepare_shard).
rule qc_shard:
    input:
        h5ad=raw_counts,
        plan=paths.SHARD_PLAN,
    output:
        record=paths.QC_SHARD,
        steps=paths.QC_SHARD_STEPS,
    params:
        prepare=SETTINGS.prepare,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("qc_shard", paths.SHARD_NAME),
    benchmark:
        paths.benchmark("qc_shard", paths.SHARD_NAME)
    threads: 1
    resources:
        # The shard's raw counts (8 bytes per stored count, twice while row ranges are joined).
        mem_mb=shard_mem_mb(bytes_per_count=16, base_mb=1000),
        runtime=shard_runtime_min(minutes_per_1e8_counts=4, minimum_min=15),
    script:
        "../../scripts/qc_shard.py"


rule gather_qc:
    input:
        records=every_shard(paths.QC_SHARD),
        steps=every_shard(paths.QC_SHARD_STEPS),
    output:
        qc=paths.QC_STEPS,
        genes=paths.GENES_KEPT,
        depth=paths.DEPTH_PLAN,
    params:
        prepare=SETTINGS.prepare,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("gather_qc"),
    benchmark:
        paths.benchmark("gather_qc")
    threads: 1
    resources:
        # One flag per cell and one count per gene and shard.
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.1, minimum_min=15),
    script:
        "../../scripts/gather_qc.py"


rule prepare_shard:
    input:
        h5ad=raw_counts,
        plan=paths.SHARD_PLAN,
        record=paths.QC_SHARD,
        genes=paths.GENES_KEPT,
        depth=paths.DEPTH_PLAN,
    output:
        h5ad=paths.PREPARED,
    params:
        prepare=SETTINGS.prepare,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("prepare_shard", paths.SHARD_NAME),
    benchmark:
        paths.benchmark("prepare_shard", paths.SHARD_NAME)
    threads: 1
    resources:
        # The raw counts and the kept cells' copy (8 bytes per stored count each), their
        # depth-thinned copy and its log-normalized values: measured +3.6 bytes per count over
        # the unequalized job (60 M counts, 1,759 vs 1,972 MB peak).
        mem_mb=shard_mem_mb(bytes_per_count=24, base_mb=1000),
        runtime=shard_runtime_min(minutes_per_1e8_counts=10, minimum_min=15),
    script:
        "../../scripts/prepare_shard.py"
