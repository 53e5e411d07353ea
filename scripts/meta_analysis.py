"""Rule script: DerSimonian-Laird random-effects meta-analysis over the selected datasets, at one
cell-type level."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.io.files import read_tsv, write_tsv
from neurokine.stats import meta

tables = [read_tsv(path, keep_level=False) for path in snakemake.input.tests]
result = meta.meta_analysis(tables)
datasets = snakemake.params.datasets
if len(datasets) < 2:
    log.warning("meta-analysis over %d dataset (%s): every row is 'single_dataset'; pooled "
                "estimates need at least 2 datasets", len(datasets), ", ".join(datasets))
log.info("%d meta-analysis rows: %s", len(result), result["status"].value_counts().to_dict())
write_tsv(result, snakemake.output.meta, sort_by=["contrast", "tissue", "module", "axis", "cell_type"],
          level=snakemake.wildcards.level)
