# The self-contained HTML report over all datasets (figures and tables embedded as data URIs).


rule render_report:
    input:
        tests=expand("results/compare/{dataset}/signature_tests.tsv", dataset=DATASETS),
        qc=expand("results/prepared/{dataset}/qc_steps.tsv", dataset=DATASETS),
        cell_counts=expand("results/aggregate/{dataset}/cell_counts.tsv", dataset=DATASETS),
        interactions=expand("results/network/{dataset}/interaction_tests.tsv", dataset=DATASETS),
        evidence=expand("results/network/{dataset}/evidence.tsv", dataset=DATASETS),
        figures=[f for d in DATASETS for f in report_figures(d)],
        cross_figures=["results/figures/cross_dataset/forest_plot.png",
                       "results/figures/cross_dataset/therapy_panel.png"],
        therapy="results/figures/cross_dataset/therapy_panel.tsv",
        meta=meta_table,
        truths=expand(
            "results/simulated/{dataset}/planted_effects.tsv",
            dataset=[d for d in DATASETS if is_synthetic(d)],
        ),
        **CURATED,
    output:
        html=report(
            "results/report/index.html",
            caption="../report/html_report.rst",
            category="Report",
        ),
    params:
        datasets=DATASETS,
        figure_stems=list(DATASET_FIGURES),
        synthetic_datasets=[d for d in DATASETS if is_synthetic(d)],
        registry={d: DATASET_RULES.registry[d] for d in DATASETS},
        title=config["report"]["title"],
        alpha=config["compare"]["fdr_alpha"],
    conda:
        "../../envs/neurokine.yaml"
    log:
        "logs/render_report/all.log",
    benchmark:
        "results/benchmarks/render_report/all.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/render_report.py"
