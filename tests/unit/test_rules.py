"""fetch.smk + load.smk run by the real snakemake command against a local HTTP server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from fixtures import deposits
from fixtures.http_server import FaultyServer

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.workflow
NEEDS_ENV = pytest.mark.skipif(
    not (REPO / "envs/neurokine.yaml").exists(),
    reason="the rules name envs/neurokine.yaml (provided on main); snakemake records it for "
           "every finished job even without --sdm conda")

SNAKEFILE = textwrap.dedent(f"""
    # Minimal stand-in for the Snakefile + common.smk: the names fetch/load.smk rely on.
    import sys
    from pathlib import Path
    REPO = Path({str(REPO)!r})
    sys.path.insert(0, str(REPO / "scripts"))

    def repo_path(path):
        path = Path(path)
        return path if path.is_absolute() else REPO / path

    CURATED = {{"cell_types": str(REPO / "resources/cell_types.yaml"),
               "cell_types_schema": str(REPO / "resources/schemas/cell_types.schema.yaml"),
               "checked": []}}  # the curated-resource check (check.smk) is not tested here

    configfile: "config.yaml"

    from neurokine.io.registry import WorkflowDatasets
    DATASET_RULES = WorkflowDatasets(config, REPO / "workflow/schemas/datasets.schema.yaml",
                                     registry_path=repo_path(config["registry"]))

    include: str(REPO / "workflow/rules/resources.smk")
    include: str(REPO / "workflow/rules/fetch.smk")
    include: str(REPO / "workflow/rules/load.smk")

    rule all:
        input: DATASET_RULES.load_targets(), "results/loaded/shared_donors.tsv"
        default_target: True
""")


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--nolock",
                           *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)


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
              "fetch": {"lock_file": str(work / "checksums.lock.yaml"), "retries": 3,
                        "backoff_seconds": 0.01, "timeout_seconds": 5,
                        "allow_local_http": True}}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "Snakefile").write_text(SNAKEFILE)
    return work, truth


@NEEDS_ENV
def test_fetch_and_load_rules_end_to_end(tmp_path):
    with FaultyServer() as server:
        work, truth = _setup(tmp_path, server)
        dry = _snakemake(work, "-n")
        assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
        run = _snakemake(work)
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
    (work / "Snakefile").write_text(SNAKEFILE)
    run = _snakemake(work, "-n")
    assert run.returncode != 0
    assert "metadata-only" in run.stderr + run.stdout
