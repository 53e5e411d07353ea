"""Shared fixtures: repository paths, the curated resources and a small simulated cohort."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def demo_settings(*overlays: Path):
    """Settings of the shipped demo config (plus overlays), validated with defaults filled in."""
    from neurokine.settings import Settings
    from neurokine.workflow.config import load_config

    config = load_config([REPO / "config/config.yaml", *overlays],
                         REPO / "workflow/schemas/config.schema.yaml")
    return Settings.from_config(config)


@pytest.fixture(scope="session")
def repo() -> Path:
    """Repository root."""
    return REPO


@pytest.fixture(scope="session")
def vocabulary():
    """The validated cell-type vocabulary."""
    from neurokine.curated.cell_types import load_cell_types

    return load_cell_types(REPO / "resources/cell_types.yaml",
                           REPO / "resources/schemas/cell_types.schema.yaml")


@pytest.fixture(scope="session")
def registry():
    """The validated dataset registry."""
    from neurokine.io.registry import load_registry

    return load_registry(REPO / "config/datasets.yaml", REPO / "workflow/schemas/datasets.schema.yaml")


@pytest.fixture(scope="session")
def axes(vocabulary):
    """The validated curated cytokine axes."""
    from neurokine.curated.axes import load_axes

    return load_axes(REPO / "resources/signatures/axes", REPO / "resources/schemas/axis.schema.yaml",
                     vocabulary)


@pytest.fixture(scope="session")
def small_cohort(axes, vocabulary):
    """A small simulated cohort with two planted effects (deterministic)."""
    from neurokine.validation.simulate import PlantedEffect, simulate_cohort

    effects = [PlantedEffect("MS", "TNF", "response", "mono_classical", 2.0),
               PlantedEffect("NMOSD", "IFN_I", "response", "CD4_T_memory", 2.0)]
    adata = simulate_cohort(
        axes, vocabulary, groups=["control", "MS", "NMOSD"], donors_per_group=5,
        cells_per_donor=(250, 400), n_background_genes=300, mean_library_size=3000,
        dispersion=0.25, donor_sd=0.2, donor_module_sd=0.1, composition_concentration=60,
        low_quality_fraction=0.03, planted_effects=effects, seed=7)
    return adata, effects


@pytest.fixture(scope="session")
def fast_demo_reference(tmp_path_factory) -> Path:
    """One uninterrupted local run of the fast demo, shared by the cluster and fault tests.

    Tests compare their own runs' tables, figures and report against it byte for byte; none
    of them may write into it.
    """
    from fixtures.workflow import outputs_of, run_workflow, tail

    workdir = tmp_path_factory.mktemp("fast_demo_reference")
    run = run_workflow(workdir)
    assert run.returncode == 0, tail(outputs_of(run))
    return workdir


#: Shards of the sharded fast demo (the SLURM test needs at least 4 shard jobs per step).
SHARDED_DEMO_SHARDS = 7


@pytest.fixture(scope="session")
def sharded_demo_reference(tmp_path_factory, fast_demo_reference) -> Path:
    """One local run of the fast demo split into SHARDED_DEMO_SHARDS shards of whole samples,
    shared by the shard-invariance and SLURM tests (none of them may write into it)."""
    from fixtures.workflow import FAST_DEMO_CONFIGS, outputs_of, run_workflow, shard_overlay, tail

    from neurokine.workflow import paths

    workdir = tmp_path_factory.mktemp("sharded_demo_reference")
    plan = fast_demo_reference / paths.SHARD_PLAN.format(dataset="demo_synthetic")
    overlay = shard_overlay(plan, SHARDED_DEMO_SHARDS, tmp_path_factory.mktemp("overlay"))
    run = run_workflow(workdir, configfiles=(*FAST_DEMO_CONFIGS, overlay))
    assert run.returncode == 0, tail(outputs_of(run))
    return workdir


def run_demo_snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    """The real `snakemake` command on the reduced demo config, in workdir."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "2",
               "--configfile", str(REPO / "config/config.yaml"),
               str(REPO / "tests/workflow/small_demo.yaml"), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """One end-to-end run of the reduced demo, shared by every test that needs its outputs
    (workflow checks, report zip, the browser test), so CI pays for the run once."""
    workdir = tmp_path_factory.mktemp("demo")
    run = run_demo_snakemake(workdir)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir
