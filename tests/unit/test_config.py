"""Config validation names the key and the allowed values before any job runs."""

from __future__ import annotations

import copy

import pytest

from neurokine.errors import ConfigError
from neurokine.io.files import read_yaml
from neurokine.workflow.config import config_errors, validate_config


@pytest.fixture(scope="module")
def default_config(repo):
    return read_yaml(repo / "config/config.yaml")


@pytest.fixture(scope="module")
def schema(repo):
    return repo / "workflow/schemas/config.schema.yaml"


def test_default_config_is_valid(default_config, schema):
    assert config_errors(default_config, schema) == []


@pytest.mark.parametrize(
    ("mutate", "key", "hint"),
    [
        (lambda c: c.update(colour="red"), "colour", "allowed keys: activity, cell_type_levels, compare"),
        (lambda c: c["qc"].update(min_genes="many"), "qc.min_genes", "expected type integer"),
        (lambda c: c["scoring"].update(method="median"), "scoring.method", "allowed values: mean"),
        (lambda c: c.update(seed=-1), "seed", "minimum 0"),
        (lambda c: c.update(seed=2**40), "seed", "maximum 4294967295"),
        (lambda c: c["compare"]["contrasts"][0].update(case="MS;rm -rf /"),
         "compare.contrasts[0].case", "pattern"),
        (lambda c: c["simulation"]["planted_effects"][0].update(module="ligands"),
         "simulation.planted_effects[0].module", "allowed values: ligand, receptor, response"),
    ],
)
def test_bad_values_name_key_and_allowed_values(default_config, schema, mutate, key, hint):
    config = copy.deepcopy(default_config)
    mutate(config)
    with pytest.raises(ConfigError) as caught:
        validate_config(config, schema, source="config/config.yaml")
    message = str(caught.value)
    assert f"{key}:" in message
    assert hint in message
    assert "config/config.yaml" in message and "Fix:" in message
