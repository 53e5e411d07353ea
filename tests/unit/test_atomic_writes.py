"""Every output is written atomically: no reader ever sees a half-written table or .h5ad.

- Audit: every file write in the library and the rule scripts happens inside
  `neurokine.io.atomic_path` (or is on a short, reasoned list), and every rule output is
  passed to one of the atomic writers.
- A writer killed with SIGKILL in the middle of writing an .h5ad leaves the previous version
  (or nothing) at the path, never a partial file; the next write removes its debris.
- A reader polling a table while it is rewritten over and over only ever reads whole versions.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from neurokine.io.files import read_h5ad, temporary_siblings, write_h5ad

REPO = Path(__file__).resolve().parents[2]
LIBRARY = sorted((REPO / "scripts/neurokine").rglob("*.py"))
RULE_SCRIPTS = sorted((REPO / "scripts").glob("*.py"))

#: Methods and functions that write a file when given a path.
WRITERS = {"to_csv", "to_parquet", "to_hdf", "to_feather", "to_excel", "to_json", "to_pickle",
           "write_h5ad", "write_zarr", "write_loom", "write_text", "write_bytes", "savefig",
           "tofile", "mmwrite", "imsave"}
#: Module functions that write a file (`np.save`, `shutil.copy`; `adata.copy()` does not).
MODULE_WRITERS = {"np": {"save", "savez", "savez_compressed", "savetxt"},
                  "numpy": {"save", "savez", "savez_compressed", "savetxt"},
                  "shutil": {"copy", "copy2", "copyfile", "copytree", "move"},
                  "json": {"dump"}, "yaml": {"dump", "safe_dump"}}
#: The atomic writers rule outputs must go through.
ATOMIC_WRITERS = {"write_tsv", "write_h5ad", "write_parquet", "write_text", "save_figure",
                  "write_manifest"}
#: Writes outside atomic_path, each with the reason it cannot leave a half-written output.
ALLOWED = {
    ("logs.py", "log_to_file", "open"): "the rule's log file, not an output",
    ("fetch.py", "_transfer", "open"): "writes <file>.part; download() renames it onto the "
                                       "output only after size and sha256 checks",
    ("fetch.py", "_locked", "open"): "an empty flock token in the temp dir, not an output",
    ("common.py", "extract", "open"): "extracts archive members into a private temporary "
                                       "directory that is deleted afterwards",
    ("report.py", "table_uri", "to_csv"): "writes into an in-memory buffer",
}


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _writes_file(node: ast.Call) -> bool:
    """True for a call that writes a file (open in a write mode, or a writer method)."""
    name = _call_name(node)
    if name == "open":
        if node.args and "snakemake.log" in ast.unparse(node.args[0]):
            return False  # the rule's log file, not an output
        mode = node.args[1] if len(node.args) > 1 else next(
            (k.value for k in node.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    if name in {"to_json", "to_csv"} and not node.args and not node.keywords:
        return False  # returns a string
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in MODULE_WRITERS:
        # yaml/json dump to a string is fine; with a stream argument it writes a file.
        writes = name in MODULE_WRITERS[func.value.id]
        return writes and (func.value.id not in {"json", "yaml"} or len(node.args) > 1)
    # Methods only: a bare write_h5ad()/write_text() is neurokine.io's atomic writer.
    return isinstance(func, ast.Attribute) and name in WRITERS


def unguarded_writes(source: str, filename: str) -> list[str]:
    """File writes not lexically inside `with atomic_path(...)` and not on the allowed list."""
    tree = ast.parse(source)
    problems = []

    def visit(node: ast.AST, function: str, guarded: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.With | ast.AsyncWith) and any(
                isinstance(item.context_expr, ast.Call)
                and _call_name(item.context_expr) == "atomic_path" for item in node.items):
            guarded = True
        if isinstance(node, ast.Call) and _writes_file(node) and not guarded:
            key = (filename, function, _call_name(node))
            if key not in ALLOWED:
                problems.append(f"{filename}:{node.lineno} {function}(): {_call_name(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function, guarded)

    visit(tree, "<module>", False)
    return problems


def test_the_audit_catches_a_plain_write_and_accepts_an_atomic_one():
    plain = "def f(df, path):\n    df.to_csv(path)\n"
    atomic = "def f(df, path):\n    with atomic_path(path) as tmp:\n        df.to_csv(tmp)\n"
    assert unguarded_writes(plain, "x.py") == ["x.py:2 f(): to_csv"]
    assert unguarded_writes(atomic, "x.py") == []
    assert unguarded_writes("def g(p):\n    open(p, 'w')\n", "x.py") == ["x.py:2 g(): open"]
    assert unguarded_writes("def g(p):\n    open(p)\n", "x.py") == []


def test_every_library_write_is_atomic():
    problems = [p for path in LIBRARY + RULE_SCRIPTS
                for p in unguarded_writes(path.read_text(), path.name)]
    assert problems == []


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def output_uses(source: str) -> list[tuple[int, str]]:
    """Each use of `snakemake.output...` with the function it is passed to ('' if none)."""
    tree = ast.parse(source)
    parents = _parents(tree)
    uses = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "output"
                and isinstance(node.value, ast.Name) and node.value.id == "snakemake"):
            up, consumer = node, ""
            while up in parents:
                up = parents[up]
                if isinstance(up, ast.JoinedStr):
                    consumer = "<message>"  # named in a log line
                    break
                if isinstance(up, ast.Call) and _call_name(up) not in {"Path", "str"}:
                    consumer = _call_name(up)
                    break
            uses.append((node.lineno, consumer))
    return uses


def test_every_rule_output_goes_through_an_atomic_writer():
    problems = []
    for path in RULE_SCRIPTS:
        for line, consumer in output_uses(path.read_text()):
            if consumer in ATOMIC_WRITERS or consumer == "<message>":
                continue
            if (path.name, consumer) == ("fetch_files.py", "fetch_dataset"):
                continue  # the download root: files arrive by rename after verification
            if (path.name, consumer) == ("score_cells.py", "score_and_aggregate"):
                continue  # per-cell Parquet streamed into atomic_path (scoring.stream.ParquetBlocks)
            problems.append(f"{path.name}:{line}: snakemake.output passed to {consumer or '?'}")
    assert problems == []
    assert sum(len(output_uses(p.read_text())) for p in RULE_SCRIPTS) >= 15


WRITER = textwrap.dedent("""
    import sys
    import anndata as ad, numpy as np, scipy.sparse as sp
    sys.path.insert(0, {scripts!r})
    from neurokine.io.files import write_h5ad
    rng = np.random.default_rng(0)
    n, per, genes = 20000, 100, 3000  # 2M stored values: about a second of gzip writing
    x = sp.csr_matrix((rng.random(n * per, dtype=np.float32),
                       rng.integers(0, genes, n * per).astype(np.int32),
                       np.arange(0, n * per + 1, per)), shape=(n, genes))
    write_h5ad(ad.AnnData(X=x), sys.argv[1])
