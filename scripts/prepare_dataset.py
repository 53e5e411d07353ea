"""Rule script: check the harmonized counts, run QC and normalize."""

import gc

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io import prepare
from neurokine.io.files import read_h5ad, write_h5ad, write_tsv

settings = snakemake.params.prepare
adata = read_h5ad(snakemake.input.h5ad)
prepare.check_harmonized(adata, snakemake.input.h5ad)
n_cells, n_genes = adata.shape
filtered, steps = prepare.apply_qc(adata, settings)
# AnnData holds reference cycles, so the unfiltered matrix is freed only by a collection; it
# would otherwise stay in memory beside the filtered one through normalization and writing.
del adata
gc.collect()
log.info("QC kept %d of %d cells and %d of %d genes", filtered.n_obs, n_cells,
         filtered.n_vars, n_genes)
prepared = prepare.normalize(filtered, settings.target_sum)
write_tsv(steps, snakemake.output.qc, sort_by=["order", "sample_id"])
write_h5ad(prepared, snakemake.output.h5ad)
