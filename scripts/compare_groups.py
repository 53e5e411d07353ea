"""Rule script: donor-level tests (mean per-cell score and pseudobulk), composition, BH-FDR."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from functools import partial

from neurokine.curated.axes import gene_sets
from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_h5ad, read_tsv, write_tsv
from neurokine.stats import compare, composition, pseudobulk

# Every table of this rule is one cell-type level's (fine or lineage): its level column says which.
write_tsv = partial(write_tsv, level=snakemake.wildcards.level)

settings = snakemake.params.compare
_, axes = load_curated(snakemake.input)
donor_scores = read_tsv(snakemake.input.donor_scores, keep_level=False)
coverage = read_tsv(snakemake.input.coverage)
cell_counts = read_tsv(snakemake.input.cell_counts, keep_level=False)
contrasts, notes = compare.applicable_contrasts(settings.contrasts,
                                                set(donor_scores["disease"].astype(str)))
for note in notes:
    log.info("contrast skipped for this dataset: %s", note)
options = compare.compare_options(settings, snakemake.params.seed)

abundance = composition.composition_tests(cell_counts, contrasts, **options)
pb = read_h5ad(snakemake.input.pseudobulk)
# Both measures test a signature only where its genes are detected (compare.min_module_counts).
detection = dict(module_counts=pseudobulk.module_counts(pb, gene_sets(axes)),
                 min_module_counts=settings.min_module_counts)
results = compare.compare_groups(donor_scores, coverage, contrasts, composition_tests=abundance,
                                 **detection, **options)
pb_scores, pb_coverage = pseudobulk.signature_scores(pb, gene_sets(axes),
                                                     snakemake.params.min_gene_coverage)
pb_results = compare.compare_groups(pb_scores, pb_coverage, contrasts, value="mean_score",
                                    measure="pseudobulk_logcpm", composition_tests=abundance,
                                    **detection, **options)
for name, table in (("mean per-cell score", results), ("pseudobulk log-CPM", pb_results),
                    ("composition (CLR)", abundance)):
    if table.empty:
        log.info("%s: no test (no applicable contrast)", name)
        continue
    log.info("%s: %d tests, %d not tested, %d with BH-FDR < %s", name,
             (table["status"] == "tested").sum(), (table["status"] != "tested").sum(),
             (table["fdr"] < settings.fdr_alpha).sum(), settings.fdr_alpha)
order = ["contrast", "tissue", "module", "axis", "cell_type"]
write_tsv(results, snakemake.output.tests, sort_by=order)
write_tsv(pb_results, snakemake.output.pseudobulk_tests, sort_by=order)
write_tsv(pseudobulk.donor_values(donor_scores, pb_scores), snakemake.output.donor_values,
          sort_by=["measure", "sample_id", "cell_type", "signature"])
write_tsv(composition.clr_table(cell_counts), snakemake.output.composition,
          sort_by=["sample_id", "cell_type"])
write_tsv(abundance, snakemake.output.composition_tests, sort_by=["contrast", "tissue", "cell_type"])
