# Read each fetched (or local) deposit with its registry loader and harmonize it to the
# neurokine AnnData contract: raw integer counts, canonical obs columns, label report.
# Needs fetch.smk (DATASET_RULES) and common.smk (CURATED) included first.


rule load_dataset:
    input:
        unpack(DATASET_RULES.load_inputs),
    output:
        h5ad="results/loaded/{dataset}.h5ad",
        labels="results/loaded/{dataset}.labels.tsv",
    params:
        entry=DATASET_RULES.entry_param,
        root=str(DATASET_RULES.root),
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
        mem_mb=DATASET_RULES.load_mem_mb,
        runtime=60,
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
    localrule: True
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/shared_donors.py"
