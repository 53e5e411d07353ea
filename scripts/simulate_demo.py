"""Rule script: simulate the synthetic demo cohort from config.simulation."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.inputs import load_curated
from neurokine.io.files import write_h5ad, write_tsv
from neurokine.validation import simulate

settings = snakemake.params.simulation
vocabulary, axes = load_curated(snakemake.input)
adata = simulate.cohort_from_settings(axes, vocabulary, settings, seed=snakemake.params.seed,
                                      dataset_id=snakemake.wildcards.dataset)
log.info("simulated %d cells x %d genes for %d donors", adata.n_obs, adata.n_vars,
         adata.obs["donor_id"].nunique())
effects = simulate.planted_effects_from_config(settings.planted_effects)
write_tsv(simulate.planted_truth(effects, axes), snakemake.output.truth,
          sort_by=["disease", "axis", "module", "cell_type"])
write_h5ad(adata, snakemake.output.h5ad)
