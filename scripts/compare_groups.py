"""Rule script: disease-vs-reference tests on donor-level scores, BH-FDR per family."""

from neurokine.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine import compare  # noqa: E402
from neurokine.io import read_tsv, write_tsv  # noqa: E402

params = snakemake.params.compare
donor_scores = read_tsv(snakemake.input.donor_scores)
coverage = read_tsv(snakemake.input.coverage)
contrasts, notes = compare.applicable_contrasts(compare.contrasts_from_config(params["contrasts"]),
                                                set(donor_scores["disease"].astype(str)))
for note in notes:
    log.info("contrast skipped for this dataset: %s", note)
results = compare.compare_groups(
    donor_scores, coverage, contrasts, covariates=params["covariates"],
    min_cells=params["min_cells_per_donor"], min_donors=params["min_donors_per_arm"],
    n_boot=params["n_bootstrap"], seed=snakemake.params.seed)
log.info("%d tests, %d not tested, %d with BH-FDR < %s", (results["status"] == "tested").sum(),
         (results["status"] != "tested").sum(), (results["fdr"] < params["fdr_alpha"]).sum(),
         params["fdr_alpha"])
write_tsv(results, snakemake.output.tests,
          sort_by=["contrast", "tissue", "module", "axis", "cell_type"])
