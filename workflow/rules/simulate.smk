rule simulate_demo_cohort:
    input:
        **CURATED,
    output:
        h5ad=paths.SIMULATED,
        truth=paths.PLANTED_EFFECTS,
    params:
        simulation=SETTINGS.simulation,
        seed=SETTINGS.seed,
    wildcard_constraints:
        dataset="|".join(simulated_datasets()),
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("simulate_demo_cohort"),
    benchmark:
        paths.benchmark("simulate_demo_cohort")
    threads: 1
    resources:
        # The simulator reads only the config: sized from the cohort it is asked to build.
        mem_mb=simulate_mem_mb,
        runtime=simulate_runtime_min,
    script:
        "../../scripts/simulate_demo.py"
