rule simulate_demo_cohort:
    input:
        **CURATED,
    output:
        h5ad="results/simulated/{dataset}.h5ad",
        truth="results/simulated/{dataset}/planted_effects.tsv",
    params:
        simulation=config.get("simulation"),
        seed=config["seed"],
    wildcard_constraints:
        dataset="|".join(synthetic_datasets()),
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/simulate_demo_cohort/{dataset}.log",
    benchmark:
        "results/benchmarks/simulate_demo_cohort/{dataset}.tsv"
    threads: 1
    resources:
        # The simulator reads only the config: sized from the cohort it is asked to build.
        mem_mb=simulate_mem_mb,
        runtime=simulate_runtime_min,
    script:
        "../../scripts/simulate_demo.py"
