"""The demo simulator: deterministic, nested design, planted effects where planted (and, in the
default `planted_genes: all`, on the modules sharing their genes), ligands detected as in 10x data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats as sps

from neurokine import OBS_COLUMNS
from neurokine.curated import references
from neurokine.errors import ConfigError
from neurokine.validation.evaluation import leakage_keys, ligand_detection
from neurokine.validation.simulate import (
    CSF_COMPOSITION,
    CYTOSIG_MAX_WEIGHT,
    CYTOSIG_PROGRAM_GENES,
    PlantedEffect,
    cohort_model,
    donor_draw,
    exclusive_module_genes,
    iter_donor_cells,
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


def test_truth_table_lists_the_moved_genes_and_the_modules_sharing_them(axes):
    effect = PlantedEffect("MS", "IFN_I", "response", "mono_classical", 1.0)
    exclusive = planted_truth([effect], axes, "exclusive")
    assert exclusive.loc[0, "genes_moved"].split(",") == exclusive_module_genes(axes, "IFN_I", "response")
    assert exclusive.loc[0, "shared_with"] == ""  # exclusive genes: nothing else moves
    everything = planted_truth([effect], axes, "all")
    ifn = next(a for a in axes if a.id == "IFN_I")
    assert everything.loc[0, "genes_moved"].split(",") == list(ifn.response)
    assert {"IFNG.response", "IL27.response"} <= set(everything.loc[0, "shared_with"].split(","))
    assert ("MS", "IFNG", "response", "mono_classical") in leakage_keys(everything)
    assert not leakage_keys(exclusive)


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


#: A cohort for the 10x-like checks: enough cells per type to measure detection in a few percent.
DETECTION = dict(SMALL, groups=["control"], donors_per_group=3, cells_per_donor=(700, 900),
                 n_background_genes=3000, mean_library_size=3000, dispersion=0.25)
#: A response effect whose genes the IFNG and IL27 response sets share in part, in a cell type
#: with ~100 cells per donor (a small type makes the shifts noisy).
IFN_RESPONSE = PlantedEffect("MS", "IFN_I", "response", "CD4_T_memory", 2.5)


def shared_and_exclusive(axes) -> tuple[list[str], list[str]]:
    """IFN_I response genes that IFNG's response set also names, and those no other axis names."""
    ifn, ifng = (next(a for a in axes if a.id == i) for i in ("IFN_I", "IFNG"))
    shared = [g for g in ifn.response if g in ifng.response]
    return shared, exclusive_module_genes(axes, "IFN_I", "response")


def planted_shift(adata, genes, cell_type="CD4_T_memory") -> float:
    """Case minus control mean log expression of genes in one cell type."""
    obs = adata.obs.astype(str)
    in_type = (obs["cell_type"] == cell_type).to_numpy()
    case, control = (obs["disease"] == "MS").to_numpy(), (obs["disease"] == "control").to_numpy()
    return log_mean(adata, genes, in_type & case) - log_mean(adata, genes, in_type & control)


@pytest.fixture(scope="module")
def planted_both_ways(axes, vocabulary):
    """The same IFN-I response effect planted in `all` and in `exclusive` mode (same seed)."""
    design = dict(SMALL, donors_per_group=4, cells_per_donor=(300, 400))
    return {mode: simulate_cohort(axes, vocabulary, planted_effects=[IFN_RESPONSE], seed=9,
                                  planted_genes=mode, **design)
            for mode in ("all", "exclusive")}


def test_all_mode_moves_the_genes_ifn_i_shares_with_ifng(planted_both_ways, axes):
    shared, exclusive = shared_and_exclusive(axes)
    assert shared and exclusive
    moved = planted_shift(planted_both_ways["all"], shared)
    assert moved > 0.2 and moved > 3 * abs(planted_shift(planted_both_ways["exclusive"], shared))
    assert planted_shift(planted_both_ways["all"], exclusive) > 0.5


def test_exclusive_mode_leaves_shared_genes_alone(planted_both_ways, axes):
    shared, exclusive = shared_and_exclusive(axes)
    moved = planted_shift(planted_both_ways["exclusive"], exclusive)
    assert moved > 0.5
    assert abs(planted_shift(planted_both_ways["exclusive"], shared)) < moved / 4


def test_all_mode_moves_response_genes_by_different_amounts(axes, vocabulary):
    model = cohort_model(axes, vocabulary, planted_effects=[IFN_RESPONSE], seed=9, **SMALL)
    lfc = np.array(list(model.effect_log2fc[0].values()))
    assert len(lfc) == len(next(a for a in axes if a.id == "IFN_I").response)
    assert lfc.mean() == pytest.approx(2.5) and lfc.std() > 0.5  # mean as configured, spread
    exclusive = cohort_model(axes, vocabulary, planted_effects=[IFN_RESPONSE], seed=9,
                             planted_genes="exclusive", **SMALL)
    assert set(exclusive.effect_log2fc[0].values()) == {2.5}


def test_ligands_are_detected_in_few_producer_cells_and_almost_nowhere_else(axes, vocabulary):
    adata = simulate_cohort(axes, vocabulary, planted_effects=[], seed=2, **DETECTION)
    detection = ligand_detection(adata, {a.id: a for a in axes})
    counts = adata.obs.groupby("cell_type", observed=True).size() / DETECTION["donors_per_group"]
    # only cell types with >= 40 cells per donor, where a few percent is measurable
    detection = detection[detection["cell_type"].map(counts) >= 40]
    producers = detection.loc[detection["producer"], "fraction"]
    others = detection.loc[~detection["producer"], "fraction"]
    assert len(producers) >= 10 and len(others) >= 50
    assert 0.01 <= producers.median() <= 0.15  # a few percent of producer cells
    assert producers.max() <= 0.3
    assert others.median() <= 0.005 and others.quantile(0.95) <= 0.02  # near zero elsewhere


