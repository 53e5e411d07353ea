rule compare_groups:
    input:
        donor_scores=paths.DONOR_SCORES,
        coverage=paths.GENE_COVERAGE,
        cell_counts=paths.CELL_COUNTS,
        pseudobulk=paths.PSEUDOBULK,
        **CURATED,
    output:
        tests=report(paths.SIGNATURE_TESTS, caption="../report/signature_tests.rst",
                     category="Tables", subcategory="{dataset}"),
        pseudobulk_tests=report(paths.PSEUDOBULK_TESTS, caption="../report/pseudobulk_tests.rst",
                                category="Tables", subcategory="{dataset}"),
        donor_values=paths.DONOR_VALUES,
        composition=paths.COMPOSITION,
        composition_tests=report(paths.COMPOSITION_TESTS, caption="../report/composition_tests.rst",
                                 category="Tables", subcategory="{dataset}"),
    params:
        compare=SETTINGS.compare,
        min_gene_coverage=SETTINGS.scoring.min_gene_coverage,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("compare_groups", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("compare_groups", paths.LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/compare_groups.py"


rule response_enrichment:
    input:
        pseudobulk=paths.PSEUDOBULK,
        **CURATED,
    output:
        enrichment=report(paths.RESPONSE_ENRICHMENT, caption="../report/response_enrichment.rst",
                          category="Tables", subcategory="{dataset}"),
    params:
        compare=SETTINGS.compare,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("response_enrichment", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("response_enrichment", paths.LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=1, minimum_min=30),
    script:
        "../../scripts/response_enrichment.py"


# One random-effects estimate per contrast x tissue x signature x cell type over every selected
# dataset, per cell-type level (datasets labelled at different resolutions meet at lineage level);
# with a single dataset each row says that no pooled estimate is possible.
rule meta_analysis:
    input:
        tests=paths.per_dataset(paths.SIGNATURE_TESTS, DATASETS),
    output:
        meta=report(paths.META_ANALYSIS, caption="../report/meta_analysis.rst", category="Tables",
                    subcategory="cross-dataset"),
    params:
        datasets=DATASETS,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("meta_analysis", paths.ALL_LEVEL_NAME),
    benchmark:
        paths.benchmark("meta_analysis", paths.ALL_LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/meta_analysis.py"


# Joint activities of every axis's response program per sample x cell type (pseudobulk), tested
# across donors; and how much the programs can be confused (neurokine.stats.activity).
rule estimate_activities:
    input:
        pseudobulk=paths.PSEUDOBULK,
        **CURATED,
    output:
        tests=report(paths.ACTIVITY_TESTS, caption="../report/activity_tests.rst", category="Tables",
                     subcategory="{dataset}"),
        leakage=paths.ACTIVITY_LEAKAGE,
    params:
        compare=SETTINGS.compare,
        activity=SETTINGS.activity,
        seed=SETTINGS.seed,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("estimate_activities", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("estimate_activities", paths.LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=1, minimum_min=15),
    script:
        "../../scripts/estimate_activities.py"
