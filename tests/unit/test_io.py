"""Atomic writes, deterministic TSVs and clear errors for unreadable inputs."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from neurokine.errors import InputError
from neurokine.io.files import atomic_path, read_h5ad, read_yaml, sha256sum, write_h5ad, write_tsv


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.tsv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_previous_file_until_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise ValueError
    assert target.read_text() == "old"


def test_write_tsv_sorts_and_is_byte_stable(tmp_path):
    frame = pd.DataFrame({"b": ["y", "x", "z"], "value": [1 / 3, 2.0, np.nan]})
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    write_tsv(frame, first, sort_by=["b"])
    write_tsv(frame.sample(frac=1, random_state=1), second, sort_by=["b"])
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text().splitlines() == ["b\tvalue", "x\t2", "y\t0.3333333333", "z\t"]


def test_outputs_get_normal_permissions(tmp_path):
    write_tsv(pd.DataFrame({"a": [1]}), tmp_path / "t.tsv", sort_by=["a"])
    assert (tmp_path / "t.tsv").stat().st_mode & 0o044  # group/other can read, unlike mkstemp's 0600


def test_truncated_h5ad_error_names_the_file(tmp_path):
    good = tmp_path / "good.h5ad"
    write_h5ad(ad.AnnData(np.ones((3, 2), dtype=np.float32)), good)
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match=r"broken\.h5ad.*cannot be read"):
        read_h5ad(broken)


def test_yaml_syntax_error_names_file_and_fix(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(InputError, match=r"bad\.yaml: YAML syntax.*Fix"):
        read_yaml(path)


def test_yaml_refuses_python_objects(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError):
        read_yaml(path)


def test_sha256sum_matches_hashlib(tmp_path):
    import hashlib

    path = tmp_path / "f.bin"
    payload = bytes(range(256)) * 5000
    path.write_bytes(payload)
    assert sha256sum(path) == hashlib.sha256(payload).hexdigest()
