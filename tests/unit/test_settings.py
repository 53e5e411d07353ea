"""Defaults have one home, the config schema: validation fills them in, config/README.md shows the
same values, and every library function that offers a default for a config key agrees."""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from neurokine import api
from neurokine.io import annotate, fetch, registry
from neurokine.io.loaders import load_dataset
from neurokine.scoring import engine
from neurokine.scoring.params import ScoringParams
from neurokine.settings import Settings
from neurokine.stats import activity, composition, enrichment, network
from neurokine.stats.compare import compare_groups
from neurokine.validation import simulate
from neurokine.workflow.config import load_config, validate_config

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
README = REPO / "config/README.md"


def leaves(schema: dict, prefix: str = "") -> Iterator[tuple[str, dict, bool]]:
    """(dotted key, its schema, required?) of every non-object key of the config schema."""
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        if sub.get("type") == "object" and "properties" in sub:
            yield from leaves(sub, f"{key}.")
        else:
            yield key, sub, name in required


SCHEMA_LEAVES = {key: (sub, req) for key, sub, req in leaves(yaml.safe_load(SCHEMA.read_text()))}
SCHEMA_DEFAULTS = {k: sub["default"] for k, (sub, _) in SCHEMA_LEAVES.items() if "default" in sub}


def readme_rows() -> dict[str, str]:
    """Dotted key -> default cell of every row of config/README.md's tables."""
    rows, prefix = {}, ""
    for line in README.read_text().splitlines():
        heading = re.match(r"^## (?:`(\w+)`|Top level)", line)
        if heading:
            prefix = f"{heading.group(1)}." if heading.group(1) else ""
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        for key in re.findall(r"`([\w.]+)`", cells[0]):
            rows[prefix + key] = cells[1]
    return rows


def test_every_schema_key_is_documented_with_its_default_or_as_required():
    rows = readme_rows()
    assert set(rows) == set(SCHEMA_LEAVES), (sorted(set(SCHEMA_LEAVES) - set(rows)),
                                             sorted(set(rows) - set(SCHEMA_LEAVES)))
    for key, (sub, required) in SCHEMA_LEAVES.items():
        if "default" in sub:
            shown = rows[key].strip("`")
            assert yaml.safe_load(shown) == sub["default"], (key, rows[key], sub["default"])
        else:
            assert required and rows[key] == "required", (key, rows[key])


def parameter_default(function: Callable, name: str) -> object:
    """The default value of one keyword parameter of a function or dataclass."""
    return inspect.signature(function).parameters[name].default


#: Library functions that offer a default for a config key: (config key, callable, parameter).
CODE_DEFAULTS = [
    ("scoring.method", api.score, "method"),
    ("scoring.method", engine.score_cells, "method"),
    ("scoring.ctrl_size", api.score, "ctrl_size"),
    ("scoring.ctrl_size", engine.score_cells, "ctrl_size"),
    ("scoring.n_bins", api.score, "n_bins"),
    ("scoring.n_bins", engine.score_cells, "n_bins"),
    ("scoring.control_pool", api.score, "control_pool"),
    ("scoring.min_gene_coverage", api.score, "min_gene_coverage"),
    ("scoring.ucell_max_rank", api.score, "ucell_max_rank"),
    ("scoring.ucell_max_rank", engine.score_cells, "max_rank"),
    ("scoring.chunk_nnz", engine.score_cells, "chunk_nnz"),
    ("compare.covariates", api.compare, "covariates"),
    ("compare.min_cells_per_donor", api.compare, "min_cells_per_donor"),
    ("compare.min_donors_per_arm", api.compare, "min_donors_per_arm"),
    ("compare.min_module_counts", compare_groups, "min_module_counts"),
    ("compare.n_bootstrap", api.compare, "n_bootstrap"),
    ("compare.permutation_max_arm", api.compare, "permutation_max_arm"),
    ("compare.max_permutations", api.compare, "max_permutations"),
    ("compare.permutation_max_arm", compare_groups, "permutation_max_arm"),
    ("compare.permutation_max_arm", composition.composition_tests, "permutation_max_arm"),
    ("compare.permutation_max_arm", network.compare_interactions, "permutation_max_arm"),
    ("compare.max_permutations", compare_groups, "max_permutations"),
    ("compare.max_permutations", composition.composition_tests, "max_permutations"),
    ("compare.max_permutations", network.compare_interactions, "max_permutations"),
    ("compare.enrichment.min_count", enrichment.response_enrichment, "min_count"),
    ("compare.enrichment.min_count", enrichment.gene_rankings, "min_count"),
    ("activity.resource", activity.activity_model, "resource"),
    ("simulation.planted_genes", simulate.cohort_model, "planted_genes"),
    ("simulation.ligand_expression.producer", simulate.cohort_model, "ligand_producer_weight"),
    ("simulation.ligand_expression.other", simulate.cohort_model, "ligand_other_weight"),
    ("fetch.retries", fetch.FetchOptions, "retries"),
    ("fetch.backoff_seconds", fetch.FetchOptions, "backoff_seconds"),
    ("fetch.max_backoff_seconds", fetch.FetchOptions, "max_backoff_seconds"),
    ("fetch.timeout_seconds", fetch.FetchOptions, "timeout_seconds"),
    ("fetch.allow_local_http", fetch.FetchOptions, "allow_local_http"),
    ("fetch.downloads", load_dataset, "root"),
    ("fetch.downloads", registry.file_location, "root"),
    ("marker_annotation.min_score", annotate.annotate_cells, "min_score"),
    ("marker_annotation.min_margin", annotate.annotate_cells, "min_margin"),
    ("marker_annotation.min_markers", annotate.marker_scores, "min_markers"),
    ("marker_annotation.specificity_penalty", annotate.marker_scores, "specificity_penalty"),
    ("marker_annotation.quantile", annotate.marker_scores, "quantile"),
]
#: Schema defaults that no library function repeats (the callers always pass the settings).
NO_CODE_DEFAULT = {"max_mem_mb", "cell_type_levels", "sharding.max_cells", "scoring.n_null",
                   "compare.fdr_alpha",
                   "compare.enrichment.permutations",
                   "compare.enrichment.min_size", "compare.enrichment.max_size",
                   "network.min_ligand_fraction", "network.min_receptor_fraction",
                   "network.top_edges", "network.min_donor_agreement", "report.table_rows",
                   "report.detail_findings", "fetch.lock_file", "normalize.equalize_depth"}


