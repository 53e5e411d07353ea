"""Rule script: the dataset's shard plan (whole samples per shard) from obs alone: the loaded
file's obs and row pointers, or the simulated cohort's donors drawn up to their cell counts."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

import pandas as pd

from neurokine.io.files import write_tsv
from neurokine.workflow.shards import PLAN_COLUMNS, plan_rows

dataset = snakemake.wildcards.dataset
if snakemake.params.simulated:
    from neurokine.curated.inputs import load_curated
    from neurokine.validation import simulate

    vocabulary, axes = load_curated(snakemake.input)
    model = simulate.model_from_settings(axes, vocabulary, snakemake.params.simulation,
                                         seed=snakemake.params.seed, dataset_id=dataset)
    samples, n_genes = simulate.sample_sizes(model), len(model.genes)
else:
    from neurokine.io.shards import sample_sizes

    samples, n_genes = sample_sizes(snakemake.input.h5ad)
plan = pd.DataFrame(plan_rows(samples, n_genes, snakemake.params.sharding.max_cells),
                    columns=list(PLAN_COLUMNS))
log.info("%d samples, %d cells in %d shards of at most %d cells", len(plan),
         plan["n_cells"].sum(), plan["shard"].nunique(), snakemake.params.sharding.max_cells)
write_tsv(plan, snakemake.output.plan, sort_by=["shard"])  # stable: samples stay in plan order
