"""Paths of the curated resource, shared by the resource tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXES_DIR = ROOT / "resources" / "signatures" / "axes"
AXIS_SCHEMA = ROOT / "resources" / "schemas" / "axis.schema.yaml"
CELL_TYPES = ROOT / "resources" / "cell_types.yaml"
CELL_TYPES_SCHEMA = ROOT / "resources" / "schemas" / "cell_types.schema.yaml"
ALLOWLIST = ROOT / "resources" / "signatures" / "gene_allowlist.tsv"
README = ROOT / "resources" / "signatures" / "README.md"
