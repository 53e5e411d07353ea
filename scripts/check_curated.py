"""Rule check_curated: validate axes and vocabulary (genes included) before any other stage."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io.checks import check_curated
from neurokine.io.files import write_tsv

genes = check_curated(snakemake.params.axes_dir, snakemake.input.axis_schema,
                      snakemake.input.cell_types, snakemake.input.cell_types_schema,
                      snakemake.input.allowlist)
log.info("%d curated gene entries accepted by %s", len(genes), genes["universe"].iloc[0])
write_tsv(genes, snakemake.output.genes, sort_by=["file", "field", "gene"])
