# Job requests (threads, memory, runtime). Every rule declares threads, and mem_mb and runtime
# from the helpers below: they follow the size of the job's input and grow with each retry
# (`attempt`), so a job killed for memory or time gets more; the retries themselves are set in
# profiles/default and profiles/slurm. Needs SETTINGS, and REGISTRY (the checked registry) for the
# rules that read deposits; both exist once the Snakefile has validated the config. No parse-time
# work: each request is computed when its job is scheduled.


def max_mem_mb():
    """Cap on every memory request: config max_mem_mb (schema default 16000, a 16 GB workstation).

    SLURM refuses a job that asks for more memory than a node has ("Requested node
    configuration is not available"), and rules multiply their request by the retry attempt,
    so the cap keeps the last retry submittable. (Snakemake itself lowers each request to the
    run's --resources mem_mb, e.g. the workstation cap of profiles/default.)
    """
    return SETTINGS.max_mem_mb


def capped_mem_mb(request_mb):
    """A memory request in MB, never above the cap (see max_mem_mb)."""
    return int(min(request_mb, max_mem_mb()))


def mem_mb(per_input_mb, minimum_mb):
    """Memory request that follows input size and grows with each retry, capped."""
    def request(wildcards, input, attempt):
        return capped_mem_mb(max(minimum_mb, per_input_mb * input.size_mb) * attempt)
    return request


def threads_for_input(per_thread_mb, max_threads):
    """Threads that follow input size (1 while the input does not exist yet, e.g. in a dry run;
    Snakemake re-evaluates them once the job is ready to run)."""
    from snakemake.exceptions import WorkflowError

    def request(wildcards, input):
        try:
            size = float(input.size_mb)
        except (WorkflowError, OSError):  # size unknown while the DAG is built: 1 for now
            return 1
        return int(min(max_threads, max(1, size // per_thread_mb)))
    return request


def runtime_min(per_input_mb, minimum_min):
    """Runtime request (minutes) that follows input size and grows with each retry."""
    def request(wildcards, input, attempt):
        return int(max(minimum_min, per_input_mb * input.size_mb) * attempt)
    return request


##### per-shard jobs: sized from the shard plan (cells, stored counts and genes of the shard) #####


def planned_shard(wildcards):
    """Cells, stored counts and genes of the job's shard, from its dataset's shard plan.

    Shard jobs exist only once the plan (a checkpoint) is written, so it is there to read.
    """
    return shard_size(paths.SHARD_PLAN.format(dataset=wildcards.dataset), wildcards.shard)


def shard_mem_mb(bytes_per_count, base_mb, dense_bytes_per_cell_gene=0):
    """Memory request of a shard job: a fixed part (interpreter, libraries, one row block),
    bytes per stored count of the shard, and for the simulator the dense arrays of its largest
    donor (cells x genes); grows with each retry, capped."""
    def request(wildcards, attempt):
        size = planned_shard(wildcards)
        dense = dense_bytes_per_cell_gene * size.largest_sample_cells * size.n_genes
        return capped_mem_mb((base_mb + (bytes_per_count * size.nnz + dense) / 2**20) * attempt)
    return request


def shard_runtime_min(minutes_per_1e8_counts, minimum_min):
    """Runtime request (minutes) of a shard job from the shard's stored counts, per retry."""
    def request(wildcards, attempt):
        size = planned_shard(wildcards)
        return int(max(minimum_min, minutes_per_1e8_counts * size.nnz / 1e8) * attempt)
    return request


def shard_threads(per_thread_mb, max_threads):
    """One thread per shard job when the dataset has several shards (the jobs themselves fill
    the cores); a single shard gets threads by input size, as threads_for_input."""
    by_input = threads_for_input(per_thread_mb, max_threads)

    def request(wildcards, input):
        plan = Path(paths.SHARD_PLAN.format(dataset=wildcards.dataset))
        if plan.is_file() and len(shard_ids(plan)) > 1:
            return 1
        return by_input(wildcards, input)
    return request


def deposit_mem_mb(wildcards, attempt):
    """Memory for loading a deposit (sized from its files by the registry), capped, per retry."""
    return capped_mem_mb(REGISTRY.load_mem_mb(wildcards, attempt))


def deposit_runtime_min(per_file_mb, minimum_min):
    """Runtime (minutes) from the size of a dataset's deposit files, per retry."""
    def request(wildcards, attempt):
        return int(max(minimum_min, per_file_mb * REGISTRY.deposit_mb(wildcards.dataset)) * attempt)
    return request
