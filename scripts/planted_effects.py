"""Rule script: the ground truth planted in the simulated demo cohort."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.inputs import load_curated
from neurokine.io.files import write_tsv
from neurokine.validation import simulate

_vocabulary, axes = load_curated(snakemake.input)
effects = simulate.planted_effects_from_config(snakemake.params.simulation.planted_effects)
write_tsv(simulate.planted_truth(effects, axes), snakemake.output.truth,
          sort_by=["disease", "axis", "module", "cell_type"])
