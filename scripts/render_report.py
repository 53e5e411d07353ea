"""Rule script: the self-contained HTML report over all datasets."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from pathlib import Path

from neurokine.curated import references
from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_tsv, sha256sum, write_text
from neurokine.io.registry import is_synthetic
from neurokine.plot import report
from neurokine.plot.catalog import DATASET_FIGURES
from neurokine.workflow import paths

inputs, params = snakemake.input, snakemake.params
vocabulary, axis_list = load_curated(inputs)
sections = []
for dataset in params.datasets:
    entry = params.registry[dataset]
    table = {name: read_tsv(template.format(dataset=dataset)) for name, template in (
        ("results", paths.SIGNATURE_TESTS), ("qc_steps", paths.QC_STEPS),
        ("cell_counts", paths.CELL_COUNTS), ("network", paths.INTERACTION_TESTS),
        ("evidence", paths.EVIDENCE), ("verdicts", paths.VERDICTS),
        ("donor_values", paths.DONOR_VALUES), ("coverage", paths.GENE_COVERAGE),
        ("genes", paths.FINDING_GENES), ("activities", paths.ACTIVITY_TESTS))}
    truth = (read_tsv(paths.PLANTED_EFFECTS.format(dataset=dataset))
             if dataset in params.simulated else None)
    figures = {f.stem: Path(paths.dataset_figure(f.stem, "png", dataset)) for f in DATASET_FIGURES}
    sections.append(report.DatasetSection(
        dataset_id=dataset, title=entry["title"], citation=entry["citation"],
        synthetic=is_synthetic(entry), figures=figures, truth=truth, registry=entry, **table))
cross = report.CrossDataset(
    figures={Path(p).stem: Path(p) for p in inputs.cross_figures}, therapy=read_tsv(inputs.therapy),
    meta=read_tsv(inputs.meta[0]) if inputs.meta else None)
resource_checksums = {f"{Path(p).parent.name}/{Path(p).name}": sha256sum(p)
                      for p in [*inputs.axes, inputs.cell_types]}
outputs = [*inputs.tests, *inputs.interactions, *inputs.evidence, *inputs.verdicts, *inputs.activities,
           *inputs.genes, *inputs.figures, *inputs.cross_figures, inputs.therapy, *inputs.meta]
html = report.render_report(
    title=params.title, sections=sections, axes={a.id: a for a in axis_list}, config=snakemake.config,
    compare=params.compare, network=params.network, scoring=params.scoring,
    report_settings=params.report, resource_checksums=resource_checksums,
    cross=cross, reference_provenance=references.provenance(),
    output_checksums={str(p): sha256sum(p) for p in outputs})
write_text(html, snakemake.output.html)
log.info("report written: %d dataset sections, %d bytes", len(sections), len(html.encode()))
