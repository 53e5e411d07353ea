"""Rule load_dataset: registry loader -> harmonized AnnData + label report."""

import dataclasses
import sys

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 (lives as long as the job)

from neurokine.curated.cell_types import load_cell_types
from neurokine.io.checks import check_deposit, check_harmonized_data
from neurokine.io.files import write_h5ad, write_tsv
from neurokine.io.harmonize import harmonize
from neurokine.io.loaders import load_dataset
from neurokine.io.registry import file_location

dataset = snakemake.wildcards.dataset
entry = snakemake.params.entry
vocabulary = load_cell_types(snakemake.params.cell_types, snakemake.params.cell_types_schema)
raw = load_dataset(dataset, entry, snakemake.params.root)
print(f"{dataset}: loaded {raw.n_obs} cells x {raw.n_vars} features; "
      f"notes {raw.uns.get('neurokine_load', {})}", file=sys.stderr)
# Refuse data that would give wrong or empty donor-level results, before anything is written.
files = [str(file_location(dataset, f, snakemake.params.root)) for f in entry.get("files", [])
         if f.get("load", True) and "archive" not in f]
source = f"dataset {dataset} (registry {snakemake.params.registry}; file {', '.join(files)})"
check_deposit(raw, dataset, entry, source)
adata, report = harmonize(raw, dataset, entry, vocabulary,
                          annotate_options=dataclasses.asdict(snakemake.params.annotation))
for kind, status in (("cell_type", "unmapped_label"), ("disease", "unknown_label"),
                     ("tissue", "unknown_label")):
    rows = report[(report["kind"] == kind) & (report["status"] == status)]
    if len(rows):
        print(f"WARNING {dataset}: {int(rows['n_cells'].sum())} cells with {status} {kind}: "
              f"{sorted(rows['author_label'])} (see {snakemake.output.labels})", file=sys.stderr)
for warning in check_harmonized_data(adata, report, dataset, entry, source):
    print(f"WARNING {dataset}: {warning}", file=sys.stderr)
print(f"{dataset}: {adata.n_obs} cells x {adata.n_vars} genes, "
      f"{adata.obs['donor_id'].nunique()} donors; disease counts "
      f"{adata.obs['disease'].value_counts().to_dict()}", file=sys.stderr)
write_tsv(report, snakemake.output.labels, sort_by=["kind", "author_label", "mapped_to", "status"])
write_h5ad(adata, snakemake.output.h5ad)
