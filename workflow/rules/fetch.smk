# Download the files of public deposits listed in the dataset registry (config/datasets.yaml)
# into resources/downloads/<dataset>/ (config fetch.downloads): HTTPS only, retried with backoff,
# resumed, renamed into place only when complete, sha256-checked against the registry or the
# checksum lock file.
wildcard_constraints:
    dataset="[A-Za-z][A-Za-z0-9_]*",


# One job per dataset file set. Local: compute nodes often have no internet, and downloads
# are network-bound, not CPU-bound.
rule fetch_dataset:
    output:
        manifest=REGISTRY.manifest("{dataset}"),
    params:
        entry=REGISTRY.entry_param,
        lock_file=str(repo_path(SETTINGS.fetch.lock_file)),
        fetch=SETTINGS.fetch,
    log:
        paths.log("fetch_dataset"),
    benchmark:
        paths.benchmark("fetch_dataset")
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
        REGISTRY.fetch_targets(),
    localrule: True
    # Target rule: nothing runs in this env; declared so every rule names its environment.
    conda:
        "../../envs/neurokine.yaml"
