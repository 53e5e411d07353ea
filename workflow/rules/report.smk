# The self-contained HTML report over all datasets (figures and tables embedded as data URIs).
# The script reads each dataset's files by their declared paths (neurokine.workflow.paths); the
# inputs below list the same files so Snakemake builds them first.


rule render_report:
    input:
        tests=paths.per_dataset(paths.SIGNATURE_TESTS, DATASETS),
        qc=paths.per_dataset(paths.QC_STEPS, DATASETS),
        cell_counts=paths.per_dataset(paths.CELL_COUNTS, DATASETS),
        interactions=paths.per_dataset(paths.INTERACTION_TESTS, DATASETS),
        evidence=paths.per_dataset(paths.EVIDENCE, DATASETS),
        figures=[png for d in DATASETS for png in dataset_figure_pngs(d).values()],
        cross_figures=[paths.cross_dataset_figure(f.stem, "png") for f in CROSS_DATASET_FIGURES],
        therapy=paths.THERAPY_TABLE,
        meta=meta_table,
        truths=paths.per_dataset(paths.PLANTED_EFFECTS, [d for d in DATASETS if is_simulated(d)]),
        **CURATED,
    output:
        html=report(paths.REPORT, caption="../report/html_report.rst", category="Report"),
    params:
        datasets=DATASETS,
        simulated=[d for d in DATASETS if is_simulated(d)],
        registry={d: REGISTRY.registry[d] for d in DATASETS},
        title=SETTINGS.report_title,
        compare=SETTINGS.compare,
        network=SETTINGS.network,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("render_report", "all"),
    benchmark:
        paths.benchmark("render_report", "all")
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=10, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=0.5, minimum_min=15),
    script:
        "../../scripts/render_report.py"
