"""Reading is safe: YAML through safe_load only, no pickle, no eval/exec, no shell, HTTPS only.

The library, the rule scripts and the Snakefile/rules are parsed (Python AST, so comments
and docstrings do not count) and every unsafe call is listed with its file and line. Each
detector is first shown to catch a planted example, so the scan cannot pass by being blind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PYTHON_FILES = sorted([*(REPO / "scripts").glob("*.py"), *(REPO / "scripts/neurokine").rglob("*.py")])
SNAKE_FILES = sorted([REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")])

UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal"}
UNSAFE_BUILTINS = {"eval", "exec", "compile", "__import__"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
#: A plain-http address with a host (a bare "http://" prefix in a check is fine), not loopback.
PLAIN_HTTP = re.compile(r"^http://(?!(127\.0\.0\.1|localhost)([:/]|$))[^/\s]+")


def _name(node: ast.AST) -> str:
    """Dotted name of a call target (`yaml.load`, `np.load`, `eval`)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def unsafe_calls(source: str, label: str) -> list[str]:
    """Every unsafe construct in Python source, as 'file:line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{label}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""])
            for module in modules:
                if module.split(".")[0] in UNSAFE_MODULES:
                    found.append(f"{where}: imports {module}")
        if isinstance(node, ast.Call):
            name = _name(node.func)
            keywords = {k.arg: k.value for k in node.keywords}
            last = name.rsplit(".", 1)[-1]
            if name in UNSAFE_BUILTINS:
                found.append(f"{where}: calls {name}()")
            if name.endswith(("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all",
                              "yaml.full_load_all")):
                found.append(f"{where}: {name}")
            if name.endswith(("yaml.load", "yaml.load_all")):
                loader = keywords.get("Loader", node.args[1] if len(node.args) > 1 else None)
                if loader is None or _name(loader).rsplit(".", 1)[-1] not in SAFE_YAML_LOADERS:
                    found.append(f"{where}: {name} without a safe Loader")
            if last in {"read_pickle", "to_pickle"} or name in {"joblib.load", "torch.load"}:
                found.append(f"{where}: {name} (unpickles)")
            pickle_flag = keywords.get("allow_pickle")
            if isinstance(pickle_flag, ast.Constant) and pickle_flag.value is True:
                found.append(f"{where}: {name}(allow_pickle=True)")
            shell = keywords.get("shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                found.append(f"{where}: {name}(shell=True)")
            if name in {"os.system", "os.popen"}:
                found.append(f"{where}: {name}")
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and PLAIN_HTTP.match(node.value)):
            found.append(f"{where}: plain http URL {node.value!r}")
    return found


@pytest.mark.parametrize("snippet", [
    "import pickle", "from pickle import loads", "import dill",
    "yaml.load(text)", "yaml.load(text, Loader=yaml.Loader)", "yaml.unsafe_load(text)",
    "yaml.full_load(text)", "pd.read_pickle(path)", "np.load(p, allow_pickle=True)",
    "eval(code)", "exec(code)", "subprocess.run(cmd, shell=True)", "os.system(cmd)",
    "url = 'http://example.org/data.h5ad'",
])
def test_the_scanner_catches_each_unsafe_construct(snippet):
    assert unsafe_calls(snippet, "planted"), snippet


@pytest.mark.parametrize("snippet", [
    "yaml.safe_load(text)", "yaml.load(text, Loader=yaml.SafeLoader)",
    "np.load(p, allow_pickle=False)", "model.evaluate(x)", "subprocess.run(['ls'])",
    "url = 'http://127.0.0.1:8000/x'",
])
def test_the_scanner_accepts_safe_constructs(snippet):
    assert unsafe_calls(snippet, "planted") == [], snippet


def test_library_and_rule_scripts_read_safely():
    assert len(PYTHON_FILES) > 20
    problems = [p for path in PYTHON_FILES
                for p in unsafe_calls(path.read_text(), str(path.relative_to(REPO)))]
    assert problems == []


def test_snakefile_and_rules_read_safely():
    # .smk files are Python with Snakemake keywords: scan their plain-Python lines.
    problems = []
    for path in SNAKE_FILES:
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            stripped = line.split("#", 1)[0]
            if re.search(r"\b(pickle|eval|exec|unsafe_load|full_load)\b|yaml\.load\(|shell=True",
                         stripped):
                problems.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert problems == []


def test_every_remote_url_in_the_shipped_registry_is_https():
    registry = yaml.safe_load((REPO / "config/datasets.yaml").read_text())
    urls = [spec["url"] for entry in registry.values() for spec in entry.get("files", [])
            if "url" in spec]
    assert urls and all(u.startswith("https://") for u in urls), [
        u for u in urls if not u.startswith("https://")]
