# Scoring and sample x cell-type aggregation share one streaming pass over the prepared file
# (two reads of X, one of the counts), so the matrix is never held whole: memory is a fixed
# block budget plus per-group sums, and time follows the input size.
rule score_cells:
    input:
        h5ad="results/prepared/{dataset}.h5ad",
        **CURATED,
    output:
        scores="results/scores/{dataset}/cell_scores.parquet",
        coverage="results/scores/{dataset}/gene_coverage.tsv",
        cell_detection="results/scores/{dataset}/cell_detection.parquet",
        null_signatures="results/scores/{dataset}/null_signatures.tsv",
        donor_scores="results/aggregate/{dataset}/donor_scores.tsv",
        cell_counts="results/aggregate/{dataset}/cell_counts.tsv",
        gene_detection="results/aggregate/{dataset}/gene_detection.tsv",
        receptor_detection="results/aggregate/{dataset}/receptor_detection.tsv",
        null_calibration="results/aggregate/{dataset}/null_calibration.tsv",
        pseudobulk="results/aggregate/{dataset}/pseudobulk.h5ad",
    params:
        scoring=config["scoring"],
        seed=config["seed"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/score_cells/{dataset}.log",
    benchmark:
        "results/benchmarks/score_cells/{dataset}.tsv"
    # One thread per ~250 MB of prepared input, 1 to 8 (--cores caps it): the numba kernels
    # split row blocks across threads; reading and decompression stay on one.
    threads: threads_for_input(per_thread_mb=250, max_threads=8)
    resources:
        # Interpreter and libraries (~350 MB) + one row block (scoring.chunk_nnz, ~100 MB by
        # default) + obs and per-group sums, which grow slowly with input; doubled on each retry.
        mem_mb=mem_mb(per_input_mb=1, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=0.05, minimum_min=15),
    script:
        "../../scripts/score_cells.py"
