"""The library is a real package: every module it imports is declared, and `pip install .` into a
fresh virtual environment gives a working `neurokine` outside the checkout."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "scripts/neurokine"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
#: Import name -> distribution name where they differ.
DISTRIBUTION = {"yaml": "pyyaml", "cellxgene_ontology_guide": "cellxgene-ontology-guide"}
#: Distributions the library reads data from without importing them.
DATA_ONLY = {"hucira", "openpyxl"}


def declared(requirements: list[str]) -> set[str]:
    """Distribution names of a list of PEP 508 requirements."""
    return {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() for r in requirements}


def imported_distributions() -> set[str]:
    """Third-party distributions the library's modules import at any depth."""
    names = set()
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third_party = {n for n in names if n not in sys.stdlib_module_names and n != "neurokine"}
    return {DISTRIBUTION.get(n, n).lower() for n in third_party}


def test_every_imported_module_is_a_declared_dependency_and_nothing_else_is():
    runtime = declared(PYPROJECT["project"]["dependencies"])
    assert imported_distributions() | DATA_ONLY == runtime


def test_runtime_dependencies_are_ranges_not_pins():
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert "==" not in requirement, requirement


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {"neurokine." + ".".join(p.parent.relative_to(LIBRARY).parts)
             for p in LIBRARY.rglob("__init__.py")}
    found = {name.rstrip(".") for name in found}
    assert found | {"neurokine.resources"} == listed


@pytest.mark.workflow
def test_pip_install_outside_the_checkout_scores_a_scanpy_dataset(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The exact versions of the workflow's lock (already in pip's cache), not whatever is newest.
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(line for line in (REPO / "requirements.txt").read_text().splitlines()
                                     if not line.startswith("-e ")))
    # Built from a copy: setuptools writes build/ and *.egg-info/ into the source tree.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", "logs", ".snakemake", "build", "*.egg-info", "downloads",
        "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"))
    install = subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "-c", str(constraints),
                              str(source)], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    script = ("import scanpy as sc, neurokine\n"
              "adata = sc.datasets.pbmc68k_reduced()\n"
              "neurokine.score(adata)\n"
              "scores = adata.obsm['neurokine_scores']\n"
              "print(neurokine.__file__)\n"
              "print(scores.shape[0], scores.shape[1], len(neurokine.load_axes()))\n")
    run = subprocess.run([str(venv / "bin/python"), "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    location, shape = run.stdout.splitlines()[-2:]
    assert Path(location).is_relative_to(venv), location  # the installed copy, not the checkout
    n_cells, n_scored, n_axes = map(int, shape.split())
    shipped_axes = list((REPO / "resources/signatures/axes").glob("*.yaml"))
    assert n_cells == 700 and n_scored > 0 and n_axes == len(shipped_axes)
