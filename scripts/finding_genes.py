"""Rule script: per-gene donor-level evidence (pseudobulk) for the findings the report shows."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from functools import partial

from neurokine.curated.axes import gene_sets
from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_h5ad, read_tsv, write_tsv
from neurokine.plot.explore import detail_findings
from neurokine.stats import compare, drivers

# Every table of this rule is one cell-type level's (fine or lineage): its level column says which.
write_tsv = partial(write_tsv, level=snakemake.wildcards.level)

settings, report = snakemake.params.compare, snakemake.params.report
_, axes = load_curated(snakemake.input)
tests = read_tsv(snakemake.input.tests, keep_level=False)
verdicts = read_tsv(snakemake.input.verdicts, keep_level=False)
pb = read_h5ad(snakemake.input.pseudobulk)
contrasts, _ = compare.applicable_contrasts(settings.contrasts, set(pb.obs["disease"].astype(str)))
findings = detail_findings(tests, verdicts, settings.fdr_alpha, report.detail_findings)
table = drivers.finding_genes(pb, findings, gene_sets(axes), contrasts,
                              covariates=list(settings.covariates),
                              min_cells=settings.min_cells_per_donor,
                              min_donors=settings.min_donors_per_arm,
                              min_count=settings.enrichment.min_count)
log.info("%d findings, %d gene rows (%d tested)", len(findings), len(table),
         int((table["status"] == "tested").sum()))
write_tsv(table, snakemake.output.genes, sort_by=["contrast", "tissue", "cell_type", "signature", "gene"])
