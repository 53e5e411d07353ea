# The synthetic demo cohort, one job per shard: each donor draws from its own random stream,
# so a shard's donors are simulated without the others and streamed into its file one by one.
rule simulate_shard:
    input:
        plan=paths.SHARD_PLAN,
        **CURATED,
    output:
        h5ad=paths.SIMULATED,
    params:
        simulation=SETTINGS.simulation,
        seed=SETTINGS.seed,
    wildcard_constraints:
        dataset="|".join(simulated_datasets()),
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("simulate_shard", paths.SHARD_NAME),
    benchmark:
        paths.benchmark("simulate_shard", paths.SHARD_NAME)
    threads: 1
    resources:
        # One donor's dense cell-type blocks at a time (two float64 cells x genes arrays of its
        # largest cell type, about half its cells), beside the libraries.
        mem_mb=shard_mem_mb(bytes_per_count=0, base_mb=1000, dense_bytes_per_cell_gene=8),
        runtime=shard_runtime_min(minutes_per_1e8_counts=6, minimum_min=15),
    script:
        "../../scripts/simulate_shard.py"


# Local: a small table from the config, the axes and the cohort model (no counts drawn).
rule planted_effects:
    input:
        **CURATED,
    output:
        truth=paths.PLANTED_EFFECTS,
    params:
        simulation=SETTINGS.simulation,
        seed=SETTINGS.seed,
    wildcard_constraints:
        dataset="|".join(simulated_datasets()),
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("planted_effects"),
    benchmark:
        paths.benchmark("planted_effects")
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=5),
    script:
        "../../scripts/planted_effects.py"
