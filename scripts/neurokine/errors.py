"""Error types whose messages name the file, the field and the fix."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: the message names where the problem is and how to fix it."""

    def __init__(self, source: str, field: str, problem: str, fix: str) -> None:
        self.source, self.field, self.problem, self.fix = source, field, problem, fix
        super().__init__(f"{source}: {field}: {problem}. Fix: {fix}")


class ConfigError(InputError):
    """A configuration value is missing, unknown or out of range."""
