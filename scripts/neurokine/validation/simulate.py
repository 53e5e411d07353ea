"""Simulate the synthetic demo cohort: negative-binomial counts for CSF donors in five groups.

The simulator is the ground truth for every end-to-end test, so its structure mirrors what the
analysis must cope with in real data: donors nested in disease groups, donor-level random
effects (per gene and per cytokine module), varying cells per donor, varying composition,
low-quality cells for QC to remove, and planted disease effects on named axes and cell types.
Every axis that is not planted stays null.

By default the simulator can also fail the method, as real data can: a planted response program
moves every gene of the axis's curated response set by its own amount, so axes whose literature
sets share genes with it (IFN-I with IFNG and IL27, TNF with IL1) move too (`planted_genes: all`;
`exclusive` moves only genes no other axis names, the earlier behaviour; `cytosig` moves the top
genes of the axis's CytoSig signature by their CytoSig weights, a program the curated sets only
partly name, when the optional CytoSig reference is installed). Ligands are detected as
in 10x data, in a few percent of producer cells and almost nowhere else, and genes beyond the
PBMC-expressed set form a long tail of rarely detected transcripts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine import SYNTHETIC_LABEL
from neurokine.curated import references
from neurokine.curated.axes import Axis, all_genes
from neurokine.curated.cell_types import CellType
from neurokine.errors import ConfigError
from neurokine.seeds import sub_rng
from neurokine.settings import SimulationSettings

#: Baseline CSF leukocyte composition (fractions). CSF is T-cell dominated with a minor
#: myeloid and a small B/plasma compartment (Schafflick 2020, PMID 31937773).
CSF_COMPOSITION: dict[str, float] = {
    "CD4_T_naive": 0.14, "CD4_T_memory": 0.28, "Treg": 0.05, "CD8_T": 0.20, "NK": 0.06,
    "B_naive": 0.035, "B_memory": 0.03, "plasmablast": 0.008, "mono_classical": 0.10,
    "mono_nonclassical": 0.04, "mDC": 0.04, "pDC": 0.017,
}

#: Mitochondrially encoded genes: they give QC a realistic percent-mito signal.
MITO_GENES = ("MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
              "MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB")

#: Highly expressed housekeeping families that dominate real 10x libraries.
HOUSEKEEPING_GENES = tuple(
    [f"RPL{i}" for i in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 21, 23, 24,
                         26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38, 39, 41)]
    + [f"RPS{i}" for i in (2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 23,
                           24, 25, 26, 27, 28, 29)]
    + ["RPLP0", "RPLP1", "RPLP2", "RPSA", "ACTB", "GAPDH", "B2M", "MALAT1", "TMSB4X",
       "EEF1A1", "FTL", "FTH1", "TPT1", "PTMA", "HLA-B", "HLA-A"]
)

#: Which genes a planted effect moves: every gene of the module, or only those no other axis names.
PLANTED_GENES = ("all", "exclusive", "cytosig")

#: Relative ligand expression (a median background gene weighs 1) in producer and other cell
#: types. Real 10x libraries detect a cytokine transcript in a few percent of its producers and
#: almost never elsewhere; these defaults give about that at 3,000 UMIs per cell
#: (benchmarks/RESULTS.md, "Simulator realism"). The earlier simulator used 3.0 and 0.3.
LIGAND_PRODUCER_WEIGHT = 0.08
LIGAND_OTHER_WEIGHT = 0.003

#: Background genes beyond the PBMC-expressed set are scaled by a log-normal factor with these
#: log-scale mean and SD: the long tail of rarely detected transcripts of a 10x library (most of
#: its ~20k genes are seen in under 1% of cells while a few hundred carry most UMIs).
TAIL_LOG_MEAN = -4.0
TAIL_LOG_SD = 1.0

#: Gamma shape of the per-gene weights of a planted response program (mean 1, CV 1/sqrt(shape)):
#: a real program moves its genes by different amounts. Shape 2 (CV 0.7) drew single genes up
#: 10 log2 units (IL13RA1 in an IL6 program at 2.5), and such a gene takes library share from
#: every other gene of the cell: shape 4 (CV 0.5) keeps the spread without such outliers.
RESPONSE_WEIGHT_SHAPE = 4.0

#: Genes of a CytoSig-drawn response program (`planted_genes: cytosig`): the signature's strongest
#: positively weighted genes, about four curated response sets' worth, so most of the program lies
#: outside the curated set that scores it.
CYTOSIG_PROGRAM_GENES = 50
#: Cap of a CytoSig-drawn gene's multiplier (relative to the program's mean weight) before the
#: weights are rescaled to mean 1: CytoSig's top gene weighs up to 4.3x the mean of the top 50
#: (TNF), and one gene moved that far takes library share from every other gene of the cell.
CYTOSIG_MAX_WEIGHT = 3.0

#: Sex-linked transcripts, so the simulated sex covariate is visible in expression.
FEMALE_GENES = ("XIST",)
MALE_GENES = ("RPS4Y1", "DDX3Y", "UTY", "KDM5D")


@dataclasses.dataclass(frozen=True)
class PlantedEffect:
    """A disease effect planted on one axis module in one cell type (log2 fold change)."""

    disease: str
    axis: str
    module: str
    cell_type: str
    log2_fold_change: float

    @property
    def label(self) -> str:
        """`disease/axis.module/cell_type`, to name the effect in messages."""
        return f"{self.disease}/{self.axis}.{self.module}/{self.cell_type}"


def planted_effects_from_config(entries: Sequence[Mapping]) -> list[PlantedEffect]:
    """Build PlantedEffect objects from the config's `simulation.planted_effects` list."""
    return [PlantedEffect(**dict(entry)) for entry in entries]


