"""python -m neurokine.draft_entry: a registry entry that loads as printed, with every label placed."""

from __future__ import annotations

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import SHARED_DATA
from fixtures.cellxgene import small_cellxgene

from neurokine.draft_entry import draft
from neurokine.io.registry import load_registry

SCHEMA = "workflow/schemas/datasets.schema.yaml"
KANG = SHARED_DATA / "kang_muscat_example" / "kang_muscat_example.h5ad"


def validated(text: str, tmp_path) -> dict:
    """The drafted entry as the registry loader reads it."""
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    return load_registry(path, SCHEMA)


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch, repo):
    monkeypatch.chdir(repo)


def author_file(path, labels, donors=("P1", "P2"), diagnosis=("healthy", "RRMS")):
    """A plain (non-CELLxGENE) h5ad with author columns under common names."""
    n = len(labels)
    obs = pd.DataFrame({"patient": np.resize(donors, n), "diagnosis": np.resize(diagnosis, n),
                        "celltype": labels, "compartment": np.resize(["CSF", "PBMC"], n)},
                       index=[f"c{i}" for i in range(n)])
    counts = sp.csr_matrix(np.random.default_rng(0).poisson(1, (n, 3)).astype(np.int32))
    ad.AnnData(X=counts, obs=obs, var=pd.DataFrame(index=["CD3E", "CD14", "MS4A1"])).write_h5ad(path)
    return path


def test_author_file_gets_columns_maps_and_every_label_placed_or_named(tmp_path):
    path = author_file(tmp_path / "mine.h5ad", ["B cells", "CD14+ Monocytes", "Tregs",
                                                "cluster 7", "CL:0000905", "Erythrocytes"])
    text = draft(path, "mine")
    entry = validated(text, tmp_path)["mine"]
    assert entry["loader"] == "h5ad"
    assert entry["metadata"]["columns"] == {"donor": "patient", "disease": "diagnosis",
                                            "cell_type": "celltype", "tissue": "compartment"}
    assert entry["metadata"]["tissue_map"] == {"PBMC": "blood"}
    assert sorted(entry["tissue"]) == ["CSF", "blood"]
    assert entry["disease_map"] == {"healthy": "control", "RRMS": "RRMS"}
    for line in ("'B cells' -> B_cell (CL:0000236 B cell; vocabulary_id)",
                 "'Tregs' -> Treg (CL:0000792",
                 "'CL:0000905' -> CD4_T_memory (CL:0000905 effector memory CD4-positive",
                 "'Erythrocytes' -> other (CL:0000232 erythrocyte; cl_name)",
                 "'cluster 7' -> unmapped (no CL term; unmapped_label)"):
        assert line in text, text
    assert "cannot place ['cluster 7']" in text and entry["cell_types"]["annotate"] == "unmapped"


def test_cellxgene_file_gets_the_six_line_entry(tmp_path):
    path = small_cellxgene(tmp_path / "cxg.h5ad")
    text = draft(path, "cxg")
    entry = validated(text, tmp_path)["cxg"]
    assert entry["loader"] == "cellxgene"
    lines = [ln for ln in text.splitlines() if ln.startswith("  ") and not ln.strip().startswith("#")]
    assert len(lines) == 7  # title, loader, tissue, citation, licence, files: and its one item
    assert sorted(entry["tissue"]) == ["CSF", "blood"]
    assert "'MONDO:0005314' -> MS" in text and "'PATO:0000461' -> control" in text
    assert "cannot place" not in text


@pytest.mark.skipif(not KANG.is_file(), reason=f"{KANG} is absent: the real-data draft needs "
                    "../shared/data next to the repository")
def test_kang_example_draft_places_all_five_labels_from_the_command_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "neurokine.draft_entry", str(KANG), "--id", "kang"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    entry = validated(run.stdout, tmp_path)["kang"]
    assert entry["metadata"]["columns"] == {"donor": "donor", "sample": "sample_id",
                                            "disease": "condition", "cell_type": "cell_type"}
    placed = {"B cells": "B_cell", "CD14+ Monocytes": "mono_classical", "CD4 T cells": "CD4_T",
              "CD8 T cells": "CD8_T", "FCGR3A+ Monocytes": "mono_nonclassical"}
    for label, cell_type in placed.items():
        assert f"'{label}' -> {cell_type} (CL:" in run.stdout
    assert "cannot place" not in run.stdout
    assert yaml.safe_load(run.stdout)["kang"]["disease_map"] == {"ctrl": "control", "stim": "stim"}
