"""The settings of one scoring run, built from the config's `scoring:` block and the run seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from neurokine.scoring.rows import CHUNK_NNZ


@dataclasses.dataclass(frozen=True)
class ScoringParams:
    """Settings of one scoring run (config keys under `scoring:` plus the run seed)."""

    method: str = "mean"
    ctrl_size: int = 50
    n_bins: int = 25
    random_state: int = 0
    min_coverage: float = 0.0
    max_rank: int = 1500
    n_null: int = 0
    chunk_nnz: int = CHUNK_NNZ

    @classmethod
    def from_config(cls, scoring: Mapping, seed: int) -> ScoringParams:
        """Build the settings from the validated `scoring:` block (defaults for optional keys)."""
        return cls(method=scoring.get("method", "mean"), ctrl_size=scoring["ctrl_size"],
                   n_bins=scoring["n_bins"], random_state=seed,
                   min_coverage=scoring["min_gene_coverage"],
                   max_rank=scoring.get("ucell_max_rank", 1500),
                   n_null=scoring.get("n_null", 0), chunk_nnz=scoring.get("chunk_nnz", CHUNK_NNZ))
