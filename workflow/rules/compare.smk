rule compare_groups:
    input:
        donor_scores="results/aggregate/{dataset}/donor_scores.tsv",
        coverage="results/scores/{dataset}/gene_coverage.tsv",
        cell_counts="results/aggregate/{dataset}/cell_counts.tsv",
        pseudobulk="results/aggregate/{dataset}/pseudobulk.h5ad",
        **CURATED,
    output:
        tests=report(
            "results/compare/{dataset}/signature_tests.tsv",
            caption="../report/signature_tests.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
        pseudobulk_tests=report(
            "results/compare/{dataset}/pseudobulk_tests.tsv",
            caption="../report/pseudobulk_tests.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
        donor_values="results/compare/{dataset}/donor_values.tsv",
        composition="results/compare/{dataset}/composition.tsv",
        composition_tests=report(
            "results/compare/{dataset}/composition_tests.tsv",
            caption="../report/composition_tests.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        compare=config["compare"],
        min_gene_coverage=config["scoring"]["min_gene_coverage"],
        seed=config["seed"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/compare_groups/{dataset}.log",
    benchmark:
        "results/benchmarks/compare_groups/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/compare_groups.py"


rule response_enrichment:
    input:
        pseudobulk="results/aggregate/{dataset}/pseudobulk.h5ad",
        **CURATED,
    output:
        enrichment=report(
            "results/compare/{dataset}/response_enrichment.tsv",
            caption="../report/response_enrichment.rst",
            category="Tables",
            subcategory="{dataset}",
        ),
    params:
        compare=config["compare"],
        seed=config["seed"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/response_enrichment/{dataset}.log",
    benchmark:
        "results/benchmarks/response_enrichment/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=1, minimum_min=30),
    script:
        "../../scripts/response_enrichment.py"


# One random-effects estimate per contrast x tissue x signature x cell type over every selected
# dataset; with a single dataset each row says that no pooled estimate is possible.
rule meta_analysis:
    input:
        tests=expand("results/compare/{dataset}/signature_tests.tsv", dataset=DATASETS),
    output:
        meta=report(
            "results/compare/meta/meta_analysis.tsv",
            caption="../report/meta_analysis.rst",
            category="Tables",
            subcategory="cross-dataset",
        ),
    params:
        datasets=DATASETS,
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/meta_analysis/all.log",
    benchmark:
        "results/benchmarks/meta_analysis/all.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=1000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/meta_analysis.py"
