"""Where the curated resources shipped with the library live (package data `neurokine.resources`,
which is the repository's resources/ folder in a checkout and a copy of it in an installed wheel)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(relative: str) -> Path:
    """Path of one shipped curated file or folder, e.g. 'signatures/axes' or 'cell_types.yaml'."""
    return Path(str(files("neurokine.resources").joinpath(relative)))


def axes_dir() -> Path:
    """The shipped cytokine-axis folder."""
    return shipped("signatures/axes")


def axis_schema() -> Path:
    """The schema every axis file is validated against."""
    return shipped("schemas/axis.schema.yaml")


def cell_types_file() -> Path:
    """The shipped cell-type vocabulary."""
    return shipped("cell_types.yaml")


def cell_types_schema() -> Path:
    """The schema of the cell-type vocabulary."""
    return shipped("schemas/cell_types.schema.yaml")