def check_planted_effects(effects: Sequence[PlantedEffect], axes: Sequence[Axis],
                          cell_types: Mapping[str, CellType], groups: Sequence[str]) -> None:
    """Reject planted effects that name an unknown axis, cell type or group."""
    axis_ids = {a.id for a in axes}
    for i, effect in enumerate(effects):
        key = f"simulation.planted_effects[{i}]"
        if effect.axis not in axis_ids:
            raise ConfigError("config", f"{key}.axis", f"unknown axis {effect.axis!r}",
                              f"use one of: {', '.join(sorted(axis_ids))}")
        if effect.cell_type not in CSF_COMPOSITION:
            raise ConfigError("config", f"{key}.cell_type",
                              f"cell type {effect.cell_type!r} is not simulated",
                              f"use one of: {', '.join(CSF_COMPOSITION)}")
        if effect.cell_type not in cell_types:
            raise ConfigError("config", f"{key}.cell_type", f"unknown cell type {effect.cell_type!r}",
                              "use an id from resources/cell_types.yaml")
        if effect.disease not in groups:
            raise ConfigError("config", f"{key}.disease",
                              f"group {effect.disease!r} is not in simulation.groups",
                              f"add it to simulation.groups ({', '.join(groups)}) or remove the effect")


def pbmc_expressed_genes() -> set[str]:
    """The 765 genes of scanpy's bundled 10x PBMC file (genes a blood library detects well)."""
    import scanpy as sc  # local import: only the simulator needs scanpy's bundled data

    return set(sc.datasets.pbmc68k_reduced().var_names)


