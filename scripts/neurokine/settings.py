"""Typed settings of every stage, built once from the validated configuration.

Defaults live in one place only: `workflow/schemas/config.schema.yaml`, which fills them in when
the config is validated (neurokine.workflow.config). These classes therefore have no defaults of
their own; `Settings.from_config` needs a validated, filled config. Library functions that users
call directly keep keyword defaults, and tests/unit/test_settings.py checks each one against the
schema and config/README.md.

Nothing heavy is imported here: the Snakefile builds the settings at parse time, which every
cluster job repeats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Contrast:
    """One comparison: donors of `case` against donors of `reference`."""

    case: str
    reference: str

    @property
    def name(self) -> str:
        """Readable contrast name used in tables and file names."""
        return f"{self.case}_vs_{self.reference}"


@dataclasses.dataclass(frozen=True)
class SimulationSettings:
    """The synthetic demo cohort (config `simulation`)."""

    tissue: str
    groups: tuple[str, ...]
    donors_per_group: int
    cells_per_donor_min: int
    cells_per_donor_max: int
    n_background_genes: int
    mean_library_size: float
    dispersion: float
    donor_sd: float
    donor_module_sd: float
    composition_concentration: float
    low_quality_fraction: float
    planted_effects: tuple[Mapping[str, Any], ...]
    planted_genes: str
    ligand_producer_weight: float
    ligand_other_weight: float

    @classmethod
    def from_config(cls, block: Mapping) -> SimulationSettings:
        """Build from the validated `simulation:` block."""
        values = {k: v for k, v in block.items() if k not in ("cells_per_donor", "ligand_expression")}
        return cls(**{**values, "groups": tuple(block["groups"]),
                      "planted_effects": tuple(dict(e) for e in block["planted_effects"])},
                   cells_per_donor_min=block["cells_per_donor"]["min"],
                   cells_per_donor_max=block["cells_per_donor"]["max"],
                   ligand_producer_weight=block["ligand_expression"]["producer"],
                   ligand_other_weight=block["ligand_expression"]["other"])

    def max_cells(self) -> int:
        """Largest number of cells the cohort can hold."""
        return len(self.groups) * self.donors_per_group * self.cells_per_donor_max


@dataclasses.dataclass(frozen=True)
class ShardingSettings:
    """How a dataset is split into shards of whole samples (config `sharding`)."""

    max_cells: int


@dataclasses.dataclass(frozen=True)
class PrepareSettings:
    """QC thresholds and normalization (config `qc` and `normalize`)."""

    min_counts: int
    max_counts: int
    min_genes: int
    max_genes: int
    max_pct_mito: float
    min_cells_per_gene: int
    target_sum: float
    equalize_depth: bool

    @classmethod
    def from_config(cls, config: Mapping) -> PrepareSettings:
        """Build from the validated `qc:` and `normalize:` blocks."""
        return cls(**config["qc"], **config["normalize"])


@dataclasses.dataclass(frozen=True)
class ScoringSettings:
    """Per-cell signature scoring (config `scoring`)."""

    method: str
    ctrl_size: int
    n_bins: int
    control_pool: str
    min_gene_coverage: float
    ucell_max_rank: int
    n_null: int
    chunk_nnz: int


@dataclasses.dataclass(frozen=True)
class EnrichmentSettings:
    """Donor-ranked response enrichment (config `compare.enrichment`)."""

    permutations: int
    min_size: int
    max_size: int
    min_count: int


@dataclasses.dataclass(frozen=True)
class CompareSettings:
    """Donor-level comparisons (config `compare`)."""

    contrasts: tuple[Contrast, ...]
    covariates: tuple[str, ...]
    min_cells_per_donor: int
    min_donors_per_arm: int
    min_module_counts: int
    n_bootstrap: int
    fdr_alpha: float
    permutation_max_arm: int
    max_permutations: int
    enrichment: EnrichmentSettings

    @classmethod
    def from_config(cls, block: Mapping) -> CompareSettings:
        """Build from the validated `compare:` block."""
        contrasts = tuple(Contrast(c["case"], c["reference"]) for c in block["contrasts"])
        return cls(**{**block, "contrasts": contrasts, "covariates": tuple(block["covariates"]),
                      "enrichment": EnrichmentSettings(**block["enrichment"])})


@dataclasses.dataclass(frozen=True)
class ActivitySettings:
    """Joint activities of the axes' response programs (config `activity`)."""

    resource: str


@dataclasses.dataclass(frozen=True)
class NetworkSettings:
    """Sender -> receiver networks (config `network`)."""

    min_ligand_fraction: float
    min_receptor_fraction: float
    top_edges: int
    min_donor_agreement: float


@dataclasses.dataclass(frozen=True)
class ReportSettings:
    """The HTML report (config `report`)."""

    title: str
    table_rows: int
    detail_findings: int


@dataclasses.dataclass(frozen=True)
class AnnotationSettings:
    """Marker-based annotation of cells without mapped author labels (config `marker_annotation`)."""

    min_score: float
    min_margin: float
    min_markers: int
    specificity_penalty: float
    quantile: float


@dataclasses.dataclass(frozen=True)
class FetchSettings:
    """Downloads of public deposits (config `fetch`)."""

    downloads: str
    lock_file: str
    retries: int
    backoff_seconds: float
    max_backoff_seconds: float
    timeout_seconds: float
    allow_local_http: bool


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every stage's settings, from one validated config."""

    seed: int
    max_mem_mb: int
    report_title: str
    cell_type_levels: tuple[str, ...]
    sharding: ShardingSettings
    simulation: SimulationSettings | None
    prepare: PrepareSettings
    scoring: ScoringSettings
    compare: CompareSettings
    activity: ActivitySettings
    network: NetworkSettings
    annotation: AnnotationSettings
    fetch: FetchSettings
    report: ReportSettings

    @property
    def cross_dataset_level(self) -> str:
        """The level at which datasets meet in the meta-analysis and cross-dataset figures: lineage
        when it is analysed (a coarse-labelled deposit has no fine rows), else the one level."""
        return "lineage" if "lineage" in self.cell_type_levels else self.cell_type_levels[0]

    @classmethod
    def from_config(cls, config: Mapping) -> Settings:
        """Build from a config validated (and default-filled) by neurokine.workflow.config."""
        simulation = config.get("simulation")  # optional block without defaults: absent = no demo
        return cls(
            seed=config["seed"], max_mem_mb=config["max_mem_mb"],
            report_title=config["report"]["title"],
            cell_type_levels=tuple(config["cell_type_levels"]),
            sharding=ShardingSettings(**config["sharding"]),
            simulation=SimulationSettings.from_config(simulation) if simulation else None,
            prepare=PrepareSettings.from_config(config),
            scoring=ScoringSettings(**config["scoring"]),
            compare=CompareSettings.from_config(config["compare"]),
            activity=ActivitySettings(**config["activity"]),
            network=NetworkSettings(**config["network"]),
            annotation=AnnotationSettings(**config["marker_annotation"]),
            fetch=FetchSettings(**config["fetch"]), report=ReportSettings(**config["report"]))
