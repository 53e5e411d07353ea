# Sender -> receiver cytokine networks per dataset x disease x axis, on donor-level values, tested
# against the reference group with the compare stage's statistics (scripts/neurokine/network.py).


rule build_network:
    input:
        gene_detection="results/aggregate/{dataset}/gene_detection.tsv",
        cell_counts="results/aggregate/{dataset}/cell_counts.tsv",
        tests="results/compare/{dataset}/signature_tests.tsv",
        **CURATED,
    output:
        nodes=report(
            "results/network/{dataset}/node_scores.tsv",
            caption="../report/node_scores.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
        interactions=report(
            "results/network/{dataset}/interaction_tests.tsv",
            caption="../report/interaction_tests.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
        evidence=report(
            "results/network/{dataset}/evidence.tsv",
            caption="../report/evidence.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        compare=config["compare"],
        network=network_settings(),
        seed=config["seed"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/build_network/{dataset}.log",
    benchmark:
        "results/benchmarks/build_network/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=1.0, minimum_min=20),
    script:
        "../../scripts/build_network.py"
