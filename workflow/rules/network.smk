# Sender -> receiver cytokine networks per dataset x disease x axis, on donor-level values, tested
# against the reference group with the compare stage's statistics (neurokine.stats.network), and
# one evidence verdict per contrast x axis x receiving cell type (neurokine.stats.verdict).


rule build_network:
    input:
        gene_detection=paths.GENE_DETECTION,
        complexes=paths.RECEPTOR_DETECTION,
        cell_counts=paths.CELL_COUNTS,
        tests=paths.SIGNATURE_TESTS,
        donor_values=paths.DONOR_VALUES,
        activities=paths.ACTIVITY_TESTS,
        **CURATED,
    output:
        nodes=report(paths.NODE_SCORES, caption="../report/node_scores.rst", category="Tables",
                     subcategory="{dataset}"),
        interactions=report(paths.INTERACTION_TESTS, caption="../report/interaction_tests.rst",
                            category="Tables", subcategory="{dataset}"),
        evidence=report(paths.EVIDENCE, caption="../report/evidence.rst", category="Tables",
                        subcategory="{dataset}"),
        verdicts=report(paths.VERDICTS, caption="../report/verdict_table.rst", category="Tables",
                        subcategory="{dataset}"),
    params:
        compare=SETTINGS.compare,
        network=SETTINGS.network,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("build_network", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("build_network", paths.LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=1.0, minimum_min=20),
    script:
        "../../scripts/build_network.py"
