"""Rule script: simulate the synthetic demo cohort from config.simulation."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.inputs import load_curated
from neurokine.io.files import write_h5ad, write_tsv
from neurokine.validation import simulate

params = snakemake.params.simulation
vocabulary, axes = load_curated(snakemake.input)
effects = simulate.planted_effects_from_config(params["planted_effects"])
adata = simulate.simulate_cohort(
    axes, vocabulary, groups=params["groups"], donors_per_group=params["donors_per_group"],
    cells_per_donor=(params["cells_per_donor"]["min"], params["cells_per_donor"]["max"]),
    n_background_genes=params["n_background_genes"], mean_library_size=params["mean_library_size"],
    dispersion=params["dispersion"], donor_sd=params["donor_sd"],
    donor_module_sd=params["donor_module_sd"],
    composition_concentration=params["composition_concentration"],
    low_quality_fraction=params["low_quality_fraction"], planted_effects=effects,
    seed=snakemake.params.seed, tissue=params["tissue"], dataset_id=snakemake.wildcards.dataset,
)
log.info("simulated %d cells x %d genes for %d donors", adata.n_obs, adata.n_vars,
         adata.obs["donor_id"].nunique())
write_tsv(simulate.planted_truth(effects, axes), snakemake.output.truth,
          sort_by=["disease", "axis", "module", "cell_type"])
write_h5ad(adata, snakemake.output.h5ad)
