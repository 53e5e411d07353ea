"""Rule script: forest plot and therapy panel over all datasets, and the therapy table, at the
cross-dataset cell-type level (lineage when analysed: every dataset has rows there)."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

import pandas as pd

from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_tsv, write_tsv
from neurokine.plot import cross_dataset, style, therapy

style.apply_style()
vocabulary, axis_list = load_curated(snakemake.input)
settings, synthetic = snakemake.params.compare, snakemake.params.synthetic
alpha = settings.fdr_alpha
level = snakemake.params.level
tests = pd.concat([read_tsv(p, keep_level=False) for p in snakemake.input.tests], ignore_index=True)
interactions = pd.concat([read_tsv(p, keep_level=False) for p in snakemake.input.interactions],
                         ignore_index=True)
meta = read_tsv(snakemake.input.meta[0], keep_level=False) if snakemake.input.meta else None
rows = cross_dataset.forest_rows(tests, meta, alpha)
pooled = meta is not None and bool((meta["status"] == "tested").any())
style.save_figure(cross_dataset.forest_plot(rows, pooled, alpha, synthetic,
                                            f"Top findings across datasets ({level} level)"),
                  snakemake.output.forest_png, snakemake.output.forest_svg)
observed = therapy.observed_signal(tests, alpha, interactions)
diseases = list(dict.fromkeys(c.case for c in settings.contrasts))
by_id = {a.id: a for a in axis_list}
table = therapy.therapy_table(by_id, observed, diseases, sorted(tests["dataset_id"].astype(str).unique()))
style.save_figure(cross_dataset.therapy_panel(table, therapy.therapy_records(by_id), alpha, synthetic,
                                              "Observed signal beside the outcome of targeting each axis "
                                              f"({level} level)"),
                  snakemake.output.therapy_png, snakemake.output.therapy_svg)
write_tsv(table, snakemake.output.therapy_table, sort_by=["axis", "disease"],
          level=level)
log.info("forest plot with %d rows; therapy table with %d axis x disease rows, %d paradoxes",
         len(rows), len(table), int(table["paradox"].sum()))
