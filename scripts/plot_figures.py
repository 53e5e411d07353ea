"""Rule script: deterministic figures from the results tables."""

from neurokine.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine import figures, style  # noqa: E402
from neurokine.io import read_tsv  # noqa: E402

style.apply_style()
dataset = snakemake.wildcards.dataset
synthetic = snakemake.params.synthetic
results = read_tsv(snakemake.input.tests)
alpha = snakemake.params.alpha
fig = figures.effect_heatmaps(results, "response", alpha, synthetic,
                              f"{dataset}: response-module effects by disease")
style.save_figure(fig, snakemake.output.heatmap_png, snakemake.output.heatmap_svg)
fig = figures.qc_overview(read_tsv(snakemake.input.qc), synthetic, f"{dataset}: cells kept per QC step")
style.save_figure(fig, snakemake.output.qc_png, snakemake.output.qc_svg)
