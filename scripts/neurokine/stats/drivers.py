"""The genes driving a finding: per-gene donor-level evidence for a signature's genes.

For one finding (contrast x tissue x cell type x signature) every gene of the signature gets the
same donor-level test the compare stage runs, on pseudobulk log-CPM (summed counts of a donor's
cells of that type): the effect is the case-minus-reference difference of donor means (paired
designs: the mean within-donor difference), its t is moderated across all genes expressed in the
stratum (limma-style, :func:`neurokine.stats.compare.run_tests`). Genes absent from the data or
too lowly expressed to test are listed as such, so the gene coverage of the finding is explicit.
Only the findings the report shows are computed, which keeps the report a few MB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from neurokine.settings import Contrast
from neurokine.stats import compare, pseudobulk
from neurokine.stats.enrichment import expressed_genes

#: Keys of one finding (plus `level` when the findings carry it).
FINDING_KEYS = ["contrast", "tissue", "cell_type", "signature"]
GENE_COLUMNS = [
    "dataset_id", "contrast", "tissue", "cell_type", "signature", "gene", "status", "effect", "t",
    "p_value", "mean_case", "mean_reference", "n_donors_case", "n_donors_reference", "measure",
]
MEASURE = "pseudobulk log-CPM; t moderated across the genes expressed in the stratum"


def _stratum_tests(pb: ad.AnnData, expression: np.ndarray, contrast: Contrast, tissue: str,
                   cell_type: str, genes: Sequence[str], *, covariates: Sequence[str], min_cells: int,
                   min_donors: int, min_count: int) -> tuple[pd.DataFrame, dict] | str:
    """Moderated per-gene tests of one contrast x tissue x cell type (expressed genes plus
    `genes`), or the reason none could run."""
    obs = pb.obs.reset_index(drop=True)
    tissues = tissue.split("+")
    rows = np.flatnonzero(obs["disease"].astype(str).isin([contrast.case, contrast.reference]).to_numpy()
                          & obs["tissue"].astype(str).isin(tissues).to_numpy()
                          & (obs["cell_type"].astype(str) == cell_type).to_numpy()
                          & (obs["n_cells"].to_numpy() >= min_cells))
    if rows.size == 0:
        return f"no sample has compare.min_cells_per_donor={min_cells} cells of this type"
    counts = pb.X[rows]
    counts = counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts)
    position = {g: i for i, g in enumerate(pb.var_names)}
    columns = sorted(set(expressed_genes(counts, min_count, min_donors).tolist())
                     | {position[g] for g in genes if g in position})
    meta = [c for c in ("dataset_id", "sample_id", "donor_id", "tissue", "disease", "cell_type",
                        "n_cells", "sex", "age", "batch") if c in obs.columns]
    long = obs.loc[rows, meta].loc[np.repeat(rows, len(columns))].reset_index(drop=True)
    long["gene"] = np.tile(np.asarray(pb.var_names)[columns], rows.size)
    long["logcpm"] = expression[np.ix_(rows, columns)].ravel()
    base = {"dataset_id": str(obs["dataset_id"].iloc[0]), "contrast": contrast.name,
            "case": contrast.case, "reference": contrast.reference, "tissue": tissue,
            "cell_type": cell_type, "n_donors_case": 0, "n_donors_reference": 0}
    built = compare.build_stratum(long, contrast, covariates, dict(base), min_donors, "logcpm", "gene")
    if isinstance(built, str):
        return built
    settings = compare.TestSettings(min_donors=min_donors, n_boot=0, seed=0, max_permutations=0,
                                    permutation_max_arm=0, permutations=False)
    tested = pd.DataFrame(compare.run_tests([built], lambda b, g: "genes", settings, "gene",
                                            lambda b: (b["contrast"], b["tissue"], b["cell_type"])))
    return tested.set_index("gene"), built.base


def finding_genes(pb: ad.AnnData, findings: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]],
                  contrasts: Sequence[Contrast], *, covariates: Sequence[str], min_cells: int,
                  min_donors: int, min_count: int) -> pd.DataFrame:
    """Per finding and signature gene: status, effect, moderated t and p, arm means (log-CPM).

    `findings` has FINDING_KEYS; `gene_sets` maps each signature to its listed genes. Strata
    shared by several findings are tested once.
    """
    pseudobulk.check_pseudobulk(pb, "pseudobulk AnnData")
    expression = pseudobulk.expression(pb)
    by_name = {c.name: c for c in contrasts}
    present = set(pb.var_names)
    dataset_id = str(pb.obs["dataset_id"].iloc[0]) if pb.n_obs else ""
    cache: dict[tuple[str, str, str], tuple[pd.DataFrame, dict] | str] = {}
    rows = []
    for finding in findings[FINDING_KEYS].drop_duplicates().itertuples(index=False):
        contrast = by_name.get(finding.contrast)
        genes = list(dict.fromkeys(gene_sets.get(finding.signature, ())))
        if contrast is None or not genes:
            continue
        key = (finding.contrast, str(finding.tissue), str(finding.cell_type))
        if key not in cache:
            cache[key] = _stratum_tests(pb, expression, contrast, key[1], key[2],
                                        sorted({g for s in gene_sets.values() for g in s}),
                                        covariates=covariates, min_cells=min_cells,
                                        min_donors=min_donors, min_count=min_count)
        result = cache[key]
        base = {"dataset_id": dataset_id, "contrast": finding.contrast, "tissue": key[1],
                "cell_type": key[2], "signature": finding.signature, "measure": MEASURE}
        for gene in genes:
            if gene not in present:
                rows.append({**base, "gene": gene, "status": "not in data"})
            elif isinstance(result, str):
                rows.append({**base, "gene": gene, "status": f"not tested: {result}"})
            elif gene not in result[0].index or result[0].at[gene, "status"] != "tested":
                rows.append({**base, "gene": gene, "status": "not tested: no variation between donors"})
            else:
                test, stratum = result[0].loc[gene], result[1]
                rows.append({**base, "gene": gene, "status": "tested", "effect": test["effect"],
                             "t": test["t"], "p_value": test["p_value"], "mean_case": test["mean_case"],
                             "mean_reference": test["mean_reference"],
                             "n_donors_case": stratum["n_donors_case"],
                             "n_donors_reference": stratum["n_donors_reference"]})
    table = pd.DataFrame(rows, columns=GENE_COLUMNS)
    return table.sort_values(["contrast", "tissue", "cell_type", "signature", "gene"],
                             kind="mergesort").reset_index(drop=True)
