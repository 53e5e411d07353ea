"""The README's quick start is exactly two commands, and CI runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_quick_start_is_two_one_line_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[0].endswith("snakemake --cores 8")
    assert "requirements-test.txt" in commands[1] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO / ".ci/run").read_text().splitlines()
    assert quick_start_commands()[1] in ci
    assert "set -euo pipefail" in ci


def test_every_output_listed_in_the_readme_is_documented_once():
    text = (REPO / "README.md").read_text()
    listed = re.findall(r"^- `(results/[^`]+)`", text, flags=re.M)
    assert len(listed) == len(set(listed)) >= 10
