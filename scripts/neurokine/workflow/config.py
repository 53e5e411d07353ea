"""Validate the workflow configuration with messages that name the key and the allowed values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jsonschema

from neurokine.errors import ConfigError
from neurokine.io.files import read_yaml


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


def config_errors(config: Mapping, schema_path: str | Path) -> list[str]:
    """List every schema violation as 'key: problem (allowed ...)'."""
    schema = read_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: [str(p) for p in e.absolute_path])
    messages = []
    for error in errors:
        problem = ("unknown key" if error.validator == "additionalProperties" else error.message)
        messages.append(f"{_key(error)}: {problem} ({_allowed(error)})")
    return messages


def validate_config(config: Mapping, schema_path: str | Path, source: str) -> None:
    """Raise one ConfigError listing every problem, before any job runs."""
    messages = config_errors(config, schema_path)
    if messages:
        raise ConfigError(source, messages[0].split(":", 1)[0],
                          "invalid configuration:\n  - " + "\n  - ".join(messages),
                          "correct the keys listed above (documented in config/README.md)")
