"""Rule script: donor-ranked genes (pseudobulk moderated t) -> gseapy prerank on response sets."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from functools import partial

from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_h5ad, write_tsv
from neurokine.stats import compare, enrichment

# Every table of this rule is one cell-type level's (fine or lineage): its level column says which.
write_tsv = partial(write_tsv, level=snakemake.wildcards.level)

settings = snakemake.params.compare
vocabulary, axes = load_curated(snakemake.input)
pb = read_h5ad(snakemake.input.pseudobulk)
contrasts, notes = compare.applicable_contrasts(settings.contrasts, set(pb.obs["disease"].astype(str)))
for note in notes:
    log.info("contrast skipped for this dataset: %s", note)
table = enrichment.response_enrichment(
    pb, contrasts, axes, enrichment.hcd_labels_by_cell_type(vocabulary),
    covariates=list(settings.covariates), min_cells=settings.min_cells_per_donor,
    min_donors=settings.min_donors_per_arm, permutations=settings.enrichment.permutations,
    min_size=settings.enrichment.min_size, max_size=settings.enrichment.max_size,
    min_count=settings.enrichment.min_count, seed=snakemake.params.seed)
log.info("%d gene-set tests, %d not tested", (table["status"] == "tested").sum(),
         (table["status"] != "tested").sum())
write_tsv(table, snakemake.output.enrichment,
          sort_by=["contrast", "tissue", "cell_type", "resource", "gene_set"])
