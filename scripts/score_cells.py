"""Rule script: score every cytokine-axis module per cell in one sparse pass."""

from neurokine.logs import log_to_file

log = log_to_file(snakemake.log[0])

import pandas as pd  # noqa: E402

from neurokine import scoring, signatures  # noqa: E402
from neurokine.io import read_h5ad, write_parquet, write_tsv  # noqa: E402
from neurokine.resources import load_curated  # noqa: E402

params = snakemake.params.scoring
vocabulary, axes = load_curated(snakemake.input)
adata = read_h5ad(snakemake.input.h5ad)
scores, coverage = scoring.score_cells(
    adata.X, adata.var_names, signatures.gene_sets(axes), ctrl_size=params["ctrl_size"],
    n_bins=params["n_bins"], random_state=snakemake.params.seed,
    min_coverage=params["min_gene_coverage"])
scores.index = pd.Index(adata.obs_names, name="cell_id")
for row in coverage[coverage["status"] != "scored"].itertuples():
    log.warning("signature %s not scored: %s", row.signature, row.reason)
write_tsv(coverage.assign(dataset_id=snakemake.wildcards.dataset), snakemake.output.coverage,
          sort_by=["signature"])
write_parquet(scores, snakemake.output.scores)
