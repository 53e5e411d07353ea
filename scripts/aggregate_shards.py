"""Rule script: add up every shard's group sums (plan order) and write the aggregate tables of one
cell-type level (fine: each cell's own type; lineage: its types' groups added up)."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from functools import partial

from neurokine.curated.cell_types import at_level
from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_npz, write_h5ad, write_tsv
from neurokine.scoring import detection
from neurokine.scoring.aggregate import AggregateTables, GroupState, combine_states, regroup

level = snakemake.wildcards.level
vocabulary, axes = load_curated(snakemake.input)
cells = combine_states([GroupState.from_arrays(read_npz(p)) for p in snakemake.input.sums])
state = regroup(cells, partial(at_level, level=level, vocabulary=vocabulary))
tables = AggregateTables(state, detection.axis_features(axes))
groups = ["sample_id", "cell_type"]
# Every table is this level's: its level column says which.
write_tsv = partial(write_tsv, level=level)
write_tsv(tables.donor_scores(), snakemake.output.donor_scores, sort_by=[*groups, "signature"])
write_tsv(tables.cell_counts(), snakemake.output.cell_counts, sort_by=groups)
write_tsv(tables.gene_detection(), snakemake.output.gene_detection, sort_by=[*groups, "gene"])
write_tsv(tables.receptor_detection(), snakemake.output.receptor_detection,
          sort_by=[*groups, "axis", "module"])
write_tsv(tables.null_calibration(), snakemake.output.null_calibration, sort_by=[*groups, "signature"])
pseudobulk = tables.pseudobulk()
pseudobulk.uns["level"] = level
write_h5ad(pseudobulk, snakemake.output.pseudobulk)
log.info("aggregated %d cells of %d shards into %d sample x cell-type groups at %s level "
         "(%d cells whose label is too coarse for this level left out)",
         state.n_cells.sum(), len(snakemake.input.sums), state.n_groups, level,
         cells.n_cells.sum() - state.n_cells.sum())
