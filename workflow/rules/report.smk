rule render_report:
    input:
        tests=expand("results/compare/{dataset}/signature_tests.tsv", dataset=DATASETS),
        qc=expand("results/prepared/{dataset}/qc_steps.tsv", dataset=DATASETS),
        heatmaps=expand("results/figures/{dataset}/effect_heatmap.png", dataset=DATASETS),
        qc_figures=expand("results/figures/{dataset}/qc_overview.png", dataset=DATASETS),
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
