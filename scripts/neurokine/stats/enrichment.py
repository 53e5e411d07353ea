"""Donor-aware response enrichment: huCIRA's question with donors, not pooled cells.

Per contrast x tissue x cell type, genes are ranked by a donor-level differential statistic on
pseudobulk counts: the moderated t of the same linear model the compare stage uses, fitted to
log-CPM with variances moderated across genes (limma-style). The ranking is then tested with
gseapy's preranked GSEA against the cytokine response gene sets: the curated `<AXIS>.response`
modules, CytoSig's top genes per cytokine (where the optional reference is installed) and the
Human Cytokine Dictionary programs (CIPs) of the matching reference cell type. The gene
permutations of prerank ask "is this ranking enriched for the set"; the between-donor question
is already answered by the ranking statistic, which is computed on donors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd

from neurokine.curated import references
from neurokine.errors import InputError
from neurokine.seeds import sub_seed
from neurokine.settings import Contrast
from neurokine.stats import compare, pseudobulk

log = logging.getLogger(__name__)

#: Columns of response_enrichment.tsv.
ENRICHMENT_COLUMNS = [
    "dataset_id", "contrast", "case", "reference", "tissue", "cell_type", "gene_set", "resource",
    "axis", "status", "reason", "n_donors_case", "n_donors_reference", "n_genes_ranked",
    "set_size", "n_genes_in_ranking", "es", "nes", "nom_p_value", "fdr", "fdr_family",
    "lead_genes", "ranking", "permutations", "p_floor",
]

RANKING = "moderated t of log-CPM (pseudobulk per donor, variances moderated across genes)"


def axis_gene_sets(axes: Sequence, cytosig_top: int = 100) -> dict[str, tuple[str, str, list[str]]]:
    """Per-axis sets for prerank: curated response modules and, where installed, CytoSig top genes."""
    sets: dict[str, tuple[str, str, list[str]]] = {}
    for axis in axes:
        if axis.response:
            sets[f"{axis.id}.response"] = ("curated", axis.id, list(axis.response))
    try:
        for name, genes in references.cytosig_gene_sets(axes, top_n=cytosig_top).items():
            sets[name] = ("cytosig", name.rsplit(".", 1)[0], list(genes))
    except InputError as error:
        log.warning("CytoSig gene sets unavailable: %s", error)
    return sets


def response_gene_sets(axes: Sequence, hcd_labels: Sequence[str] = (), cytosig_top: int = 100,
                       axis_sets: Mapping[str, tuple[str, str, list[str]]] | None = None
                       ) -> dict[str, tuple[str, str, list[str]]]:
    """Gene sets for prerank: name -> (resource, axis, genes).

    Curated response modules always; CytoSig top genes and HCD CIPs of the given HCD cell types
    only where those references are installed (a missing one is logged, not fatal).
    """
    sets = dict(axis_sets) if axis_sets is not None else axis_gene_sets(axes, cytosig_top)
    for label in hcd_labels:
        try:
            programs = references.hcd_cip_gene_sets(label)
        except InputError as error:
            log.warning("HCD programs for %s unavailable: %s", label, error)
            continue
        for name, genes in programs.items():
            key = name if len(hcd_labels) == 1 else f"{name}.{label}"
            sets[key] = ("hcd_cip", "", list(genes))
    return sets


def hcd_labels_by_cell_type(vocabulary: Mapping) -> dict[str, list[str]]:
    """Vocabulary cell type -> the HCD reference cell types it maps to (empty if out of reference)."""
    try:
        table = references.cell_type_reference_map(vocabulary)
    except InputError as error:
        log.warning("HCD cell-type map unavailable: %s", error)
        return {}
    hcd = table[(table["reference"] == "hcd") & (table["status"] == "matched")]
    return {row.cell_type: row.labels.split(";") for row in hcd.itertuples()}


def expressed_genes(counts: np.ndarray, min_count: int, min_samples: int) -> np.ndarray:
    """Genes with at least `min_count` counts in at least `min_samples` samples (a la filterByExpr)."""
    return np.flatnonzero((counts >= min_count).sum(axis=0) >= min_samples)


def gene_rankings(pb: ad.AnnData, contrast: Contrast, *, covariates: Sequence[str],
                  min_cells: int, min_donors: int, min_count: int = 5, seed: int = 0
                  ) -> tuple[dict[tuple[str, str], tuple[pd.Series, dict]], list[dict]]:
    """Moderated t per gene for every tissue x cell type of one contrast, or not-tested rows."""
    pseudobulk.check_pseudobulk(pb, "pseudobulk AnnData")
    obs = pb.obs.reset_index(drop=True)
    counts = pb.X.toarray() if hasattr(pb.X, "toarray") else np.asarray(pb.X)
    expression = pseudobulk.expression(pb)
    meta = [c for c in ("dataset_id", "sample_id", "donor_id", "tissue", "disease", "cell_type",
                        "n_cells", "sex", "age", "batch") if c in obs.columns]
    arms = obs["disease"].astype(str).isin([contrast.case, contrast.reference]).to_numpy()
    eligible = arms & (obs["n_cells"].to_numpy() >= min_cells)
    settings = compare.TestSettings(min_donors=min_donors, n_boot=0, seed=seed, max_permutations=0,
                                    permutation_max_arm=0, permutations=False)
    rankings, skipped = {}, []
    groups = obs[arms].groupby(["tissue", "cell_type"], sort=True, observed=True).groups
    for (tissue, cell_type), index in groups.items():
        base = {"dataset_id": str(obs["dataset_id"].iloc[0]), "contrast": contrast.name,
                "case": contrast.case, "reference": contrast.reference, "tissue": str(tissue),
                "cell_type": str(cell_type), "n_donors_case": 0, "n_donors_reference": 0}
        rows = np.array([i for i in index if eligible[i]], dtype=np.int64)
        if rows.size == 0:
            skipped.append({**base, "reason": f"no donor has compare.min_cells_per_donor={min_cells} "
                                              "cells of this type"})
            continue
        genes = expressed_genes(counts[rows], min_count, min_donors)
        if genes.size < 10:
            skipped.append({**base, "reason": f"only {genes.size} genes have {min_count}+ counts in "
                                              f"{min_donors}+ samples"})
            continue
        long = obs.loc[rows, meta].loc[np.repeat(rows, genes.size)].reset_index(drop=True)
        long["gene"] = np.tile(pb.var_names[genes].to_numpy(), rows.size)
        long["logcpm"] = expression[np.ix_(rows, genes)].ravel()
        built = compare.build_stratum(long, contrast, covariates, dict(base), min_donors, "logcpm", "gene")
        if isinstance(built, str):
            skipped.append({**base, "reason": built})
            continue
        tested = compare.run_tests([built], lambda b, g: "genes", settings, "gene",
                                   lambda b: (b["contrast"], b["tissue"], b["cell_type"]))
        frame = pd.DataFrame(tested)
        frame = frame[frame["status"] == "tested"]
        # Ties broken by gene name, so the ranking (and prerank's result) is deterministic.
        ordered = frame.sort_values(["t", "gene"], ascending=[False, True], kind="mergesort")
        rankings[(str(tissue), str(cell_type))] = (pd.Series(ordered["t"].to_numpy(float),
                                                             index=ordered["gene"].to_numpy()),
                                                   built.base)
    return rankings, skipped


def permutation_floor(permutations: int) -> float:
    """The smallest p-value B gene permutations can support: 1 / (B + 1)."""
    return 1.0 / (permutations + 1)


def prerank(ranking: pd.Series, gene_sets: Mapping[str, tuple[str, str, list[str]]], *,
            permutations: int, seed: int, min_size: int, max_size: int) -> tuple[pd.DataFrame, list[dict]]:
    """gseapy.prerank on one ranking; sets outside the size limits become not-tested rows."""
    import gseapy  # local import: only this stage needs gseapy

    ranked = set(ranking.index)
    usable, rows = {}, []
    for name, (resource, axis, genes) in gene_sets.items():
        overlap = len(ranked.intersection(genes))
        record = {"gene_set": name, "resource": resource, "axis": axis, "set_size": len(genes),
                  "n_genes_in_ranking": overlap}
        if overlap < min_size or overlap > max_size:
            rows.append({**record, "status": "not_tested", "reason": (
                f"{overlap} of its genes are among the ranked genes; compare.enrichment needs "
                f"{min_size}-{max_size}")})
        else:
            usable[name] = list(genes)
            rows.append({**record, "status": "tested", "reason": ""})
    if not usable:
        return pd.DataFrame(rows), []
    result = gseapy.prerank(rnk=ranking, gene_sets=usable, outdir=None, permutation_num=permutations,
                            seed=seed, min_size=min_size, max_size=max_size, threads=1, no_plot=True,
                            verbose=False).res2d
    # A permutation p-value cannot be 0: with B permutations none of which reaches the observed
    # score it is below 1/(B + 1) (Phipson & Smyth 2010), so p and FDR are floored there and the
    # floor is reported beside them.
    floor = permutation_floor(permutations)
    scores = {r["Term"]: {"es": float(r["ES"]), "nes": float(r["NES"]),
                          "nom_p_value": max(float(r["NOM p-val"]), floor),
                          "fdr": max(float(r["FDR q-val"]), floor), "lead_genes": str(r["Lead_genes"]),
                          "p_floor": floor}
              for r in result.to_dict("records")}
    out = [{**row, **scores.get(row["gene_set"], {})} for row in rows]
    return pd.DataFrame(out), list(usable)


def response_enrichment(pb: ad.AnnData, contrasts: Sequence[Contrast], axes: Sequence,
                        hcd_map: Mapping[str, Sequence[str]], *, covariates: Sequence[str],
                        min_cells: int, min_donors: int, permutations: int, min_size: int,
                        max_size: int, seed: int, min_count: int = 5) -> pd.DataFrame:
    """NES and FDR per cytokine gene set for every contrast x tissue x cell type (donor-ranked)."""
    frames = []
    per_axis = axis_gene_sets(axes)
    for contrast in contrasts:
        rankings, skipped = gene_rankings(pb, contrast, covariates=covariates, min_cells=min_cells,
                                          min_donors=min_donors, min_count=min_count, seed=seed)
        for row in skipped:
            frames.append(pd.DataFrame([{**row, "status": "not_tested"}]))
        for (tissue, cell_type), (ranking, base) in sorted(rankings.items()):
            sets = response_gene_sets(axes, tuple(hcd_map.get(cell_type, ())), axis_sets=per_axis)
            seed_k = sub_seed(seed, "enrichment", contrast.name, tissue, cell_type)
            keep = {k: base[k] for k in ("dataset_id", "contrast", "case", "reference", "tissue",
                                         "cell_type", "n_donors_case", "n_donors_reference")}
            # One prerank (and so one FDR family) per resource: a curated set's q-value must not
            # change when an optional reference such as CytoSig is installed or removed.
            for resource in sorted({resource for resource, _, _ in sets.values()}):
                subset = {name: spec for name, spec in sets.items() if spec[0] == resource}
                table, _ = prerank(ranking, subset, permutations=permutations,
                                   seed=seed_k % (2**31), min_size=min_size, max_size=max_size)
                frames.append(table.assign(**keep, n_genes_ranked=len(ranking)))
    if not frames:
        return pd.DataFrame(columns=ENRICHMENT_COLUMNS)
    result = pd.concat(frames, ignore_index=True).reindex(columns=ENRICHMENT_COLUMNS)
    family = result[["dataset_id", "contrast", "tissue", "cell_type", "resource"]]
    result["fdr_family"] = family.fillna("").astype(str).agg("|".join, axis=1)
    result["ranking"] = RANKING
    result["permutations"] = permutations
    return result