def background_genes(n_genes: int, exclude: set[str], seed: int) -> list[str]:
    """Real HGNC symbols as background: PBMC-expressed genes first, then HCD program genes."""
    pool = sorted(pbmc_expressed_genes() - exclude)
    rng = np.random.default_rng(seed)
    if n_genes <= len(pool):
        return sorted(rng.choice(pool, size=n_genes, replace=False).tolist())
    # Scale runs need a 10x-like gene count (~10-20k) and the bundled PBMC file has 765 genes,
    # so the rest come from the genes measured by the Human Cytokine Dictionary (PBMCs, hucira).
    from neurokine.curated import references

    extra = sorted(references.reference_genes("hcd_cip") - exclude - set(pool))
    if n_genes > len(pool) + len(extra):
        raise ConfigError("config", "simulation.n_background_genes",
                          f"{n_genes} requested but only {len(pool) + len(extra)} background genes "
                          "are available", f"set it to at most {len(pool) + len(extra)}")
    return sorted(pool + rng.choice(extra, size=n_genes - len(pool), replace=False).tolist())


def exclusive_module_genes(axes: Sequence[Axis], axis_id: str, module: str) -> list[str]:
    """Genes of one axis module that no other axis names, so a planted effect moves only it."""
    target = next(a for a in axes if a.id == axis_id)
    others: set[str] = set()
    for axis in axes:
        if axis.id != axis_id:
            for m in ("ligand", "receptor", "response"):
                others.update(axis.module_genes(m))
    return [g for g in target.module_genes(module) if g not in others]


def cytosig_program(axes: Sequence[Axis], axis_id: str) -> pd.Series:
    """An axis's CytoSig response program: its top genes with per-gene multipliers of mean 1."""
    matrix = references.load_cytosig()
    if matrix is None:
        raise ConfigError("config", "simulation.planted_genes",
                          "`cytosig` plants CytoSig signatures, but the CytoSig reference is not "
                          "installed", f"{references.FILES['cytosig'].install_hint}, or use `all`")
    names = references.axis_reference_names(axes, "cytosig")[axis_id]
    if not names:
        raise ConfigError("config", "simulation.planted_effects",
                          f"axis {axis_id} has no CytoSig signature to plant a response program from",
                          "plant its response with planted_genes: all, or choose an axis CytoSig covers")
    # An axis of several cytokines (IL1A and IL1B) moves a gene by its strongest signature.
    strongest = matrix[list(names)].max(axis=1)
    top = strongest[strongest > 0].sort_values(ascending=False, kind="mergesort")
    top = top.iloc[:CYTOSIG_PROGRAM_GENES]
    weights = (top / top.mean()).clip(upper=CYTOSIG_MAX_WEIGHT)
    return weights / weights.mean()


def planted_module_genes(axes: Sequence[Axis], axis_id: str, module: str,
                         planted_genes: str) -> list[str]:
    """Genes a planted effect on one axis module moves, in the given `planted_genes` mode."""
    if planted_genes == "exclusive":
        return exclusive_module_genes(axes, axis_id, module)
    if planted_genes == "cytosig" and module == "response":
        return list(cytosig_program(axes, axis_id).index)
    return list(next(a for a in axes if a.id == axis_id).module_genes(module))


def sharing_modules(axes: Sequence[Axis], axis_id: str, module: str,
                    genes: Sequence[str]) -> list[str]:
    """`AXIS.module` of every other module that holds one of `genes` (it moves with them)."""
    moved = set(genes)
    return [f"{axis.id}.{m}" for axis in axes for m in ("ligand", "receptor", "response")
            if (axis.id, m) != (axis_id, module) and moved & set(axis.module_genes(m))]


def response_gene_weights(n_genes: int, rng: np.random.Generator) -> np.ndarray:
    """Per-gene multipliers of a planted program's log2 fold change: gamma-distributed, mean 1."""
    weights = rng.gamma(RESPONSE_WEIGHT_SHAPE, 1.0 / RESPONSE_WEIGHT_SHAPE, size=n_genes)
    # Rescaled to mean exactly 1, so the configured log2 fold change is the genes' mean.
    return weights / weights.mean()


