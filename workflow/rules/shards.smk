# Every dataset is processed in shards of whole samples (config sharding.max_cells): simulation,
# QC, normalization and scoring run once per shard, gather steps add the shards up in plan
# order. The plan is a checkpoint written from obs alone (the loaded file's obs and row
# pointers, or the simulated donors drawn up to their cell counts), so every shard job is known
# before any heavy work; per-shard requests are sized from it (requests.smk: planned_shard).


def shard_plan_inputs(wildcards):
    """A loaded dataset is planned from its file; the simulated cohort from the curated axes
    and cell types that define its genes (and the config)."""
    if is_simulated(wildcards.dataset):
        return CURATED
    return {"h5ad": paths.LOADED.format(dataset=wildcards.dataset)}


def simulated_only(value):
    """A param only simulated datasets depend on (so editing the simulation never re-plans a
    loaded dataset)."""
    return lambda wildcards: value if is_simulated(wildcards.dataset) else None


# Local: reads obs only (or draws the simulated donors' cell counts), a few seconds.
checkpoint plan_shards:
    input:
        unpack(shard_plan_inputs),
    output:
        plan=paths.SHARD_PLAN,
    params:
        simulated=lambda wildcards: is_simulated(wildcards.dataset),
        simulation=simulated_only(SETTINGS.simulation),
        seed=simulated_only(SETTINGS.seed),
        sharding=SETTINGS.sharding,
    log:
        paths.log("plan_shards"),
    benchmark:
        paths.benchmark("plan_shards")
    localrule: True
    threads: 1
    resources:
        # obs and X's row pointers of a loaded file (never X itself); the simulator's genes.
        mem_mb=mem_mb(per_input_mb=0.05, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.002, minimum_min=5),
    conda:
        "../../envs/neurokine.yaml"
    script:
        "../../scripts/plan_shards.py"
