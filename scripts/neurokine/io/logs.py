"""Send a rule script's output, warnings and uncaught errors to its Snakemake log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def log_to_file(path: str | Path, name: str = "neurokine") -> logging.Logger:
    """Redirect stdout/stderr and logging to `path`; return the step's logger."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives for the job
    sys.stdout = sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO, force=True,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    return logging.getLogger(name)