def _gene_weights(genes: list[str], axes: Sequence[Axis], cell_types: Mapping[str, CellType],
                  rng: np.random.Generator, tail: set[str], ligand_producer: float,
                  ligand_other: float) -> pd.DataFrame:
    """Relative expression (genes x simulated cell types) before donor effects."""
    types = list(CSF_COMPOSITION)
    base = pd.Series(rng.lognormal(mean=0.0, sigma=1.2, size=len(genes)), index=genes)
    tail_genes = [g for g in genes if g in tail]
    if tail_genes:  # no draw without a tail, so smaller universes keep their numbers
        base[tail_genes] *= rng.lognormal(TAIL_LOG_MEAN, TAIL_LOG_SD, size=len(tail_genes))
    weights = pd.DataFrame(np.repeat(base.to_numpy()[:, None], len(types), axis=1),
                           index=genes, columns=types)
    housekeeping = [g for g in HOUSEKEEPING_GENES if g in weights.index]
    weights.loc[housekeeping] *= 15.0
    weights.loc[list(MITO_GENES)] *= 4.0
    # Receptors sit mostly on responders, and response genes have a measurable baseline
    # everywhere, as transcripts do in real data.
    producers: dict[str, set[str]] = {}
    for axis in axes:
        responders = {f["cell_type"] for f in axis.record["responders"]} & set(types)
        for gene in axis.receptor_genes:
            weights.loc[gene, sorted(responders)] *= 4.0
        weights.loc[list(axis.response)] = weights.loc[list(axis.response)].clip(lower=2.0)
        for gene in axis.ligands:
            producers.setdefault(gene, set()).update(
                {f["cell_type"] for f in axis.record["producers"]} & set(types))
    # Ligands last: a cytokine transcript is rare outside its producers even when another axis
    # lists it as a response gene (IFNG after IL12), and a ligand of two axes (LTA: TNF and
    # LT_LIGHT) is made by the producers of both.
    for gene, made_by in producers.items():
        weights.loc[gene] = ligand_other
        weights.loc[gene, sorted(made_by)] = ligand_producer
    for ct in types:
        markers = [g for g in cell_types[ct].markers if g in weights.index]
        weights.loc[markers, ct] = np.maximum(weights.loc[markers, ct], 8.0) * 6.0
    return weights


@dataclasses.dataclass(frozen=True)
class CohortModel:
    """Everything drawn once for the whole cohort, before any donor: genes, expression profiles,
    module memberships and the genes each planted effect moves."""

    genes: list[str]
    gene_index: dict[str, int]
    #: genes x simulated cell types, columns sum to 1
    profiles: np.ndarray
    module_members: list[list[int]]
    #: (disease, cell type) -> [(gene indices, per-gene log2 fold changes)] of its planted effects
    effect_genes: dict[tuple[str, str], list[tuple[list[int], np.ndarray]]]
    #: per planted effect (config order): the log2 fold change of each gene it moves
    effect_log2fc: tuple[dict[str, float], ...]
    groups: tuple[str, ...]
    donors_per_group: int
    cells_per_donor: tuple[int, int]
    mean_library_size: float
    dispersion: float
    donor_sd: float
    donor_module_sd: float
    composition_concentration: float
    low_quality_fraction: float
    seed: int
    tissue: str
    dataset_id: str
    ontology_ids: dict[str, str]

    def donors(self) -> list[tuple[int, str]]:
        """(donor number, group) of every donor, in simulation order (numbers start at 1)."""
        return [(self.donors_per_group * g + i + 1, group)
                for g, group in enumerate(self.groups) for i in range(self.donors_per_group)]

    def sample_id(self, number: int, group: str) -> str:
        """The sample id of a donor (one sample per donor, in the simulated tissue)."""
        return f"D{number:03d}_{group}_{self.tissue}"

    def donor_numbers(self, samples: Sequence[str]) -> list[int]:
        """Numbers of the donors of the given samples, refusing samples the cohort lacks."""
        known = {self.sample_id(n, g): n for n, g in self.donors()}
        unknown = [s for s in samples if s not in known]
        if unknown:
            raise ConfigError("config", "simulation", f"samples {unknown[:3]} are not in the "
                              "simulated cohort", "re-plan the shards (delete results/shards)")
        return [known[s] for s in samples]


