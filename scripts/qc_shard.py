"""Rule script: check one shard's harmonized counts and run the cell QC on it."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io import prepare
from neurokine.io.files import write_npz, write_tsv
from neurokine.io.shards import read_samples
from neurokine.workflow.shards import shard_samples

source = snakemake.input.h5ad
adata = read_samples(source, shard_samples(snakemake.input.plan, snakemake.wildcards.shard))
prepare.check_harmonized(adata, source)
record, steps = prepare.qc_shard(adata, snakemake.params.prepare)
log.info("shard %s: cell QC kept %d of %d cells", snakemake.wildcards.shard,
         record["keep"].sum(), adata.n_obs)
write_tsv(steps, snakemake.output.steps, sort_by=["order", "sample_id"])
write_npz(record, snakemake.output.record)
