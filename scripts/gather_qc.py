"""Rule script: the dataset's QC table and gene filter from every shard's cell QC."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io import prepare
from neurokine.io.files import read_npz, read_tsv, write_tsv

records = [read_npz(path) for path in snakemake.input.records]  # plan order
tables = [read_tsv(path) for path in snakemake.input.steps]
qc, genes = prepare.gather_qc(records, tables, snakemake.params.prepare,
                              list(snakemake.input.records))
log.info("QC kept %d of %d genes over %d shards", genes["kept"].sum(), len(genes), len(records))
write_tsv(qc, snakemake.output.qc, sort_by=["order", "sample_id"])
write_tsv(genes, snakemake.output.genes, sort_by=["position"])