@dataclasses.dataclass
class DonorDraw:
    """One donor's own draws up to its cell counts; `rng` continues with its cells' counts."""

    number: int
    group: str
    donor_id: str
    sex: str
    age: int
    donor_log: np.ndarray
    type_counts: np.ndarray
    rng: np.random.Generator

    @property
    def n_cells(self) -> int:
        """Cells simulated for this donor (before QC)."""
        return int(self.type_counts.sum())


def cohort_model(
    axes: Sequence[Axis],
    cell_types: Mapping[str, CellType],
    groups: Sequence[str],
    donors_per_group: int,
    cells_per_donor: tuple[int, int],
    n_background_genes: int,
    mean_library_size: float,
    dispersion: float,
    donor_sd: float,
    donor_module_sd: float,
    composition_concentration: float,
    low_quality_fraction: float,
    planted_effects: Sequence[PlantedEffect],
    seed: int,
    tissue: str = "CSF",
    dataset_id: str = "demo_synthetic",
    planted_genes: str = "all",
    ligand_producer_weight: float = LIGAND_PRODUCER_WEIGHT,
    ligand_other_weight: float = LIGAND_OTHER_WEIGHT,
) -> CohortModel:
    """Check the design and draw what all donors share (genes, profiles, effect genes)."""
    low, high = cells_per_donor
    if low > high:
        raise ConfigError("config", "simulation.cells_per_donor",
                          f"min ({low}) is larger than max ({high})", "make min <= max")
    if planted_genes not in PLANTED_GENES:
        raise ConfigError("config", "simulation.planted_genes", f"unknown mode {planted_genes!r}",
                          f"use one of: {', '.join(PLANTED_GENES)}")
    check_planted_effects(planted_effects, axes, cell_types, groups)
    rng = np.random.default_rng(seed)

    curated = set(MITO_GENES) | set(HOUSEKEEPING_GENES) | set(FEMALE_GENES) | set(MALE_GENES)
    for ct in CSF_COMPOSITION:
        curated.update(cell_types[ct].markers)
    curated.update(all_genes(axes))
    if planted_genes == "cytosig":  # a drawn program's genes exist whether or not a set names them
        for effect in planted_effects:
            curated.update(planted_module_genes(axes, effect.axis, effect.module, planted_genes))
    background = background_genes(n_background_genes, curated, seed)
    genes = sorted(curated | set(background))
    gene_index = {g: i for i, g in enumerate(genes)}
    tail = set(background) - pbmc_expressed_genes()
    weights = _gene_weights(genes, axes, cell_types, rng, tail, ligand_producer_weight,
                            ligand_other_weight)
    profiles = (weights / weights.sum(axis=0)).to_numpy()  # genes x types, columns sum to 1

    # Donor random effects: one log-scale offset per donor x gene, plus one shared by all genes
    # of an axis module (donors differ in pathway activity, not only gene by gene).
    module_members = [
        [gene_index[g] for g in axis.module_genes(m)]
        for axis in axes for m in ("ligand", "receptor", "response") if axis.module_genes(m)
    ]
    effect_genes: dict[tuple[str, str], list[tuple[list[int], np.ndarray]]] = {
        (e.disease, e.cell_type): [] for e in planted_effects
    }
    effect_log2fc = []
    for i, effect in enumerate(planted_effects):
        moved = planted_module_genes(axes, effect.axis, effect.module, planted_genes)
        if not moved:
            raise ConfigError(
                "config", f"simulation.planted_effects[{i}]",
                f"{effect.axis}.{effect.module} has no gene that other axes do not also name, "
                "so the planted effect could not be attributed to it",
                "plant the effect on another module or axis, or set simulation.planted_genes: all")
        lfc = np.full(len(moved), float(effect.log2_fold_change))
        if planted_genes == "all" and effect.module == "response":
            # Ligand and receptor effects stay uniform: a complex is scored by its scarcest
            # subunit, and "more cytokine" means every chain of it.
            lfc = lfc * response_gene_weights(len(moved), rng)
        elif planted_genes == "cytosig" and effect.module == "response":
            lfc = lfc * cytosig_program(axes, effect.axis).to_numpy()
        effect_genes[(effect.disease, effect.cell_type)].append(([gene_index[g] for g in moved], lfc))
        effect_log2fc.append(dict(zip(moved, lfc.tolist(), strict=True)))
    return CohortModel(
        genes=genes, gene_index=gene_index, profiles=profiles, module_members=module_members,
        effect_genes=effect_genes, effect_log2fc=tuple(effect_log2fc), groups=tuple(groups),
        donors_per_group=donors_per_group,
        cells_per_donor=(low, high), mean_library_size=mean_library_size, dispersion=dispersion,
        donor_sd=donor_sd, donor_module_sd=donor_module_sd,
        composition_concentration=composition_concentration,
        low_quality_fraction=low_quality_fraction, seed=seed, tissue=tissue,
        dataset_id=dataset_id,
        ontology_ids={ct: cell_types[ct].ontology_id for ct in CSF_COMPOSITION})


