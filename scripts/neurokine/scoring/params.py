"""The parameters of one scoring run: the scoring settings (config `scoring:`) plus the run seed."""

from __future__ import annotations

import dataclasses

from neurokine.scoring.rows import CHUNK_NNZ
from neurokine.settings import ScoringSettings


@dataclasses.dataclass(frozen=True)
class ScoringParams:
    """What the engine needs for one scoring run. The defaults are those of a plain engine call
    (scanpy's score_genes: any present gene scored, no nulls); the workflow builds it with
    `from_settings`, from the validated config."""

    method: str = "mean"
    ctrl_size: int = 50
    n_bins: int = 25
    control_pool: str = "scanpy"
    random_state: int = 0
    min_coverage: float = 0.0
    max_rank: int = 1500
    n_null: int = 0
    chunk_nnz: int = CHUNK_NNZ

    @classmethod
    def from_settings(cls, scoring: ScoringSettings, seed: int) -> ScoringParams:
        """The run's parameters from the scoring settings, every value as the validated config
        gives it (a silent fallback once scored no nulls where the schema promises 20)."""
        return cls(method=scoring.method, ctrl_size=scoring.ctrl_size, n_bins=scoring.n_bins,
                   control_pool=scoring.control_pool, random_state=seed,
                   min_coverage=scoring.min_gene_coverage,
                   max_rank=scoring.ucell_max_rank, n_null=scoring.n_null,
                   chunk_nnz=scoring.chunk_nnz)
