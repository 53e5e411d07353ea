"""Rule script: the self-contained HTML report over all datasets, one section per dataset and
cell-type level."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from pathlib import Path

from neurokine.curated import references
from neurokine.curated.cell_types import at_level
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
    truth = (read_tsv(paths.PLANTED_EFFECTS.format(dataset=dataset))
             if dataset in params.simulated else None)
    per_dataset = {"qc_steps": read_tsv(paths.QC_STEPS.format(dataset=dataset)),
                   "depth": read_tsv(paths.DEPTH_PLAN.format(dataset=dataset)),
                   "coverage": read_tsv(paths.GENE_COVERAGE.format(dataset=dataset))}
    for level in params.levels:
        table = {name: read_tsv(template.format(dataset=dataset, level=level)) for name, template in (
            ("results", paths.SIGNATURE_TESTS), ("cell_counts", paths.CELL_COUNTS),
            ("network", paths.INTERACTION_TESTS), ("evidence", paths.EVIDENCE),
            ("verdicts", paths.VERDICTS), ("donor_values", paths.DONOR_VALUES),
            ("genes", paths.FINDING_GENES), ("activities", paths.ACTIVITY_TESTS))}
        # Effects are planted in fine types; at lineage level the lineage holding one is expected
        # to move (diluted by the lineage's other types).
        level_truth = None if truth is None else truth.assign(cell_type=[
            at_level(c, "lineage", vocabulary) if level == "lineage" else c
            for c in truth["cell_type"]]).drop_duplicates(ignore_index=True)
        figures = {f.stem: Path(paths.dataset_figure(f.stem, "png", dataset, level))
                   for f in DATASET_FIGURES}
        sections.append(report.DatasetSection(
            dataset_id=dataset, title=entry["title"], citation=entry["citation"],
            synthetic=is_synthetic(entry), figures=figures, truth=level_truth, registry=entry,
            level=level, **per_dataset, **table))
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
log.info("report written: %d sections (%d datasets x %d levels), %d bytes", len(sections),
         len(params.datasets), len(params.levels), len(html.encode()))