def donor_draw(model: CohortModel, number: int, group: str) -> DonorDraw:
    """A donor's sex, age, random effects and cell counts: the first draws of its own stream."""
    # Each donor draws from its own stream, so changing one planted effect (which changes
    # how many numbers the gamma sampler consumes) leaves every other donor unchanged, and any
    # donor can be simulated without the others (one shard at a time).
    donor_rng = sub_rng(model.seed, number)
    sex = "female" if donor_rng.random() < 0.5 else "male"
    age = int(donor_rng.integers(20, 71))
    # Cells and composition before the per-gene draws, so a donor keeps its cells whatever the
    # gene universe (n_background_genes) or planted-gene mode: simulators compared side by side
    # hold the same donors and cell types.
    low, high = model.cells_per_donor
    n_cells = int(donor_rng.integers(low, high + 1))
    base_props = np.array(list(CSF_COMPOSITION.values()))
    props = donor_rng.dirichlet(base_props * model.composition_concentration)
    type_counts = donor_rng.multinomial(n_cells, props)
    donor_log = donor_rng.normal(0.0, model.donor_sd, size=len(model.genes))
    for members in model.module_members:
        donor_log[members] += donor_rng.normal(0.0, model.donor_module_sd)
    return DonorDraw(number, group, f"D{number:03d}_{group}", sex, age, donor_log, type_counts,
                     donor_rng)


def _type_mean(model: CohortModel, donor: DonorDraw, t_idx: int) -> np.ndarray:
    """Expected expression fractions (sum 1) of one cell type in one donor."""
    gene_index = model.gene_index
    sex_genes = FEMALE_GENES if donor.sex == "female" else MALE_GENES
    silent = MALE_GENES if donor.sex == "female" else FEMALE_GENES
    log_mean = np.log(model.profiles[:, t_idx]) + donor.donor_log
    for members, lfc in model.effect_genes.get((donor.group, list(CSF_COMPOSITION)[t_idx]), []):
        log_mean[members] += lfc * np.log(2.0)
    log_mean[[gene_index[g] for g in sex_genes]] += np.log(4.0)
    log_mean[[gene_index[g] for g in silent]] = -30.0
    mean = np.exp(log_mean)
    mean /= mean.sum()
    return mean


def expected_nonzero(model: CohortModel, donor: DonorDraw) -> float:
    """Expected stored counts of a donor's cells (at the mean library size; for memory requests)."""
    total = 0.0
    for t_idx, n_t in enumerate(donor.type_counts):
        if n_t:
            mu = model.mean_library_size * _type_mean(model, donor, t_idx)
            # Negative binomial P(0) = (1 + mu * dispersion) ** (-1 / dispersion)
            zero = (1.0 + mu * model.dispersion) ** (-1.0 / model.dispersion)
            total += float(n_t) * float((1.0 - zero).sum())
    return total


