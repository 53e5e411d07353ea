"""Rule script: the ground truth planted in the simulated demo cohort."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.inputs import load_curated
from neurokine.io.files import write_tsv
from neurokine.validation import simulate

vocabulary, axes = load_curated(snakemake.input)
settings = snakemake.params.simulation
effects = simulate.planted_effects_from_config(settings.planted_effects)
# The cohort model holds each moved gene's own log2 fold change (drawn from the cohort's seed).
model = simulate.model_from_settings(axes, vocabulary, settings, seed=snakemake.params.seed,
                                     dataset_id=snakemake.wildcards.dataset)
write_tsv(simulate.planted_truth(effects, axes, settings.planted_genes, model), snakemake.output.truth,
          sort_by=["disease", "axis", "module", "cell_type"])
