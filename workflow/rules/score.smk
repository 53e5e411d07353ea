# Scoring in three steps. plan_scoring reads X of every prepared shard in plan order (gene means
# and detected genes over the whole dataset, summed exactly as one pass would) and builds the
# one scoring plan: coverage, control genes, null signatures. score_shard scores one shard with
# it and sums its cells per sample x cell type in one streaming pass (two reads of X, one of the
# counts; memory is a fixed block budget plus per-group sums). aggregate_shards adds the shards'
# sums up in plan order and writes the aggregate tables.
rule plan_scoring:
    input:
        h5ad=every_shard(paths.PREPARED),
        **CURATED,
    output:
        stats=paths.GENE_STATS,
        coverage=paths.GENE_COVERAGE,
        null_signatures=paths.NULL_SIGNATURES,
    params:
        scoring=SETTINGS.scoring,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("plan_scoring"),
    benchmark:
        paths.benchmark("plan_scoring")
    threads: 1
    resources:
        # Interpreter and libraries (~350 MB) + one row block (scoring.chunk_nnz): streaming.
        mem_mb=mem_mb(per_input_mb=0.02, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=0.01, minimum_min=15),
    script:
        "../../scripts/plan_scoring.py"


rule score_shard:
    input:
        h5ad=paths.PREPARED,
        stats=paths.GENE_STATS,
        **CURATED,
    output:
        scores=paths.CELL_SCORES,
        cell_detection=paths.CELL_DETECTION,
        sums=paths.GROUP_SUMS,
    params:
        scoring=SETTINGS.scoring,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("score_shard", paths.SHARD_NAME),
    benchmark:
        paths.benchmark("score_shard", paths.SHARD_NAME)
    # One thread per shard job when the dataset has several shards (the jobs fill the cores);
    # one shard gets one thread per ~250 MB of prepared input, 1 to 8 (--cores caps it).
    threads: shard_threads(per_thread_mb=250, max_threads=8)
    resources:
        # Interpreter and libraries + one row block (scoring.chunk_nnz, ~100 MB by default) +
        # obs and per-group sums, which grow slowly with the shard; doubled on each retry.
        mem_mb=shard_mem_mb(bytes_per_count=1, base_mb=1200),
        runtime=shard_runtime_min(minutes_per_1e8_counts=5, minimum_min=15),
    script:
        "../../scripts/score_shard.py"


rule aggregate_shards:
    input:
        sums=every_shard(paths.GROUP_SUMS),
        **CURATED,
    output:
        donor_scores=paths.DONOR_SCORES,
        cell_counts=paths.CELL_COUNTS,
        gene_detection=paths.GENE_DETECTION,
        receptor_detection=paths.RECEPTOR_DETECTION,
        null_calibration=paths.NULL_CALIBRATION,
        pseudobulk=paths.PSEUDOBULK,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("aggregate_shards", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("aggregate_shards", paths.LEVEL_NAME)
    threads: 1
    resources:
        # Per-group sums (groups x genes pseudobulk, x signatures x nulls), not cells.
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=0.2, minimum_min=15),
    script:
        "../../scripts/aggregate_shards.py"