def donor_cells(model: CohortModel, donor: DonorDraw, first_cell: int) -> tuple[pd.DataFrame, sp.csr_matrix]:
    """A donor's cells: harmonized obs (cells numbered from `first_cell`) and raw counts.

    Continues the donor's own stream after `donor_draw`, so it must be called once per draw.
    """
    gene_index = model.gene_index
    blocks, obs_frames = [], []
    for t_idx, n_t in enumerate(donor.type_counts):
        if n_t == 0:
            continue
        cell_type = list(CSF_COMPOSITION)[t_idx]
        mean = _type_mean(model, donor, t_idx)
        library = donor.rng.lognormal(np.log(model.mean_library_size), 0.35, size=n_t)
        low_quality = donor.rng.random(n_t) < model.low_quality_fraction
        library[low_quality] *= 0.12
        mu = library[:, None] * mean[None, :]
        if low_quality.any():
            # Damaged cells leak cytoplasmic RNA and keep mitochondrial transcripts.
            mito = [gene_index[g] for g in MITO_GENES]
            mu[np.ix_(low_quality, mito)] *= 30.0
        # Negative binomial as a gamma-Poisson mixture with a common dispersion. The dense
        # cells x genes arrays are freed as soon as they are used: they bound the job's memory.
        lam = donor.rng.gamma(shape=1.0 / model.dispersion, scale=mu * model.dispersion)
        del mu
        counts = donor.rng.poisson(lam)
        del lam
        blocks.append(sp.csr_matrix(counts.astype(np.int32)))
        del counts
        obs_frames.append(pd.DataFrame({
            "donor_id": donor.donor_id, "sample_id": model.sample_id(donor.number, donor.group),
            "disease": donor.group, "tissue": model.tissue, "cell_type": cell_type,
            "dataset_id": model.dataset_id, "sex": donor.sex, "age": donor.age,
            "cell_type_ontology_term_id": model.ontology_ids[cell_type],
        }, index=range(n_t)))
    obs = pd.concat(obs_frames, ignore_index=True)
    obs.index = [f"cell{i:07d}" for i in range(first_cell, first_cell + len(obs))]
    return obs, sp.vstack(blocks, format="csr")


def iter_donor_cells(model: CohortModel, numbers: Sequence[int] | None = None) -> Iterator[
        tuple[pd.DataFrame, sp.csr_matrix]]:
    """(obs, counts) of each donor in simulation order, or only of the donors `numbers`.

    Cells keep their cohort-wide names whichever donors are drawn: the donors before each one
    are drawn up to their cell counts only (cheap), never their counts.
    """
    wanted = None if numbers is None else set(numbers)
    first_cell = 0
    for number, group in model.donors():
        donor = donor_draw(model, number, group)
        if wanted is None or number in wanted:
            yield donor_cells(model, donor, first_cell)
        first_cell += donor.n_cells


