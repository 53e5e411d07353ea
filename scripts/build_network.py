"""Rule script: sender/receiver scores, tested sender -> receiver interactions, evidence table."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_tsv, write_tsv
from neurokine.stats import compare, network

settings, thresholds = snakemake.params.compare, snakemake.params.network
vocabulary, axes = load_curated(snakemake.input)
nodes = network.node_scores(read_tsv(snakemake.input.gene_detection),
                            read_tsv(snakemake.input.cell_counts), axes,
                            source=snakemake.input.gene_detection)
contrasts, notes = compare.applicable_contrasts(settings.contrasts, set(nodes["disease"].astype(str)))
for note in notes:
    log.info("contrast skipped for this dataset: %s", note)
tested = network.compare_interactions(
    nodes, contrasts, **compare.compare_options(settings, snakemake.params.seed),
    min_ligand=thresholds.min_ligand_fraction, min_receptor=thresholds.min_receptor_fraction)
alpha = settings.fdr_alpha
evidence = network.evidence_agreement(
    nodes, tested, read_tsv(snakemake.input.tests), contrasts,
    min_ligand=thresholds.min_ligand_fraction, min_receptor=thresholds.min_receptor_fraction,
    alpha=alpha)
log.info("%d candidate interactions, %d tested, %d with BH-FDR < %s; %d axis x cell type rows with "
         "all three kinds of evidence", len(tested), (tested["status"] == "tested").sum(),
         (tested["fdr"] < alpha).sum(), alpha, (evidence["n_evidence"] == 3).sum())
write_tsv(nodes, snakemake.output.nodes, sort_by=["sample_id", "cell_type", "axis"])
write_tsv(tested, snakemake.output.interactions,
          sort_by=["contrast", "tissue", "axis", "sender", "receiver"])
write_tsv(evidence, snakemake.output.evidence, sort_by=["contrast", "tissue", "axis", "cell_type"])
