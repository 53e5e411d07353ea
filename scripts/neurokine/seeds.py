"""Reproducible random streams derived from the run's one seed (config `seed`).

Each stochastic step takes its own stream, keyed by what it is about (a signature, a contrast x
tissue x cell type, a donor), so adding or reordering other work never changes its numbers.
Keys are hashed with CRC-32, never Python's hash(), which differs between processes.
"""

from __future__ import annotations

import zlib

import numpy as np


def key_hash(*keys: str) -> int:
    """A stable 32-bit hash of string keys."""
    return zlib.crc32("|".join(keys).encode("utf-8"))


def sub_seed(seed: int, *keys: str) -> int:
    """An integer seed for one keyed step (for APIs that take a seed, e.g. gseapy)."""
    return (int(seed) + key_hash(*keys)) % (2**32)


def sub_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator for one keyed step: integer keys enter the seed sequence as they are, string
    keys through their stable hash."""
    entropy = [int(seed)] + [k if isinstance(k, int) else key_hash(k) for k in keys]
    return np.random.default_rng(entropy)
