"""Rule script: score every axis module per cell of one prepared shard with the dataset's one
scoring plan, and sum per sample x cell type, in one bounded-memory pass."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.axes import gene_sets
from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_npz, write_npz
from neurokine.scoring import detection
from neurokine.scoring.genestats import stats_from_arrays
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.plan import build_plan
from neurokine.scoring.stream import score_file

_vocabulary, axes = load_curated(snakemake.input)
params = ScoringParams.from_settings(snakemake.params.scoring, snakemake.params.seed)
stats, var_names = stats_from_arrays(read_npz(snakemake.input.stats), snakemake.input.stats)
# The plan is a pure function of the gene statistics, the axes and the settings: every shard
# rebuilds the same one (plan_scoring wrote its coverage and null signatures).
plan = build_plan(gene_sets(axes), var_names, stats, params)
lr_genes = [g for a in axes for g in (*a.ligands, *a.receptor_genes)]
# The per-cell Parquet files are streamed block by block through neurokine.io.atomic_path.
result = score_file(snakemake.input.h5ad, plan, var_names, detection.axis_features(axes), lr_genes,
                    cell_scores_path=snakemake.output.scores,
                    cell_detection_path=snakemake.output.cell_detection, threads=snakemake.threads)
write_npz(result.state.to_arrays(), snakemake.output.sums)
log.info("shard %s: %d cells into %d sample x cell-type groups", snakemake.wildcards.shard,
         result.n_cells, result.state.n_groups)
