"""Rule script: one shard's QC-passing cells on the dataset's kept genes, normalized."""

import gc

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io import prepare
from neurokine.io.files import read_npz, read_tsv, write_h5ad
from neurokine.io.shards import read_samples
from neurokine.workflow.shards import shard_samples

source = snakemake.input.h5ad
adata = read_samples(source, shard_samples(snakemake.input.plan, snakemake.wildcards.shard))
n_cells = adata.n_obs
prepared = prepare.prepare_shard(adata, read_npz(snakemake.input.record),
                                 read_tsv(snakemake.input.genes), read_tsv(snakemake.input.depth),
                                 snakemake.params.prepare, snakemake.params.seed, source)
# AnnData holds reference cycles, so the unfiltered matrix is freed only by a collection; it
# would otherwise stay in memory beside the prepared one while it is written.
del adata
gc.collect()
log.info("shard %s: kept %d of %d cells, %d genes", snakemake.wildcards.shard, prepared.n_obs,
         n_cells, prepared.n_vars)
write_h5ad(prepared, snakemake.output.h5ad)
