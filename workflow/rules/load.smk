# Read each fetched (or local) deposit with its registry loader and harmonize it to the
# neurokine AnnData contract: raw integer counts, canonical obs columns, label report.
# Needs fetch.smk (DATASET_RULES) and common.smk (CURATED) included first.


rule load_dataset:
    input:
        unpack(DATASET_RULES.load_inputs),
        checked=CURATED["checked"],
    output:
        h5ad="results/loaded/{dataset}.h5ad",
        labels="results/loaded/{dataset}.labels.tsv",
    params:
        entry=DATASET_RULES.entry_param,
        root=str(DATASET_RULES.root),
        registry=str(DATASET_RULES.registry_path),
        cell_types=CURATED["cell_types"],
        cell_types_schema=CURATED["cell_types_schema"],
        annotation=DATASET_RULES.annotate_options(),
    log:
        "logs/load_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/load_dataset/{dataset}.tsv"
    threads: 1
    resources:
        # Compressed MEX/CSV inflate several-fold when parsed; sized from the deposit's files.
        mem_mb=deposit_mem_mb,
        runtime=deposit_runtime_min(per_file_mb=0.1, minimum_min=30),
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/load_dataset.py"


# Donors shared between the selected datasets (declared in the registry, plus any donor id
# seen in two loaded datasets without a declaration); the meta-analysis drops the "drop" rows.
rule shared_donors:
    input:
        h5ad=DATASET_RULES.load_targets(),
    output:
        plan="results/loaded/shared_donors.tsv",
        undeclared="results/loaded/undeclared_shared_donors.tsv",
    params:
        registry=DATASET_RULES.registry,
        selected=DATASET_RULES.selected,
    log:
        "logs/shared_donors/all.log",
    benchmark:
        "results/benchmarks/shared_donors/all.tsv"
    localrule: True
    threads: 1
    resources:
        # Reads only obs (backed mode): small whatever the matrix size.
        mem_mb=mem_mb(per_input_mb=0.1, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.01, minimum_min=5),
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/shared_donors.py"