#: Library defaults that differ from the schema on purpose: (key, callable, parameter, value, why).
DELIBERATE_DIFFERENCES = [
    ("scoring.min_gene_coverage", engine.score_cells, "min_coverage", 0.0,
     "the engine call equals scanpy.tl.score_genes, which scores whatever genes are present"),
    ("scoring.n_null", ScoringParams, "n_null", 0,
     "a plain engine call scores no null signatures; the workflow passes the setting"),
    ("scoring.control_pool", engine.score_cells, "control_pool", "scanpy",
     "the engine call equals scanpy.tl.score_genes, whose controls exclude only the set's genes"),
    ("scoring.control_pool", ScoringParams, "control_pool", "scanpy",
     "ScoringParams defaults are those of a plain engine call; the workflow passes the setting"),
]


@pytest.mark.parametrize(("key", "function", "name", "value", "why"), DELIBERATE_DIFFERENCES,
                         ids=[d[0] for d in DELIBERATE_DIFFERENCES])
def test_deliberate_differences_stay_as_documented(key, function, name, value, why):
    assert key in SCHEMA_DEFAULTS and parameter_default(function, name) == value, why


@pytest.mark.parametrize(("key", "function", "name"), CODE_DEFAULTS,
                         ids=[f"{k}:{getattr(f, '__name__', f)}.{n}" for k, f, n in CODE_DEFAULTS])
def test_library_defaults_equal_the_schema(key, function, name):
    default = parameter_default(function, name)
    # A tuple default stands for the schema's list, a Path for its string.
    default = list(default) if isinstance(default, tuple) else default
    assert (str(default) if isinstance(default, Path) else default) == SCHEMA_DEFAULTS[key]


def test_every_schema_default_is_either_mirrored_by_code_or_listed_as_settings_only():
    assert set(SCHEMA_DEFAULTS) == {k for k, _, _ in CODE_DEFAULTS} | NO_CODE_DEFAULT


def test_validation_fills_absent_keys_and_blocks_with_the_schema_defaults():
    config = load_config([REPO / "config/config.yaml"], SCHEMA)
    for block in ("network", "fetch", "marker_annotation"):
        partial = copy.deepcopy(config)
        del partial[block]
        validate_config(partial, SCHEMA, source="test")
        assert set(partial[block]) == {k.split(".", 1)[1] for k in SCHEMA_DEFAULTS
                                       if k.startswith(f"{block}.")}
    del config["scoring"]["n_null"], config["compare"]["enrichment"]
    validate_config(config, SCHEMA, source="test")
    settings = Settings.from_config(config)
    # The bug this design removes: a config without n_null silently scored no null signatures.
    assert settings.scoring.n_null == SCHEMA_DEFAULTS["scoring.n_null"] == 20
    assert settings.compare.enrichment.permutations == SCHEMA_DEFAULTS["compare.enrichment.permutations"]


def test_a_users_value_is_never_overwritten_by_a_default():
    config = load_config([REPO / "config/config.yaml"], SCHEMA)
    config["scoring"]["n_null"] = 3
    validate_config(config, SCHEMA, source="test")
    assert Settings.from_config(config).scoring.n_null == 3
