# Download the files of public deposits listed in the dataset registry (config/datasets.yaml)
# into resources/downloads/<dataset>/: HTTPS only, retried with backoff, resumed, renamed into
# place only when complete, sha256-checked against the registry or the checksum lock file.
# Needs common.smk (repo_path) and the Snakefile's DATASET_RULES (the checked registry).
wildcard_constraints:
    dataset="[A-Za-z][A-Za-z0-9_]*",


# One job per dataset file set. Local: compute nodes often have no internet, and downloads
# are network-bound, not CPU-bound.
rule fetch_dataset:
    output:
        manifest="resources/downloads/{dataset}/MANIFEST.tsv",
    params:
        entry=DATASET_RULES.entry_param,
        lock_file=str(repo_path(DATASET_RULES.lock_file)),
        options=DATASET_RULES.fetch_options(),
    log:
        "logs/fetch_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/fetch_dataset/{dataset}.tsv"
    localrule: True
    threads: 1
    resources:
        # Streams in 1 MiB blocks, so memory does not grow with the file; time does (1 MB/s).
        mem_mb=lambda wildcards, attempt: capped_mem_mb(1000 * attempt),
        runtime=deposit_runtime_min(per_file_mb=1 / 60, minimum_min=30),
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/fetch_files.py"


# Fetch every selected public dataset (e.g. on a login node before a cluster run).
rule fetch_all:
    input:
        DATASET_RULES.fetch_targets(),
    localrule: True
    # Target rule: nothing runs in this env; declared so every rule names its environment.
    conda:
        "../../envs/neurokine.yaml"