def harmonized_obs(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-donor obs frames with the simulator's column types (categorical labels)."""
    obs = pd.concat(frames)
    for column in obs.columns:
        if column != "age":
            obs[column] = obs[column].astype("category")
    return obs


def synthetic_uns(seed: int) -> dict:
    """The `uns` entry that marks a simulated AnnData as synthetic."""
    return {"neurokine": {"synthetic": True, "label": SYNTHETIC_LABEL, "seed": int(seed)}}


def simulate_cohort(axes: Sequence[Axis], cell_types: Mapping[str, CellType], **design) -> ad.AnnData:
    """Simulate raw integer counts with harmonized obs for donors nested in disease groups.

    `design` holds the keyword arguments of `cohort_model`. The whole cohort is held in memory;
    the workflow streams it donor by donor instead (`iter_donor_cells`), with the same numbers.
    """
    return cohort_anndata(cohort_model(axes, cell_types, **design))


def cohort_anndata(model: CohortModel) -> ad.AnnData:
    """Every donor of a cohort model in one in-memory AnnData (raw counts, harmonized obs)."""
    frames, blocks = [], []
    for obs, counts in iter_donor_cells(model):
        frames.append(obs)
        blocks.append(counts)
    return ad.AnnData(X=sp.vstack(blocks, format="csr"), obs=harmonized_obs(frames),
                      var=pd.DataFrame(index=pd.Index(model.genes, name="gene_symbol")),
                      uns=synthetic_uns(model.seed))


def model_from_settings(axes: Sequence[Axis], cell_types: Mapping[str, CellType],
                        settings: SimulationSettings, seed: int, dataset_id: str) -> CohortModel:
    """The cohort model the config's `simulation` block describes."""
    return cohort_model(axes, cell_types, **design_from_settings(settings, seed, dataset_id))


def design_from_settings(settings: SimulationSettings, seed: int, dataset_id: str) -> dict:
    """`cohort_model` keyword arguments from the config's `simulation` block."""
    return dict(
        groups=settings.groups, donors_per_group=settings.donors_per_group,
        cells_per_donor=(settings.cells_per_donor_min, settings.cells_per_donor_max),
        n_background_genes=settings.n_background_genes, mean_library_size=settings.mean_library_size,
        dispersion=settings.dispersion, donor_sd=settings.donor_sd,
        donor_module_sd=settings.donor_module_sd,
        composition_concentration=settings.composition_concentration,
        low_quality_fraction=settings.low_quality_fraction,
        planted_effects=planted_effects_from_config(settings.planted_effects), seed=seed,
        tissue=settings.tissue, dataset_id=dataset_id, planted_genes=settings.planted_genes,
        ligand_producer_weight=settings.ligand_producer_weight,
        ligand_other_weight=settings.ligand_other_weight)


def cohort_from_settings(axes: Sequence[Axis], cell_types: Mapping[str, CellType],
                         settings: SimulationSettings, seed: int, dataset_id: str) -> ad.AnnData:
    """Simulate the cohort the config's `simulation` block describes (in memory)."""
    return simulate_cohort(axes, cell_types, **design_from_settings(settings, seed, dataset_id))


def sample_sizes(model: CohortModel) -> list[tuple[str, int, float]]:
    """(sample id, cells, expected stored counts) of every donor's sample, in simulation order:
    what a shard plan needs, without simulating a single count."""
    sizes = []
    for number, group in model.donors():
        donor = donor_draw(model, number, group)
        sizes.append((model.sample_id(number, group), donor.n_cells,
                      expected_nonzero(model, donor)))
    return sizes


def planted_truth(effects: Sequence[PlantedEffect], axes: Sequence[Axis],
                  planted_genes: str = "all", model: CohortModel | None = None) -> pd.DataFrame:
    """Tabulate the planted effects with the genes they moved and the modules sharing them.

    `shared_with` names every other module holding a moved gene (`AXIS.module`): it moves too, in
    the same disease and cell type, expected cross-talk ("leakage") rather than a false discovery.
    With the cohort `model`, `gene_log2fc` gives each moved gene's own log2 fold change.
    """
    rows = []
    for i, e in enumerate(effects):
        moved = planted_module_genes(axes, e.axis, e.module, planted_genes)
        row = {"disease": e.disease, "axis": e.axis, "module": e.module,
               "cell_type": e.cell_type, "log2_fold_change": e.log2_fold_change,
               "planted_genes": planted_genes, "genes_moved": ",".join(moved),
               "n_genes_moved": len(moved),
               "shared_with": ",".join(sharing_modules(axes, e.axis, e.module, moved))}
        if model is not None:
            row["gene_log2fc"] = ",".join(f"{g}:{v:.3f}" for g, v in model.effect_log2fc[i].items())
        rows.append(row)
    return pd.DataFrame(rows)
