"""Rule script: add up every shard's group sums (plan order) and write the aggregate tables."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_npz, write_h5ad, write_tsv
from neurokine.scoring import detection
from neurokine.scoring.aggregate import AggregateTables, GroupState, combine_states

_vocabulary, axes = load_curated(snakemake.input)
state = combine_states([GroupState.from_arrays(read_npz(p)) for p in snakemake.input.sums])
tables = AggregateTables(state, detection.axis_features(axes))
groups = ["sample_id", "cell_type"]
write_tsv(tables.donor_scores(), snakemake.output.donor_scores, sort_by=[*groups, "signature"])
write_tsv(tables.cell_counts(), snakemake.output.cell_counts, sort_by=groups)
write_tsv(tables.gene_detection(), snakemake.output.gene_detection, sort_by=[*groups, "gene"])
write_tsv(tables.receptor_detection(), snakemake.output.receptor_detection,
          sort_by=[*groups, "axis", "module"])
write_tsv(tables.null_calibration(), snakemake.output.null_calibration,
          sort_by=[*groups, "signature"])
write_h5ad(tables.pseudobulk(), snakemake.output.pseudobulk)
log.info("aggregated %d cells of %d shards into %d sample x cell-type groups",
         state.n_cells.sum(), len(snakemake.input.sums), state.n_groups)