def test_the_earlier_ligand_weights_detect_ligands_in_most_cells(axes, vocabulary):
    """The check above can fail: the earlier simulator's weights break it."""
    adata = simulate_cohort(axes, vocabulary, planted_effects=[], seed=2, ligand_producer_weight=3.0,
                            ligand_other_weight=0.3, **DETECTION)
    detection = ligand_detection(adata, {a.id: a for a in axes})
    assert detection.loc[detection["producer"], "fraction"].median() > 0.3
    assert detection.loc[~detection["producer"], "fraction"].median() > 0.05


def test_the_background_has_a_long_tail_of_rarely_detected_genes(axes, vocabulary):
    adata = simulate_cohort(axes, vocabulary, planted_effects=[], seed=2, **DETECTION)
    detected = np.asarray((adata.X > 0).mean(axis=0)).ravel()
    assert adata.n_vars > 3000
    assert (detected < 0.01).mean() > 0.2  # many genes in under 1% of cells
    assert (detected > 0.5).sum() >= 50  # and a head of genes most cells detect


@pytest.mark.parametrize("mode", ["all", "exclusive"])
def test_same_seed_gives_identical_counts_in_either_mode(axes, vocabulary, mode):
    effects = [IFN_RESPONSE, PlantedEffect("MS", "TNF", "ligand", "mono_classical", 3.0)]
    first, second = (simulate_cohort(axes, vocabulary, planted_effects=effects, seed=5,
                                     planted_genes=mode, **SMALL) for _ in range(2))
    assert (first.X != second.X).nnz == 0 and first.obs.equals(second.obs)


def test_streaming_some_donors_gives_the_cells_of_the_whole_cohort(axes, vocabulary):
    effects = [IFN_RESPONSE]
    whole = simulate_cohort(axes, vocabulary, planted_effects=effects, seed=5, **SMALL)
    model = cohort_model(axes, vocabulary, planted_effects=effects, seed=5, **SMALL)
    parts = list(iter_donor_cells(model, [2, 5]))
    obs = pd.concat([o for o, _ in parts])
    rows = whole.obs_names.get_indexer(obs.index)
    assert (rows >= 0).all() and set(obs["donor_id"]) == {"D002_control", "D005_MS"}
    assert (sp.vstack([c for _, c in parts], format="csr") != whole.X[rows]).nnz == 0


def test_unknown_planted_genes_mode_is_a_config_error(axes, vocabulary):
    with pytest.raises(ConfigError, match=r"simulation\.planted_genes"):
        simulate_cohort(axes, vocabulary, planted_effects=[], seed=1, planted_genes="some", **SMALL)


def test_donors_keep_their_cells_whatever_the_gene_universe(axes, vocabulary):
    small = cohort_model(axes, vocabulary, planted_effects=[], seed=5, **SMALL)
    large = cohort_model(axes, vocabulary, planted_effects=[], seed=5, planted_genes="exclusive",
                         **{**SMALL, "n_background_genes": 1500})
    assert len(large.genes) > len(small.genes)
    for number, group in small.donors():
        assert (donor_draw(small, number, group).type_counts
                == donor_draw(large, number, group).type_counts).all()


needs_cytosig = pytest.mark.skipif(
    references.load_cytosig() is None,
    reason="optional CytoSig reference not installed (pip install --no-deps secactpy==0.3.1)")


@needs_cytosig
def test_cytosig_mode_plants_the_signature_top_genes_by_their_weights(axes, vocabulary):
    model = cohort_model(axes, vocabulary, planted_effects=[IFN_RESPONSE], seed=9,
                         planted_genes="cytosig", **SMALL)
    moved = model.effect_log2fc[0]
    signature = references.load_cytosig()["IFN1"].sort_values(ascending=False, kind="mergesort")
    assert list(moved) == list(signature.index[:CYTOSIG_PROGRAM_GENES])
    lfc = np.array(list(moved.values()))
    assert lfc.mean() == pytest.approx(2.5) and lfc.max() <= 2.5 * CYTOSIG_MAX_WEIGHT * 1.2
    # the program follows CytoSig's ranking: weights fall with the signature's rank
    assert sps.spearmanr(lfc, signature.iloc[:CYTOSIG_PROGRAM_GENES]).statistic > 0.9
    assert set(moved) <= set(model.genes)  # every program gene is simulated
    ifn = next(a for a in axes if a.id == "IFN_I")
    assert set(moved) - set(ifn.response)  # most of the program lies outside the curated set


@needs_cytosig
def test_cytosig_mode_truth_names_the_curated_modules_its_genes_reach(axes):
    truth = planted_truth([IFN_RESPONSE], axes, "cytosig")
    assert len(truth.loc[0, "genes_moved"].split(",")) == CYTOSIG_PROGRAM_GENES
    assert "IFNG.response" in truth.loc[0, "shared_with"].split(",")


def test_cytosig_mode_refuses_an_axis_cytosig_lacks(axes, vocabulary):
    effect = PlantedEffect("MS", "CXCL13", "response", "mono_classical", 2.5)
    with pytest.raises(ConfigError, match=r"simulation\.planted_(effects|genes)"):
        simulate_cohort(axes, vocabulary, planted_effects=[effect], seed=1, planted_genes="cytosig",
                        **SMALL)
