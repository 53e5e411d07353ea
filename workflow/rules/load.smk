# Read each fetched (or local) deposit with its registry loader and harmonize it to the
# neurokine AnnData contract: raw integer counts, canonical obs columns, label report.


rule load_dataset:
    input:
        unpack(REGISTRY.load_inputs),
        checked=CURATED["checked"],
    output:
        h5ad=paths.LOADED,
        labels=paths.LABELS,
    params:
        entry=REGISTRY.entry_param,
        root=str(REGISTRY.root),
        registry=str(REGISTRY.registry_path),
        cell_types=CURATED["cell_types"],
        cell_types_schema=CURATED["cell_types_schema"],
        annotation=SETTINGS.annotation,
    log:
        paths.log("load_dataset"),
    benchmark:
        paths.benchmark("load_dataset")
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
        h5ad=REGISTRY.load_targets(),
    output:
        plan=paths.SHARED_DONORS,
        undeclared=paths.UNDECLARED_SHARED_DONORS,
    params:
        registry=REGISTRY.registry,
        selected=REGISTRY.selected,
    log:
        paths.log("shared_donors", "all"),
    benchmark:
        paths.benchmark("shared_donors", "all")
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
