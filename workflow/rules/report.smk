# Per-gene donor-level evidence (pseudobulk) for the findings the report shows, so opening a
# finding names the genes driving it (neurokine.stats.drivers).
rule finding_genes:
    input:
        pseudobulk=paths.PSEUDOBULK,
        tests=paths.SIGNATURE_TESTS,
        verdicts=paths.VERDICTS,
        **CURATED,
    output:
        genes=paths.FINDING_GENES,
    params:
        compare=SETTINGS.compare,
        report=SETTINGS.report,
    conda:
        "../../envs/neurokine.yaml"
    log:
        paths.log("finding_genes", paths.LEVEL_NAME),
    benchmark:
        paths.benchmark("finding_genes", paths.LEVEL_NAME)
    threads: 1
    resources:
        mem_mb=mem_mb(per_input_mb=20, minimum_mb=1500),
        runtime=runtime_min(per_input_mb=1, minimum_min=15),
    script:
        "../../scripts/finding_genes.py"


# The self-contained HTML report over all datasets, one section per dataset and cell-type level
# (figures and tables embedded as data URIs).
# The script reads each dataset's files by their declared paths (neurokine.workflow.paths); the
# inputs below list the same files so Snakemake builds them first.


rule render_report:
    input:
        tests=per_level(paths.SIGNATURE_TESTS),
        qc=paths.per_dataset(paths.QC_STEPS, DATASETS),
        depth=paths.per_dataset(paths.DEPTH_PLAN, DATASETS),
        cell_counts=per_level(paths.CELL_COUNTS),
        interactions=per_level(paths.INTERACTION_TESTS),
        evidence=per_level(paths.EVIDENCE),
        verdicts=per_level(paths.VERDICTS),
        activities=per_level(paths.ACTIVITY_TESTS),
        donor_values=per_level(paths.DONOR_VALUES),
        coverage=paths.per_dataset(paths.GENE_COVERAGE, DATASETS),
        genes=per_level(paths.FINDING_GENES),
        figures=[png for d in DATASETS for level in SETTINGS.cell_type_levels
                 for png in dataset_figure_pngs(d, level).values()],
        cross_figures=[paths.cross_dataset_figure(f.stem, "png") for f in CROSS_DATASET_FIGURES],
        therapy=paths.THERAPY_TABLE,
        meta=meta_table,
        truths=paths.per_dataset(paths.PLANTED_EFFECTS, [d for d in DATASETS if is_simulated(d)]),
        **CURATED,
    output:
        html=report(paths.REPORT, caption="../report/html_report.rst", category="Report"),
    params:
        datasets=DATASETS,
        levels=SETTINGS.cell_type_levels,
        simulated=[d for d in DATASETS if is_simulated(d)],
        registry={d: REGISTRY.registry[d] for d in DATASETS},
        title=SETTINGS.report_title,
        compare=SETTINGS.compare,
        network=SETTINGS.network,
        scoring=SETTINGS.scoring,
        report=SETTINGS.report,
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
