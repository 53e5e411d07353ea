"""Rule script: the deterministic per-dataset figures (PNG + SVG) from the results tables."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io.files import read_tsv
from neurokine.plot import figures, style

style.apply_style()
inputs = snakemake.input
tables = figures.DatasetTables(
    tests=read_tsv(inputs.tests), qc_steps=read_tsv(inputs.qc), cell_counts=read_tsv(inputs.cell_counts),
    donor_scores=read_tsv(inputs.donor_scores), nodes=read_tsv(inputs.nodes),
    network=read_tsv(inputs.interactions), activities=read_tsv(inputs.activities),
    verdicts=read_tsv(inputs.verdicts))
compare = snakemake.params.compare
for name, fig in figures.dataset_figures(
        tables, dataset=f"{snakemake.wildcards.dataset} ({snakemake.wildcards.level} level)",
        synthetic=snakemake.params.synthetic,
        alpha=compare.fdr_alpha, min_cells=compare.min_cells_per_donor,
        network=snakemake.params.network):
    style.save_figure(fig, snakemake.output[f"{name}_png"], snakemake.output[f"{name}_svg"])
    log.info("figure %s written", name)
