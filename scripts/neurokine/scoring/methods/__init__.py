"""The scoring methods by name (`scoring.method`); a new method is one module plus `register`."""

from __future__ import annotations

from neurokine.errors import InputError
from neurokine.scoring.methods.base import ScoringMethod
from neurokine.scoring.methods.mean import MeanMethod
from neurokine.scoring.methods.ucell import UCellMethod
from neurokine.scoring.methods.weighted import UlmMethod

METHODS: dict[str, ScoringMethod] = {}


def register(method: ScoringMethod) -> ScoringMethod:
    """Make `method` selectable by its name; refuse a name that is already taken."""
    if method.name in METHODS:
        raise ValueError(f"a scoring method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> ScoringMethod:
    """The registered method called `name`, or an error listing the known ones."""
    if name not in METHODS:
        raise InputError("scoring", "method", f"unknown method {name!r}",
                         f"use one of {', '.join(METHODS)}")
    return METHODS[name]


for _method in (MeanMethod(), UlmMethod(), UCellMethod()):
    register(_method)
