"""Rule shared_donors: which donors to drop where when the selected datasets are combined."""

import sys

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 (lives as long as the job)

from neurokine.io.files import read_h5ad, write_tsv
from neurokine.io.harmonize import plan_shared_donors, undeclared_shared_donors

plan = plan_shared_donors(snakemake.params.registry, snakemake.params.selected)
donors = {}
for path in snakemake.input.h5ad:
    adata = read_h5ad(path, backed=True)  # obs only; X stays on disk
    donors[str(adata.obs["dataset_id"].iloc[0])] = adata.obs["donor_id"].astype(str).unique()
    adata.file.close()
undeclared = undeclared_shared_donors(donors, plan)
if len(undeclared):
    print(f"WARNING: donor ids in several datasets without a registry declaration:\n"
          f"{undeclared.to_string(index=False)}", file=sys.stderr)
write_tsv(plan, snakemake.output.plan, sort_by=["dataset_id", "donor_id", "shared_with"])
write_tsv(undeclared, snakemake.output.undeclared, sort_by=["donor_id"])
