# Shared helpers: paths, config and registry checks, resource requests. Parse-time work stays light
# (every cluster job re-parses the Snakefile), so nothing here reads data files.
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "scripts"))

from neurokine.compare import check_contrast_groups, contrasts_from_config, dataset_groups  # noqa: E402
from neurokine.config import validate_config  # noqa: E402
from neurokine.errors import ConfigError  # noqa: E402
from neurokine.registry import WorkflowDatasets  # noqa: E402


def repo_path(path):
    """Shipped files are addressed relative to the repository root, wherever the run happens."""
    path = Path(path)
    return path if path.is_absolute() else REPO / path


def checked_datasets(config):
    """Schema-check the config, then the registry and the datasets and contrasts it selects."""
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml",
                    source="config (config/config.yaml and any --configfile/--config)")
    datasets = WorkflowDatasets(config, REPO / "workflow/schemas/datasets.schema.yaml",
                                registry_path=repo_path(config["registry"]))
    registry = datasets.registry
    if any(registry[d]["loader"] == "simulated" for d in datasets.selected) and "simulation" not in config:
        raise ConfigError("config", "simulation", "a simulated dataset is selected but the "
                          "'simulation' block is missing", "add the block from config/config.yaml")
    groups = set().union(*(dataset_groups(registry[d], config.get("simulation"))
                           for d in datasets.selected))
    check_contrast_groups(contrasts_from_config(config["compare"]["contrasts"]), groups,
                          source="config (compare.contrasts)")
    return datasets


DATASETS = list(config["datasets"])
AXES_DIR = repo_path(config["resources"]["signatures"])
AXIS_FILES = sorted(str(p) for p in AXES_DIR.glob("*.yaml"))
# A user's own axes directory may bring its own allow-list (resources/signatures layout).
_USER_ALLOWLIST = AXES_DIR.parent / "gene_allowlist.tsv"
CURATED_ALLOWLIST = (_USER_ALLOWLIST if _USER_ALLOWLIST.is_file()
                     else REPO / "resources/signatures/gene_allowlist.tsv")
CURATED_FILES = {
    "axes": AXIS_FILES,
    "axis_schema": str(REPO / "workflow/schemas/axis.schema.yaml"),
    "cell_types": str(repo_path(config["resources"]["cell_types"])),
    "cell_types_schema": str(REPO / "workflow/schemas/cell_types.schema.yaml"),
}
# Rules reading the curated resources, and rule load_dataset, also wait for rule check_curated,
# which validates them (schema, citations, every gene symbol) once per run, so a bad resource
# stops the run before any expensive job. ancient(): only the order matters, so re-running the
# check never re-runs a job (an edited axis re-runs its readers through the axis file itself).
CURATED = {**CURATED_FILES, "checked": ancient("results/resources/curated_genes.tsv")}


def is_synthetic(dataset):
    """True for registry entries produced by the simulator rather than a loader."""
    return DATASET_RULES.registry[dataset]["loader"] == "simulated"


def synthetic_datasets():
    """Registry ids the simulator produces (constrains the simulate rule's wildcard)."""
    return [d for d in DATASET_RULES.registry if is_synthetic(d)]


def raw_counts(wildcards):
    """The harmonized raw-count AnnData of a dataset: simulated or loaded from downloads."""
    stage = "simulated" if is_synthetic(wildcards.dataset) else "loaded"
    return f"results/{stage}/{wildcards.dataset}.h5ad"


def final_outputs():
    """Targets of the default run: the report plus each dataset's tables and figures."""
    return ["results/report/index.html", "results/compare/meta/meta_analysis.tsv",
            "results/figures/cross_dataset/forest_plot.svg",
            "results/figures/cross_dataset/therapy_panel.svg"] + expand(
        ["results/compare/{dataset}/signature_tests.tsv",
         "results/compare/{dataset}/response_enrichment.tsv",
         "results/network/{dataset}/interaction_tests.tsv",
         "results/figures/{dataset}/{stem}.svg"], dataset=DATASETS, stem=DATASET_FIGURES)


##### network, figures and report helpers #####

def network_settings():
    """Network thresholds from config, with the schema's defaults for keys left out."""
    block = config.get("network", {})
    return {"min_ligand_fraction": block.get("min_ligand_fraction", 0.1),
            "min_receptor_fraction": block.get("min_receptor_fraction", 0.1),
            "top_edges": block.get("top_edges", 15)}


# Per-dataset figures: file stem -> (caption file, report category); the order is the report's
# (scripts/neurokine/figures.py: DATASET_FIGURES lists the same stems).
DATASET_FIGURES = {
    # file stem: (caption, report category)
    "overview": ("overview.rst", "Overview"),
    "composition": ("composition.rst", "Overview"),
    "effect_heatmap": ("effect_heatmap.rst", "Comparisons"),
    "top_findings": ("top_findings.rst", "Comparisons"),
    "dot_plot": ("dot_plot.rst", "Networks"),
    "network": ("network.rst", "Networks"),
    "differential_network": ("differential_network.rst", "Networks"),
    "top_interactions": ("top_interactions.rst", "Networks"),
}
META_TABLE = "results/compare/meta/meta_analysis.tsv"


def dataset_figure_outputs():
    """PNG (registered for the report) and SVG output of every per-dataset figure."""
    outputs = {}
    for stem, (caption, category) in DATASET_FIGURES.items():
        outputs[f"{stem}_png"] = report(f"results/figures/{{dataset}}/{stem}.png",
                                        caption=f"../report/{caption}", category=category,
                                        subcategory="{dataset}")
        outputs[f"{stem}_svg"] = f"results/figures/{{dataset}}/{stem}.svg"
    return outputs


def meta_table(wildcards):
    """The cross-dataset meta-analysis table, when a rule of this workflow produces it."""
    produced = any(META_TABLE in map(str, r.output) for r in workflow.rules)
    return [META_TABLE] if produced else []


def report_figures(dataset):
    """PNG of every per-dataset figure of one dataset, in report order."""
    return [f"results/figures/{dataset}/{stem}.png" for stem in DATASET_FIGURES]
