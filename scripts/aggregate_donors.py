"""Rule script: one row per sample x cell type (mean scores, cell counts, detection, pseudobulk)."""

from neurokine.logs import log_to_file

log = log_to_file(snakemake.log[0])

import pandas as pd  # noqa: E402

from neurokine import aggregate  # noqa: E402
from neurokine.io import read_h5ad, write_h5ad, write_tsv  # noqa: E402
from neurokine.resources import load_curated  # noqa: E402

vocabulary, axes = load_curated(snakemake.input)
adata = read_h5ad(snakemake.input.h5ad)
scores = pd.read_parquet(snakemake.input.scores).loc[adata.obs_names]
group_keys = ["sample_id", "cell_type", "signature"]
write_tsv(aggregate.mean_scores(adata.obs, scores), snakemake.output.donor_scores, sort_by=group_keys)
write_tsv(aggregate.cell_counts(adata.obs), snakemake.output.cell_counts,
          sort_by=["sample_id", "cell_type"])
ligand_receptor = [g for a in axes for g in (*a.ligands, *a.receptor_genes)]
write_tsv(aggregate.gene_detection(adata, ligand_receptor), snakemake.output.gene_detection,
          sort_by=["sample_id", "cell_type", "gene"])
write_h5ad(aggregate.pseudobulk(adata), snakemake.output.pseudobulk)
log.info("aggregated %d cells into %d sample x cell-type groups", adata.n_obs,
         adata.obs.groupby(["sample_id", "cell_type"], observed=True).ngroups)
