# Shared helpers: config and registry checks, curated inputs, targets. Parse-time work stays light
# (every cluster job re-parses the Snakefile), so nothing here reads data files.
from pathlib import Path

# The library is installed into the workflow's environment (requirements.txt installs it with
# `-e .`); it is never found through sys.path, so a missing install says so here, at once.
try:
    from neurokine.errors import ConfigError
    from neurokine.io.registry import WorkflowDatasets, dataset_groups, is_synthetic
    from neurokine.plot.catalog import CROSS_DATASET_FIGURES, DATASET_FIGURES
    from neurokine.settings import Settings
    from neurokine.workflow import paths
    from neurokine.workflow.config import check_contrasts, validate_config
    from neurokine.workflow.shards import shard_ids, shard_size
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        f"{missing}. The neurokine library is not installed in this Python environment: run "
        "`pip install -r requirements.txt` from the repository root (it installs the library "
        "with `pip install -e .`)") from missing

# The repository root, whether the run starts from ./Snakefile or from workflow/Snakefile.
REPO = Path(workflow.current_basedir).parents[1]


# Shard ids are numbers (001, 002, ...); dataset ids are registry identifiers.
wildcard_constraints:
    shard=r"\d+",
    dataset=r"[A-Za-z][A-Za-z0-9_]*",
    level=r"fine|lineage",


def repo_path(path):
    """Shipped files are addressed relative to the repository root, wherever the run happens."""
    path = Path(path)
    return path if path.is_absolute() else REPO / path


def validated_workflow(config):
    """Validate the config (filling in the schema's defaults), the registry, the selected datasets
    and the contrasts; return the settings of every stage and the checked registry."""
    validate_config(config, REPO / "workflow/schemas/config.schema.yaml",
                    source="config (config/config.yaml and any --configfile/--config)")
    settings = Settings.from_config(config)
    registry = WorkflowDatasets(config, settings.fetch, REPO / "workflow/schemas/datasets.schema.yaml",
                                registry_path=repo_path(config["registry"]))
    simulated = [d for d in registry.selected if registry.registry[d]["loader"] == "simulated"]
    if simulated and settings.simulation is None:
        raise ConfigError("config", "simulation", f"dataset {simulated[0]!r} is simulated but the "
                          "'simulation' block is missing", "add the block from config/config.yaml")
    simulated_groups = settings.simulation.groups if settings.simulation else ()
    groups = set().union(*(dataset_groups(registry.registry[d], simulated_groups)
                           for d in registry.selected))
    check_contrasts(settings.compare.contrasts, groups, source="config (compare.contrasts)")
    return settings, registry


##### datasets and their outputs #####


def is_simulated(dataset):
    """True for registry entries the simulator produces rather than a loader reads."""
    return REGISTRY.registry[dataset]["loader"] == "simulated"


def simulated_datasets():
    """Registry ids the simulator produces (constrains the simulate rule's wildcard)."""
    return [d for d in REGISTRY.registry if is_simulated(d)]


def synthetic_datasets():
    """Selected datasets whose tables, figures and report must say they are synthetic."""
    return [d for d in REGISTRY.selected if is_synthetic(REGISTRY.registry[d])]


def raw_counts(wildcards):
    """The harmonized raw counts of a shard: its simulated file, or the dataset's loaded file
    (of which the shard jobs read only their samples' rows)."""
    if is_simulated(wildcards.dataset):
        return paths.SIMULATED.format(dataset=wildcards.dataset, shard=wildcards.shard)
    return paths.LOADED.format(dataset=wildcards.dataset)


##### shards (workflow/rules/shards.smk writes each dataset's plan, a checkpoint) #####


def dataset_shards(dataset):
    """Shard ids of a dataset in plan order (known once its plan is written)."""
    return shard_ids(checkpoints.plan_shards.get(dataset=dataset).output.plan)


def every_shard(template):
    """Input function: `template` for every shard of the job's dataset, in plan order."""
    def inputs(wildcards):
        return paths.per_shard(template, wildcards.dataset, dataset_shards(wildcards.dataset))
    return inputs


def dataset_figure_outputs():
    """PNG (registered for `snakemake --report`) and SVG of every per-dataset figure, by name."""
    outputs = {}
    for figure in DATASET_FIGURES:
        outputs[f"{figure.stem}_png"] = report(
            paths.dataset_figure(figure.stem, "png"), caption=f"../report/{figure.stem}.rst",
            category=figure.category, subcategory="{dataset}")
        outputs[f"{figure.stem}_svg"] = paths.dataset_figure(figure.stem, "svg")
    return outputs


def dataset_figure_pngs(dataset, level):
    """PNG of every per-dataset figure of one dataset at one level, keyed by figure stem."""
    return {figure.stem: paths.dataset_figure(figure.stem, "png", dataset, level)
            for figure in DATASET_FIGURES}


##### cell-type levels (config cell_type_levels): every table from the aggregates on, per level #####
def per_level(template):
    """`template` for every selected dataset at every analysed level."""
    return paths.per_level(template, SETTINGS.cell_type_levels, DATASETS)


def meta_table(wildcards):
    """The meta-analysis table at the cross-dataset level, when a rule of this workflow makes it."""
    produced = any(paths.META_ANALYSIS in map(str, r.output) for r in workflow.rules)
    return [paths.META_ANALYSIS.format(level=SETTINGS.cross_dataset_level)] if produced else []


def final_outputs():
    """Targets of the default run: the report plus each dataset's tables and figures per level."""
    return [paths.REPORT, *(paths.META_ANALYSIS.format(level=level) for level in SETTINGS.cell_type_levels),
            *(paths.cross_dataset_figure(f.stem, "svg") for f in CROSS_DATASET_FIGURES),
            *per_level(paths.SIGNATURE_TESTS), *per_level(paths.RESPONSE_ENRICHMENT),
            *per_level(paths.ACTIVITY_TESTS), *per_level(paths.INTERACTION_TESTS),
            *per_level(paths.VERDICTS),
            *(paths.dataset_figure(f.stem, "svg", d, level) for d in DATASETS
              for level in SETTINGS.cell_type_levels
              for f in DATASET_FIGURES)]
