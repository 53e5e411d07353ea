# Deterministic figures (PNG + SVG, byte-identical on rerun) per dataset and across datasets.
# Every PNG is registered with report() so `snakemake --report report.zip` packs it with a caption.

rule plot_figures:
    input:
        tests="results/compare/{dataset}/signature_tests.tsv",
        qc="results/prepared/{dataset}/qc_steps.tsv",
        cell_counts="results/aggregate/{dataset}/cell_counts.tsv",
        donor_scores="results/aggregate/{dataset}/donor_scores.tsv",
        nodes="results/network/{dataset}/node_scores.tsv",
        interactions="results/network/{dataset}/interaction_tests.tsv",
    output:
        **dataset_figure_outputs(),
    params:
        synthetic=lambda wildcards: is_synthetic(wildcards.dataset),
        alpha=config["compare"]["fdr_alpha"],
        min_cells=config["compare"]["min_cells_per_donor"],
        network=network_settings(),
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


rule plot_cross_dataset:
    input:
        tests=expand("results/compare/{dataset}/signature_tests.tsv", dataset=DATASETS),
        interactions=expand("results/network/{dataset}/interaction_tests.tsv", dataset=DATASETS),
        meta=meta_table,
        **CURATED,
    output:
        forest_png=report(
            "results/figures/cross_dataset/forest_plot.png",
            caption="../report/forest_plot.rst",
            category="Cross-dataset",
        ),
        forest_svg="results/figures/cross_dataset/forest_plot.svg",
        therapy_png=report(
            "results/figures/cross_dataset/therapy_panel.png",
            caption="../report/therapy_panel.rst",
            category="Cross-dataset",
        ),
        therapy_svg="results/figures/cross_dataset/therapy_panel.svg",
        therapy_table=report(
            "results/figures/cross_dataset/therapy_panel.tsv",
            caption="../report/therapy_table.rst",
            category="Tables",
            subcategory="cross-dataset",
        ),
    params:
        synthetic=any(is_synthetic(d) for d in DATASETS),
        alpha=config["compare"]["fdr_alpha"],
        diseases=list(dict.fromkeys(c["case"] for c in config["compare"]["contrasts"])),
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/plot_cross_dataset/all.log",
    benchmark:
        "results/benchmarks/plot_cross_dataset/all.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=1, minimum_min=15),
    script:
        "../../scripts/plot_cross_dataset.py"
