"""The settings of one scoring run, taken from the config's `scoring:` block as given."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from neurokine.errors import ConfigError
from neurokine.scoring.rows import CHUNK_NNZ

#: `scoring:` config key -> ScoringParams field. Every key is read as given: the schema's
#: defaults are filled when the config is validated, never retyped here.
CONFIG_FIELDS: dict[str, str] = {
    "method": "method", "ctrl_size": "ctrl_size", "n_bins": "n_bins",
    "min_gene_coverage": "min_coverage", "ucell_max_rank": "max_rank", "n_null": "n_null",
    "chunk_nnz": "chunk_nnz",
}


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
        """Build the settings from the `scoring:` block, refusing a missing key (no fallback)."""
        missing = [key for key in CONFIG_FIELDS if key not in scoring]
        if missing:
            # A silent fallback once gave n_null = 0 where the schema promises 20.
            raise ConfigError("config", f"scoring.{missing[0]}", "is missing from the scoring "
                              "settings", "set it in the config (config/README.md gives its "
                              "default), or validate the config with its schema defaults filled")
        return cls(random_state=seed, **{field: scoring[key] for key, field in CONFIG_FIELDS.items()})
