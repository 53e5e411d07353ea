"""Load the curated resources a rule receives as inputs (axes and cell-type vocabulary)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from neurokine.curated.axes import Axis, load_axes
from neurokine.curated.cell_types import CellType, load_cell_types


class CuratedInputs(Protocol):
    """The named rule inputs listed in common.smk's CURATED dictionary."""

    axes: list[str]
    axis_schema: str
    cell_types: str
    cell_types_schema: str


def load_curated(inputs: CuratedInputs) -> tuple[dict[str, CellType], list[Axis]]:
    """Validate and load the vocabulary and the axes from a rule's curated inputs."""
    vocabulary = load_cell_types(inputs.cell_types, inputs.cell_types_schema)
    axes = load_axes(Path(inputs.axes[0]).parent, inputs.axis_schema, vocabulary)
    return vocabulary, axes
