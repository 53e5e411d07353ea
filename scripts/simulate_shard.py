"""Rule script: simulate one shard of the synthetic demo cohort, donor by donor, streaming each
donor's counts into the shard's .h5ad (memory: one donor, never the shard)."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

import numpy as np
import pandas as pd

from neurokine.curated.inputs import load_curated
from neurokine.errors import InputError
from neurokine.io.shards import CountsWriter
from neurokine.validation import simulate
from neurokine.workflow.shards import read_plan

dataset, shard = snakemake.wildcards.dataset, snakemake.wildcards.shard
vocabulary, axes = load_curated(snakemake.input)
model = simulate.model_from_settings(axes, vocabulary, snakemake.params.simulation,
                                     seed=snakemake.params.seed, dataset_id=dataset)
planned = {r["sample_id"]: r["n_cells"] for r in read_plan(snakemake.input.plan) if r["shard"] == shard}
writer = CountsWriter(snakemake.output.h5ad, len(model.genes), np.int32)
frames, ok = [], False
try:
    for obs, counts in simulate.iter_donor_cells(model, model.donor_numbers(list(planned))):
        sample = str(obs["sample_id"].iloc[0])
        if len(obs) != planned[sample]:
            raise InputError(snakemake.input.plan, sample, f"plans {planned[sample]} cells, the "
                             f"simulation gives {len(obs)}", "re-plan the shards (the config "
                             "changed after the plan was written)")
        writer.append(counts)
        frames.append(obs)
    ok = True
finally:
    obs = simulate.harmonized_obs(frames) if ok else None
    var = pd.DataFrame(index=pd.Index(model.genes, name="gene_symbol"))
    writer.close(ok, obs=obs, var=var, uns=simulate.synthetic_uns(model.seed))
log.info("shard %s: simulated %d cells x %d genes for %d donors (%d stored counts)", shard,
         writer.n_rows, len(model.genes), len(frames), writer.nnz)
