"""The conda environment files pin exactly the versions of the pip lock (conda is unreachable
here, so this comparison is what keeps the two installs in step)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
#: conda-forge names that differ from the PyPI distribution names.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
#: The one unpinned line: the neurokine library itself, installed editable from the checkout.
LOCAL_PROJECT = "-e ."


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and line != LOCAL_PROJECT:
            name, version = line.split("==")
            pins[normalize(name)] = version
    return pins


def conda_pins(path: Path) -> list[tuple[str, str]]:
    spec = yaml.safe_load(path.read_text())
    pins = []
    for item in spec["dependencies"]:
        if isinstance(item, dict):
            pins += [tuple(p.split("==")) for p in item.get("pip", [])]
            continue
        name, _, version = item.partition("=")
        pins.append((name.strip(), version.strip().lstrip("=")))
    return pins


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_every_conda_pin_matches_the_pip_lock(env_file):
    lock = pip_lock()
    pins = conda_pins(env_file)
    assert pins, f"{env_file} pins nothing"
    for name, version in pins:
        assert version, f"{env_file}: {name} is not pinned"
        if name == "python":
            assert version == "3.11"
            continue
        if name == "pip":
            continue  # the installer itself is not part of the lock
        key = normalize(CONDA_TO_PYPI.get(name, name))
        assert key in lock, f"{env_file}: {name} is not in requirements.txt"
        assert lock[key] == version, f"{env_file}: {name}={version} but requirements.txt has {lock[key]}"


def test_every_rule_uses_an_environment_file():
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        text = rule_file.read_text()
        n_rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, flags=re.M))
        n_conda = len(re.findall(r"^    conda:", text, flags=re.M))
        assert n_rules == n_conda, f"{rule_file.name}: {n_rules} rules but {n_conda} conda: directives"
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', text):
            assert (rule_file.parent / env).resolve().is_file(), env


def test_requirements_pin_everything_exactly():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in (REPO / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r ") and not (name == "requirements.txt"
                                                            and line == LOCAL_PROJECT):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9.\-+]*", line), f"{name}: {line}"


def test_the_workflow_environment_installs_the_library_itself():
    lines = [line.split("#", 1)[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    assert LOCAL_PROJECT in lines, "requirements.txt must install the neurokine library (-e .)"
