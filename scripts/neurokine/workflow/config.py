"""Validate the workflow configuration, naming the key and the allowed values, and fill in the
schema's defaults, so workflow/schemas/config.schema.yaml is the one home of every default."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path

import jsonschema

from neurokine.errors import ConfigError
from neurokine.io.files import read_yaml
from neurokine.settings import Contrast


def _allowed(error: jsonschema.ValidationError) -> str:
    """Describe what the schema allows at the failing key."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        return "allowed keys: " + ", ".join(sorted(schema.get("properties", {})))
    if "enum" in schema:
        return "allowed values: " + ", ".join(map(str, schema["enum"]))
    parts = [f"{k} {schema[k]}" for k in ("type", "minimum", "maximum", "exclusiveMinimum",
                                           "exclusiveMaximum", "pattern", "minItems") if k in schema]
    return "expected " + ", ".join(parts) if parts else "see config/README.md"


def _key(error: jsonschema.ValidationError) -> str:
    """Dotted path of the failing key, e.g. 'qc.min_genes' or 'compare.contrasts[0].case'."""
    key = ""
    for part in error.absolute_path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        key = ".".join([key, unknown[0]]) if key and unknown else (unknown[0] if unknown else key)
    return key or "(top level)"


def _fill_then_check(validator, properties: Mapping, instance: object, schema: Mapping) -> Iterator:
    """jsonschema `properties` keyword that first sets absent keys to their schema `default`."""
    if isinstance(instance, MutableMapping):
        for name, subschema in properties.items():
            if isinstance(subschema, Mapping) and "default" in subschema and name not in instance:
                instance[name] = copy.deepcopy(subschema["default"])
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema)


#: A validator that fills defaults as it descends, so an absent optional block (default {})
#: is created and then receives its own keys' defaults.
FillingValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                                {"properties": _fill_then_check})


def config_errors(config: MutableMapping, schema_path: str | Path) -> list[str]:
    """Fill schema defaults into `config` in place; list every violation as 'key: problem (allowed ...)'."""
    schema = read_yaml(schema_path)
    errors = sorted(FillingValidator(schema).iter_errors(config),
                    key=lambda e: [str(p) for p in e.absolute_path])
    messages = []
    for error in errors:
        problem = ("unknown key" if error.validator == "additionalProperties" else error.message)
        messages.append(f"{_key(error)}: {problem} ({_allowed(error)})")
    return messages


def validate_config(config: MutableMapping, schema_path: str | Path, source: str) -> None:
    """Fill in defaults, then raise one ConfigError listing every problem, before any job runs."""
    messages = config_errors(config, schema_path)
    if messages:
        raise ConfigError(source, messages[0].split(":", 1)[0],
                          "invalid configuration:\n  - " + "\n  - ".join(messages),
                          "correct the keys listed above (documented in config/README.md)")


def check_contrasts(contrasts: Sequence[Contrast], groups: set[str], source: str) -> None:
    """Fail when a contrast compares a group with itself or names a group no dataset has."""
    for i, contrast in enumerate(contrasts):
        if contrast.case == contrast.reference:
            raise ConfigError(source, f"compare.contrasts[{i}]",
                              f"case and reference are both {contrast.case!r}",
                              "compare two different groups")
        for role in ("case", "reference"):
            group = getattr(contrast, role)
            if group not in groups:
                raise ConfigError(source, f"compare.contrasts[{i}].{role}",
                                  f"group {group!r} is in none of the selected datasets",
                                  f"use one of: {', '.join(sorted(groups))}")


def merge_configs(base: MutableMapping, overlay: Mapping) -> MutableMapping:
    """Merge `overlay` into `base` key by key, nested mappings included, as Snakemake merges
    --configfile overlays; return `base`."""
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), MutableMapping):
            merge_configs(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(files: Sequence[str | Path], schema_path: str | Path) -> dict:
    """Read config files (later ones win), validate them and fill in the schema's defaults."""
    config: dict = {}
    for path in files:
        merge_configs(config, read_yaml(path) or {})
    validate_config(config, schema_path, source=" + ".join(map(str, files)))
    return config
