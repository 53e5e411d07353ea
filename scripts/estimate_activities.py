"""Rule script: joint activities of every axis's response program, tested across donors."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from functools import partial

from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_h5ad, write_tsv
from neurokine.stats import activity, compare

# Every table of this rule is one cell-type level's (fine or lineage): its level column says which.
write_tsv = partial(write_tsv, level=snakemake.wildcards.level)

settings = snakemake.params.compare
_, axes = load_curated(snakemake.input)
pb = read_h5ad(snakemake.input.pseudobulk)
model = activity.activity_model(axes, snakemake.params.activity.resource)
contrasts, notes = compare.applicable_contrasts(settings.contrasts, set(pb.obs["disease"].astype(str)))
for note in notes:
    log.info("contrast skipped for this dataset: %s", note)
log.info("programs: %s (%d signatures over %d genes)", model.resource, model.weights.shape[1],
         model.weights.shape[0])
table = activity.activity_tests(pb, contrasts, model, settings, snakemake.params.seed,
                                activity.shared_response_genes(axes))
log.info("%d activity tests, %d not tested, %d with BH-FDR < %s", (table["status"] == "tested").sum(),
         (table["status"] != "tested").sum(), (table["fdr"] < settings.fdr_alpha).sum(),
         settings.fdr_alpha)
write_tsv(table, snakemake.output.tests, sort_by=["contrast", "level", "tissue", "cell_type", "axis"])
write_tsv(activity.leakage_table(axes, model, list(pb.var_names)), snakemake.output.leakage,
          sort_by=["axis", "other_axis"])
