"""fetch.smk + load.smk run by the real snakemake command against a local HTTP server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures import deposits
from fixtures.http_server import FaultyServer
from fixtures.workflow import clean_env

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.workflow
NEEDS_ENV = pytest.mark.skipif(
    not (REPO / "envs/neurokine.yaml").exists(),
    reason="the rules name envs/neurokine.yaml (provided on main); snakemake records it for "
           "every finished job even without --sdm conda")

TARGETS = ("results/loaded/schafflick2020.h5ad", "results/loaded/heming2021.h5ad",
           "results/loaded/shared_donors.tsv")


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The repository's Snakefile on the shipped config plus the test's overlay, in workdir."""
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(workdir), "--cores", "1", "--nolock", *args,
                           "--configfile", str(REPO / "config/config.yaml"),
                           str(workdir / "config.yaml")],
                          cwd=workdir, env=clean_env(), capture_output=True, text=True, timeout=300)


def _setup(tmp_path: Path, server: FaultyServer) -> tuple[Path, dict]:
    rng = np.random.default_rng(5)
    src = tmp_path / "src"
    truth = deposits.write_heming(src, rng)
    deposits.write_geo_raw_tar(src / "GSE138266_RAW.tar", deposits.schafflick_like_libraries(rng))
    registry = yaml.safe_load((REPO / "config/datasets.yaml").read_text())
    picked = {k: registry[k] for k in ("schafflick2020", "heming2021")}
    for entry in picked.values():
        entry["files"] = [f for f in entry["files"] if (src / f["name"]).exists()]
        for spec in entry["files"]:
            faults = ("500", "drop") if spec["name"].endswith("RAW.tar") else ()
            spec["url"] = server.serve(f"/geo/{spec['name']}", (src / spec["name"]).read_bytes(),
                                       *faults)
        entry["shared_donors"] = [s for s in entry.get("shared_donors", [])
                                  if s["with"] in picked]
    work = tmp_path / "run"
    work.mkdir()
    (work / "datasets.yaml").write_text(yaml.safe_dump(picked, sort_keys=False))
    config = {"datasets": ["schafflick2020", "heming2021"], "registry": str(work / "datasets.yaml"),
              "compare": {"contrasts": [{"case": "MS", "reference": "control"}]},
              "fetch": {"lock_file": str(work / "checksums.lock.yaml"), "retries": 3,
                        "backoff_seconds": 0.01, "timeout_seconds": 5,
                        "allow_local_http": True}}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    return work, truth


@NEEDS_ENV
def test_fetch_and_load_rules_end_to_end(tmp_path):
    with FaultyServer() as server:
        work, truth = _setup(tmp_path, server)
        dry = _snakemake(work, "-n", *TARGETS)
        assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
        run = _snakemake(work, *TARGETS)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    manifest = pd.read_csv(work / "resources/downloads/schafflick2020/MANIFEST.tsv", sep="\t")
    assert manifest["checksum_source"].tolist() == ["recorded"]
    lock = yaml.safe_load((work / "checksums.lock.yaml").read_text())
    assert set(lock) == {"schafflick2020", "heming2021"}
    log = (work / "logs/fetch_dataset/schafflick2020.log").read_text()
    assert "HTTP 500" in log and "resuming" in log
    heming = ad.read_h5ad(work / "results/loaded/heming2021.h5ad")
    assert heming.n_obs == len(truth["barcodes"]) - 5
    assert {"donor_id", "sample_id", "disease", "tissue", "cell_type", "dataset_id",
            "cell_type_ontology_term_id", "author_cell_type"} <= set(heming.obs.columns)
    labels = pd.read_csv(work / "results/loaded/heming2021.labels.tsv", sep="\t")
    assert "weirdCluster" in set(labels["author_label"])
    plan = pd.read_csv(work / "results/loaded/shared_donors.tsv", sep="\t")
    assert set(plan.loc[plan["action"] == "drop", "dataset_id"]) == {"heming2021"}
    assert (work / "results/benchmarks/load_dataset/heming2021.tsv").exists()
    # Nothing half-written: no .part files survive a run that hit a dropped connection.
    assert not list((work / "resources/downloads").rglob("*.part"))


def test_selecting_metadata_only_dataset_fails_at_parse_time(tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    registry = yaml.safe_load((REPO / "config/datasets.yaml").read_text())
    (work / "datasets.yaml").write_text(yaml.safe_dump({"lu2025_icans": registry["lu2025_icans"]}))
    (work / "config.yaml").write_text(yaml.safe_dump({"datasets": ["lu2025_icans"],
                                                      "registry": str(work / "datasets.yaml")}))
    run = _snakemake(work, "-n")
    assert run.returncode != 0
    assert "metadata-only" in run.stderr + run.stdout
