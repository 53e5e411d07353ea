rule plot_figures:
    input:
        tests="results/compare/{dataset}/signature_tests.tsv",
        qc="results/prepared/{dataset}/qc_steps.tsv",
    output:
        heatmap_png=report(
            "results/figures/{dataset}/effect_heatmap.png",
            caption="../report/effect_heatmap.rst",
            category="Comparisons",
            subcategory="{dataset}",
        ),
        heatmap_svg="results/figures/{dataset}/effect_heatmap.svg",
        qc_png=report(
            "results/figures/{dataset}/qc_overview.png",
            caption="../report/qc_overview.rst",
            category="Quality control",
            subcategory="{dataset}",
        ),
        qc_svg="results/figures/{dataset}/qc_overview.svg",
    params:
        synthetic=lambda wildcards: is_synthetic(wildcards.dataset),
        alpha=config["compare"]["fdr_alpha"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/plot_figures/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_figures/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=1, minimum_min=15),
    script:
        "../../scripts/plot_figures.py"
