"""Rule script: the self-contained HTML report over all datasets."""

from neurokine.logs import log_to_file

log = log_to_file(snakemake.log[0])

from pathlib import Path  # noqa: E402

from neurokine import report  # noqa: E402
from neurokine.io import read_tsv, sha256sum, write_text  # noqa: E402
from neurokine.resources import load_curated  # noqa: E402

vocabulary, axis_list = load_curated(snakemake.input)
axes = {a.id: a for a in axis_list}
registry = snakemake.params.registry
truths = dict(zip(snakemake.params.synthetic_datasets, snakemake.input.truths, strict=True))
sections = []
for i, dataset in enumerate(snakemake.params.datasets):
    entry = registry[dataset]
    synthetic = bool(entry.get("synthetic", False))
    sections.append(report.DatasetSection(
        dataset_id=dataset, title=entry["title"], citation=entry["citation"], synthetic=synthetic,
        results=read_tsv(snakemake.input.tests[i]), qc_steps=read_tsv(snakemake.input.qc[i]),
        figures={"response-module effect heatmap": Path(snakemake.input.heatmaps[i]),
                 "QC overview": Path(snakemake.input.qc_figures[i])},
        truth=read_tsv(truths[dataset]) if dataset in truths else None,
    ))
checksums = {f"{Path(p).parent.name}/{Path(p).name}": sha256sum(p)
             for p in [*snakemake.input.axes, snakemake.input.cell_types]}
html = report.render_report(
    Path(report.__file__).parent / "templates", title=snakemake.params.title, sections=sections,
    axes=axes, config=snakemake.config, resource_checksums=checksums, alpha=snakemake.params.alpha)
write_text(html, snakemake.output.html)
log.info("report written with %d dataset sections", len(sections))
