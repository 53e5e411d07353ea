"""Rule script: sender/receiver scores, tested sender -> receiver interactions, evidence and verdicts."""

from neurokine.io.logs import log_to_file

log = log_to_file(snakemake.log[0])

from functools import partial

from neurokine.curated.inputs import load_curated
from neurokine.io.files import read_tsv, write_tsv
from neurokine.stats import compare, network, verdict

# Every table of this rule is one cell-type level's (fine or lineage): its level column says which.
write_tsv = partial(write_tsv, level=snakemake.wildcards.level)

settings, thresholds = snakemake.params.compare, snakemake.params.network
vocabulary, axes = load_curated(snakemake.input)
nodes = network.node_scores(read_tsv(snakemake.input.gene_detection, keep_level=False),
                            read_tsv(snakemake.input.cell_counts, keep_level=False), axes,
                            source=snakemake.input.gene_detection,
                            complexes=read_tsv(snakemake.input.complexes, keep_level=False))
contrasts, notes = compare.applicable_contrasts(settings.contrasts, set(nodes["disease"].astype(str)))
for note in notes:
    log.info("contrast skipped for this dataset: %s", note)
tested = network.compare_interactions(
    nodes, contrasts, **compare.compare_options(settings, snakemake.params.seed),
    min_ligand=thresholds.min_ligand_fraction, min_receptor=thresholds.min_receptor_fraction)
alpha = settings.fdr_alpha
tests = read_tsv(snakemake.input.tests, keep_level=False)
evidence = network.evidence_agreement(
    nodes, tested, tests, contrasts,
    min_ligand=thresholds.min_ligand_fraction, min_receptor=thresholds.min_receptor_fraction,
    alpha=alpha)
log.info("%d candidate interactions, %d tested, %d with BH-FDR < %s; %d axis x cell type rows with "
         "all three kinds of evidence", len(tested), (tested["status"] == "tested").sum(),
         (tested["fdr"] < alpha).sum(), alpha, (evidence["n_evidence"] == 3).sum())
response = verdict.response_layer(tests, read_tsv(snakemake.input.activities, keep_level=False), alpha)
tested = verdict.annotate_receiver_response(tested, response, alpha)
changed = tested[(tested["status"] == "tested") & (tested["fdr"] < alpha)]
log.info("%d of %d changed interactions have the receiver's response moving with them",
         (changed["supported"] == "yes").sum(), len(changed))
verdicts = verdict.evidence_verdicts(
    nodes, tests, tested, read_tsv(snakemake.input.donor_values, keep_level=False), contrasts,
    alpha=alpha, response=response,
    min_ligand=thresholds.min_ligand_fraction, min_receptor=thresholds.min_receptor_fraction,
    min_cells=settings.min_cells_per_donor, min_agreement=thresholds.min_donor_agreement)
for row in verdict.verdict_counts(verdicts).itertuples(index=False):
    log.info("verdicts %s", dict(row._asdict()))
write_tsv(nodes, snakemake.output.nodes, sort_by=["sample_id", "cell_type", "axis"])
write_tsv(tested, snakemake.output.interactions,
          sort_by=["contrast", "tissue", "axis", "sender", "receiver"])
write_tsv(evidence, snakemake.output.evidence, sort_by=["contrast", "tissue", "axis", "cell_type"])
write_tsv(verdicts, snakemake.output.verdicts,
          sort_by=[c for c in ("contrast", "tissue", "level", "axis", "cell_type") if c in verdicts.columns])
