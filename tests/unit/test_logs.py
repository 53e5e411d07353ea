"""Rule scripts send prints, warnings and log records to their log file."""

from __future__ import annotations

import logging
import sys
import warnings

from neurokine.io.logs import log_to_file


def test_everything_lands_in_the_log(tmp_path):
    saved = sys.stdout, sys.stderr
    try:
        log = log_to_file(tmp_path / "logs" / "rule.log")
        print("printed")
        log.info("logged")
        warnings.warn("warned", UserWarning, stacklevel=1)
        sys.stderr.flush()
    finally:
        sys.stdout, sys.stderr = saved
        logging.captureWarnings(False)
    text = (tmp_path / "logs" / "rule.log").read_text()
    assert "printed" in text and "logged" in text and "warned" in text
