# Deterministic figures (PNG + SVG, byte-identical on rerun) per dataset and across datasets.
# Every PNG is registered with report() so `snakemake --report report.zip` packs it with a caption.
# The figure list is declared once, in neurokine.plot.catalog.

rule plot_figures:
    input:
        tests=paths.SIGNATURE_TESTS,
        qc=paths.QC_STEPS,
        cell_counts=paths.CELL_COUNTS,
        donor_scores=paths.DONOR_SCORES,
        nodes=paths.NODE_SCORES,
        interactions=paths.INTERACTION_TESTS,
        activities=paths.ACTIVITY_TESTS,
        verdicts=paths.VERDICTS,
    output:
        **dataset_figure_outputs(),
    params:
        synthetic=lambda wildcards: wildcards.dataset in synthetic_datasets(),
        compare=SETTINGS.compare,
        network=SETTINGS.network,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("plot_figures", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("plot_figures", paths.LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=1, minimum_min=15),
    script:
        "../../scripts/plot_figures.py"


# At the cross-dataset level (lineage when analysed), where every dataset has rows.
rule plot_cross_dataset:
    input:
        tests=paths.per_dataset(paths.SIGNATURE_TESTS, DATASETS, SETTINGS.cross_dataset_level),
        interactions=paths.per_dataset(paths.INTERACTION_TESTS, DATASETS,
                                       SETTINGS.cross_dataset_level),
        meta=meta_table,
        **CURATED,
    output:
        forest_png=report(paths.cross_dataset_figure("forest_plot", "png"),
                          caption="../report/forest_plot.rst", category="Cross-dataset"),
        forest_svg=paths.cross_dataset_figure("forest_plot", "svg"),
        therapy_png=report(paths.cross_dataset_figure("therapy_panel", "png"),
                           caption="../report/therapy_panel.rst", category="Cross-dataset"),
        therapy_svg=paths.cross_dataset_figure("therapy_panel", "svg"),
        therapy_table=report(paths.THERAPY_TABLE, caption="../report/therapy_table.rst",
                             category="Tables", subcategory="cross-dataset"),
    params:
        synthetic=bool(synthetic_datasets()),
        compare=SETTINGS.compare,
        level=SETTINGS.cross_dataset_level,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("plot_cross_dataset", "all"),
    benchmark:
        paths.benchmark("plot_cross_dataset", "all")
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=2000),
        runtime=runtime_min(per_input_mb=1, minimum_min=15),
    script:
        "../../scripts/plot_cross_dataset.py"
