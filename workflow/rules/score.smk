# Scoring and sample x cell-type aggregation share one streaming pass over the prepared file
# (two reads of X, one of the counts), so the matrix is never held whole: memory is a fixed
# block budget plus per-group sums, and time follows the input size.
rule score_cells:
    input:
        h5ad=paths.PREPARED,
        **CURATED,
    output:
        scores=paths.CELL_SCORES,
        coverage=paths.GENE_COVERAGE,
        cell_detection=paths.CELL_DETECTION,
        null_signatures=paths.NULL_SIGNATURES,
        donor_scores=paths.DONOR_SCORES,
        cell_counts=paths.CELL_COUNTS,
        gene_detection=paths.GENE_DETECTION,
        receptor_detection=paths.RECEPTOR_DETECTION,
        null_calibration=paths.NULL_CALIBRATION,
        pseudobulk=paths.PSEUDOBULK,
    params:
        scoring=SETTINGS.scoring,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("score_cells"),
    benchmark:
        paths.benchmark("score_cells")
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