""")


def small(value: float) -> ad.AnnData:
    return ad.AnnData(X=np.full((3, 2), value, dtype=np.float32))


@pytest.mark.parametrize("previous", [None, 7.0], ids=["new file", "replacing a file"])
def test_a_writer_killed_mid_write_never_leaves_a_partial_h5ad(tmp_path, previous):
    target = tmp_path / "out.h5ad"
    if previous is not None:
        write_h5ad(small(previous), target)
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(scripts=str(REPO / "scripts")),
                               str(target)])
    try:
        deadline = time.monotonic() + 120
        while not temporary_siblings(target):  # the write has started
            assert writer.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.002)
        time.sleep(0.1)  # well inside the compressed write
        assert writer.poll() is None, "the writer finished before it could be killed"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    debris = temporary_siblings(target)
    assert debris, "the killed writer left no temporary: it was not mid-write"
    if previous is None:
        assert not target.exists()
    else:
        assert read_h5ad(target).X[0, 0] == previous  # the old version, complete
    write_h5ad(small(1.0), target)  # the rerun
    assert temporary_siblings(target) == []
    assert read_h5ad(target).X[0, 0] == 1.0


READER_WRITER = textwrap.dedent("""
    import sys
    import pandas as pd
    sys.path.insert(0, {scripts!r})
    from neurokine.io.files import write_tsv
    frames = [pd.DataFrame({{"i": range(n), "v": [n] * n}}) for n in (3000, 6000)]
    for k in range(int(sys.argv[2])):
        write_tsv(frames[k % 2], sys.argv[1], sort_by=["i"])
""")


def test_a_reader_sees_only_whole_tables_while_they_are_rewritten(tmp_path):
    target = tmp_path / "table.tsv"
    writer = subprocess.Popen([sys.executable, "-c",
                               READER_WRITER.format(scripts=str(REPO / "scripts")),
                               str(target), "120"])
    reads, seen = 0, set()
    try:
        while writer.poll() is None:
            if target.exists():
                frame = pd.read_csv(target, sep="\t")
                n = int(frame["v"].iloc[0])
                assert len(frame) == n and (frame["v"] == n).all() and frame["i"].iloc[-1] == n - 1
                reads += 1
                seen.add(n)
    finally:
        writer.wait()
    assert writer.returncode == 0
    assert reads >= 20 and seen == {3000, 6000}, (reads, seen)
    assert temporary_siblings(target) == []
