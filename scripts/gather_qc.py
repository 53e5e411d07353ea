"""Rule script: the dataset's QC table and gene filter from every shard's cell QC."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io import prepare
from neurokine.io.files import read_npz, read_tsv, write_tsv

records = [read_npz(path) for path in snakemake.input.records]  # plan order
tables = [read_tsv(path) for path in snakemake.input.steps]
qc, genes, depth = prepare.gather_qc(records, tables, snakemake.params.prepare,
                                     list(snakemake.input.records))
log.info("QC kept %d of %d genes over %d shards", genes["kept"].sum(), len(genes), len(records))
log.info("depth: target %s counts per cell; samples keep %.2f to %.2f of their counts",
         depth["target_total_counts"].iloc[0], depth["keep_fraction"].min(),
         depth["keep_fraction"].max())
warning = prepare.shallow_sample_warning(depth)
if warning:
    log.warning(warning)
write_tsv(qc, snakemake.output.qc, sort_by=["order", "sample_id"])
write_tsv(genes, snakemake.output.genes, sort_by=["position"])
write_tsv(depth, snakemake.output.depth, sort_by=["sample_id"])
