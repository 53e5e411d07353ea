"""Rule script: the self-contained HTML report over all datasets."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from pathlib import Path

from neurokine.curated import references
from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_tsv, sha256sum, write_text
from neurokine.plot import report

inputs = snakemake.input
vocabulary, axis_list = load_curated(inputs)
axes = {a.id: a for a in axis_list}
stems = snakemake.params.figure_stems
truths = dict(zip(snakemake.params.synthetic_datasets, inputs.truths, strict=True))
sections = []
for i, dataset in enumerate(snakemake.params.datasets):
    entry = snakemake.params.registry[dataset]
    pngs = inputs.figures[i * len(stems):(i + 1) * len(stems)]
    sections.append(report.DatasetSection(
        dataset_id=dataset, title=entry["title"], citation=entry["citation"],
        synthetic=bool(entry.get("synthetic", False)), results=read_tsv(inputs.tests[i]),
        qc_steps=read_tsv(inputs.qc[i]), figures=dict(zip(stems, map(Path, pngs), strict=True)),
        truth=read_tsv(truths[dataset]) if dataset in truths else None,
        cell_counts=read_tsv(inputs.cell_counts[i]), network=read_tsv(inputs.interactions[i]),
        evidence=read_tsv(inputs.evidence[i]), registry=entry,
    ))
cross = report.CrossDataset(
    figures={Path(p).stem: Path(p) for p in inputs.cross_figures}, therapy=read_tsv(inputs.therapy),
    meta=read_tsv(inputs.meta[0]) if inputs.meta else None)
resource_checksums = {f"{Path(p).parent.name}/{Path(p).name}": sha256sum(p)
                      for p in [*inputs.axes, inputs.cell_types]}
outputs = [*inputs.tests, *inputs.interactions, *inputs.evidence, *inputs.figures, *inputs.cross_figures,
           inputs.therapy, *inputs.meta]
html = report.render_report(
    Path(report.__file__).parent / "templates", title=snakemake.params.title, sections=sections,
    axes=axes, config=snakemake.config, resource_checksums=resource_checksums,
    alpha=snakemake.params.alpha, cross=cross, reference_provenance=references.provenance(),
    output_checksums={str(p): sha256sum(p) for p in outputs})
write_text(html, snakemake.output.html)
log.info("report written: %d dataset sections, %d bytes", len(sections), len(html.encode()))
