"""The demo simulator: deterministic, nested design, and planted effects only where planted."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from neurokine import OBS_COLUMNS
from neurokine.errors import ConfigError
from neurokine.validation.simulate import (
    CSF_COMPOSITION,
    PlantedEffect,
    exclusive_module_genes,
    planted_truth,
    simulate_cohort,
)

SMALL = dict(groups=["control", "MS"], donors_per_group=3, cells_per_donor=(60, 90),
             n_background_genes=50, mean_library_size=2000, dispersion=0.3, donor_sd=0.2,
             donor_module_sd=0.1, composition_concentration=50, low_quality_fraction=0.0)


def log_mean(adata, genes, mask):
    """Mean log1p normalized expression of genes over the cells in mask."""
    counts = sp.csr_matrix(adata.X[mask][:, adata.var_names.get_indexer(genes)], dtype=float)
    totals = np.asarray(adata.X[mask].sum(axis=1)).ravel()
    return float(np.log1p(counts.multiply(1e4 / totals[:, None]).toarray()).mean())


def test_same_seed_same_counts_other_seed_differs(axes, vocabulary):
    first = simulate_cohort(axes, vocabulary, planted_effects=[], seed=3, **SMALL)
    second = simulate_cohort(axes, vocabulary, planted_effects=[], seed=3, **SMALL)
    third = simulate_cohort(axes, vocabulary, planted_effects=[], seed=4, **SMALL)
    assert (first.X != second.X).nnz == 0
    assert first.obs.equals(second.obs)
    assert first.shape != third.shape or (first.X != third.X).nnz > 0


def test_design_counts_and_harmonized_obs(small_cohort, vocabulary):
    adata, _ = small_cohort
    assert set(OBS_COLUMNS) <= set(adata.obs.columns)
    donors = adata.obs.groupby("disease", observed=True)["donor_id"].nunique()
    assert donors.to_dict() == {"MS": 5, "NMOSD": 5, "control": 5}
    per_donor = adata.obs.groupby("donor_id", observed=True).size()
    assert per_donor.nunique() > 1  # cells per donor vary
    assert set(adata.obs["cell_type"]) == set(CSF_COMPOSITION)
    assert set(adata.obs["cell_type"]) <= set(vocabulary)
    assert adata.X.dtype == np.int32 and adata.X.min() >= 0
    assert adata.uns["neurokine"]["synthetic"] is True
    assert not adata.var_names.duplicated().any()


def test_every_curated_gene_is_simulated(small_cohort, axes, vocabulary):
    adata, _ = small_cohort
    from neurokine.curated.axes import all_genes

    needed = set(all_genes(axes)) | {g for t in CSF_COMPOSITION for g in vocabulary[t].markers}
    assert needed <= set(adata.var_names)


def test_markers_are_highest_in_their_cell_type(small_cohort):
    adata, _ = small_cohort
    types = adata.obs["cell_type"].astype(str).to_numpy()
    for cell_type, marker in [("mono_classical", "CD14"), ("B_naive", "TCL1A"), ("pDC", "LILRA4"),
                              ("NK", "GNLY"), ("Treg", "FOXP3")]:
        own = log_mean(adata, [marker], types == cell_type)
        other = log_mean(adata, [marker], types != cell_type)
        assert own > other + 1.0, (cell_type, marker, own, other)


def test_planted_effect_moves_only_its_genes_cells_and_disease(small_cohort, axes):
    adata, effects = small_cohort
    obs = adata.obs.astype(str)
    effect = effects[0]  # MS, TNF response, mono_classical, log2FC 2
    moved = exclusive_module_genes(axes, "TNF", "response")
    in_type = (obs["cell_type"] == "mono_classical").to_numpy()
    case, control = (obs["disease"] == "MS").to_numpy(), (obs["disease"] == "control").to_numpy()
    shift = log_mean(adata, moved, in_type & case) - log_mean(adata, moved, in_type & control)
    assert shift > 0.5
    other_type = (obs["cell_type"] == "CD8_T").to_numpy()
    null_shift = log_mean(adata, moved, other_type & case) - log_mean(adata, moved, other_type & control)
    assert abs(null_shift) < shift / 3
    assert effect.log2_fold_change == 2.0


def test_exclusive_genes_are_named_by_no_other_axis(axes):
    for axis in axes:
        exclusive = set(exclusive_module_genes(axes, axis.id, "response"))
        for other in axes:
            if other.id != axis.id:
                for module in ("ligand", "receptor", "response"):
                    assert not exclusive & set(other.module_genes(module))


def test_truth_table_lists_the_moved_genes(axes):
    truth = planted_truth([PlantedEffect("MS", "TNF", "response", "mono_classical", 1.0)], axes)
    assert truth.loc[0, "n_genes_moved"] == len(exclusive_module_genes(axes, "TNF", "response")) > 0


@pytest.mark.parametrize(
    ("effect", "field"),
    [
        (PlantedEffect("MS", "NOT_AN_AXIS", "response", "mono_classical", 1.0), ".axis"),
        (PlantedEffect("MS", "TNF", "response", "microglia", 1.0), ".cell_type"),
        (PlantedEffect("ICANS", "TNF", "response", "mono_classical", 1.0), ".disease"),
    ],
)
def test_bad_planted_effects_are_rejected_with_the_key(axes, vocabulary, effect, field):
    with pytest.raises(ConfigError, match=rf"simulation\.planted_effects\[0\]\{field}"):
        simulate_cohort(axes, vocabulary, planted_effects=[effect], seed=1, **SMALL)


def test_too_many_background_genes_is_a_config_error(axes, vocabulary):
    with pytest.raises(ConfigError, match=r"n_background_genes.*at most"):
        simulate_cohort(axes, vocabulary, planted_effects=[], seed=1,
                        **{**SMALL, "n_background_genes": 100_000})


def test_background_beyond_the_pbmc_file_draws_reference_genes_deterministically():
    import scanpy as sc

    from neurokine.curated.references import reference_genes
    from neurokine.validation.simulate import background_genes

    pbmc = set(sc.datasets.pbmc68k_reduced().var_names)
    exclude = {"IL7R", "CD3E"}
    genes = background_genes(3000, exclude, seed=5)
    assert len(genes) == len(set(genes)) == 3000 and not set(genes) & exclude
    assert pbmc - exclude <= set(genes)  # every PBMC-expressed gene first, then the rest
    assert set(genes) - pbmc <= reference_genes("hcd_cip")
    assert background_genes(3000, exclude, seed=5) == genes
    assert background_genes(3000, exclude, seed=6) != genes
