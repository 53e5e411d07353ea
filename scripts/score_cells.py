"""Rule script: score every axis module per cell and aggregate per sample x cell type, in one
bounded-memory pass over the prepared .h5ad (neurokine.scoring.stream)."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.axes import gene_sets
from neurokine.curated.inputs import load_curated
from neurokine.io.files import write_h5ad, write_tsv
from neurokine.scoring import detection
from neurokine.scoring.params import ScoringParams
from neurokine.scoring.stream import score_and_aggregate

dataset = snakemake.wildcards.dataset
vocabulary, axes = load_curated(snakemake.input)
params = ScoringParams.from_settings(snakemake.params.scoring, snakemake.params.seed)
lr_genes = [g for a in axes for g in (*a.ligands, *a.receptor_genes)]
# The per-cell Parquet files are streamed block by block through neurokine.io.atomic_path.
result = score_and_aggregate(
    snakemake.input.h5ad, gene_sets(axes), detection.axis_features(axes), lr_genes,
    params, cell_scores_path=snakemake.output.scores,
    cell_detection_path=snakemake.output.cell_detection, threads=snakemake.threads)
groups = ["sample_id", "cell_type"]
write_tsv(result.coverage.assign(dataset_id=dataset), snakemake.output.coverage,
          sort_by=["signature"])
write_tsv(result.null_sets.assign(dataset_id=dataset), snakemake.output.null_signatures,
          sort_by=["signature", "null"])
write_tsv(result.donor_scores, snakemake.output.donor_scores, sort_by=[*groups, "signature"])
write_tsv(result.cell_counts, snakemake.output.cell_counts, sort_by=groups)
write_tsv(result.gene_detection, snakemake.output.gene_detection, sort_by=[*groups, "gene"])
write_tsv(result.receptor_detection, snakemake.output.receptor_detection,
          sort_by=[*groups, "axis", "module"])
write_tsv(result.null_calibration, snakemake.output.null_calibration,
          sort_by=[*groups, "signature"])
write_h5ad(result.pseudobulk, snakemake.output.pseudobulk)
log.info("aggregated %d cells into %d sample x cell-type groups", result.n_cells,
         result.pseudobulk.n_obs)
