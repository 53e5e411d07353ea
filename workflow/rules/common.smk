# Shared helpers: paths, the dataset registry, resource requests. Parse-time work stays light
# (every cluster job re-parses the Snakefile), so nothing here reads data files.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "scripts"))

from neurokine.config import validate_config  # noqa: E402
from neurokine.errors import ConfigError  # noqa: E402
from neurokine.io import read_yaml  # noqa: E402


def repo_path(path):
    """Shipped files are addressed relative to the repository root, wherever the run happens."""
    path = Path(path)
    return path if path.is_absolute() else REPO / path


def check_config(config):
    """Schema-check the config and the registry ids it selects, before any job runs."""
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml",
                    source="config (config/config.yaml and any --configfile/--config)")
    unknown = [d for d in config["datasets"] if d not in REGISTRY]
    if unknown:
        raise ConfigError(config["registry"], "datasets", f"unknown dataset ids {unknown}",
                          f"use ids defined in {config['registry']}: {', '.join(sorted(REGISTRY))}")
    if any(is_synthetic(d) for d in config["datasets"]) and "simulation" not in config:
        raise ConfigError("config", "simulation", "a simulated dataset is selected but the "
                          "'simulation' block is missing", "add the block from config/config.yaml")


REGISTRY = read_yaml(repo_path(config["registry"]))
DATASETS = list(config["datasets"])
AXES_DIR = repo_path(config["resources"]["signatures"])
AXIS_FILES = sorted(str(p) for p in AXES_DIR.glob("*.yaml"))
CURATED = {
    "axes": AXIS_FILES,
    "axis_schema": str(REPO / "workflow/schemas/axis.schema.yaml"),
    "cell_types": str(repo_path(config["resources"]["cell_types"])),
    "cell_types_schema": str(REPO / "workflow/schemas/cell_types.schema.yaml"),
}
SCRIPTS = REPO / "scripts"


def is_synthetic(dataset):
    """True for registry entries produced by the simulator rather than a loader."""
    return REGISTRY[dataset].get("loader") == "simulated"


SYNTHETIC_DATASETS = [d for d in REGISTRY if is_synthetic(d)]


def raw_counts(wildcards):
    """The harmonized raw-count AnnData of a dataset: simulated or loaded from downloads."""
    stage = "simulated" if is_synthetic(wildcards.dataset) else "loaded"
    return f"results/{stage}/{wildcards.dataset}.h5ad"


def mem_mb(per_input_mb, minimum_mb):
    """Memory request that follows input size and doubles with each retry."""
    def request(wildcards, input, attempt):
        return int(max(minimum_mb, per_input_mb * input.size_mb) * attempt)
    return request


def runtime_min(per_input_mb, minimum_min):
    """Runtime request (minutes) that follows input size and grows with each retry."""
    def request(wildcards, input, attempt):
        return int(max(minimum_min, per_input_mb * input.size_mb) * attempt)
    return request


def final_outputs():
    """Targets of the default run: the report plus each dataset's tables and figures."""
    return ["results/report/index.html"] + expand(
        ["results/compare/{dataset}/signature_tests.tsv",
         "results/figures/{dataset}/effect_heatmap.svg"], dataset=DATASETS)
