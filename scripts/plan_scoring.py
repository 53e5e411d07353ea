"""Rule script: gene statistics over every prepared shard (in plan order, as one pass over the
dataset) and the scoring plan they give: gene coverage, control genes, null signatures."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.axes import gene_sets
from neurokine.curated.inputs import load_curated
from neurokine.io.files import write_npz, write_tsv
from neurokine.scoring.genestats import stats_arrays
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.stream import plan_from_files

dataset = snakemake.wildcards.dataset
_vocabulary, axes = load_curated(snakemake.input)
params = ScoringParams.from_settings(snakemake.params.scoring, snakemake.params.seed)
plan, stats, var_names = plan_from_files(list(snakemake.input.h5ad), gene_sets(axes), params)
log.info("gene statistics of %d cells x %d genes in %d shards; %d signatures scored",
         stats.n_cells, len(var_names), len(snakemake.input.h5ad), plan.n_signatures)
write_npz(stats_arrays(stats, var_names), snakemake.output.stats)
write_tsv(plan.coverage.assign(dataset_id=dataset), snakemake.output.coverage,
          sort_by=["signature"])
write_tsv(plan.null_sets.assign(dataset_id=dataset), snakemake.output.null_signatures,
          sort_by=["signature", "null"])
