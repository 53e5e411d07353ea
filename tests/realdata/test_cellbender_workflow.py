"""The real CellBender sample through the whole workflow (issue 18): load (10x h5), QC, marker
annotation, scoring, composition and a report that says no comparison was made, and why.

One sample of unstated donor, tissue and diagnosis: a descriptive run. Skips, saying why, when
../shared/data is absent. `pytest -s` prints the measured numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fixtures.workflow import FAST_DEMO_CONFIGS, outputs_of, run_workflow, tail

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("NEUROKINE_SHARED_DATA", REPO / ".." / "shared" / "data"))
FILE = DATA / "scmisc_csf_cellbender" / "scmisc_csf_cellbender.h5"
pytestmark = [pytest.mark.realdata, pytest.mark.workflow]


def test_real_cellbender_sample_runs_descriptively_end_to_end(tmp_path):
    if not FILE.is_file():
        pytest.skip(f"{FILE} is absent (../shared/data is not next to the repository)")
    registry = {"csf_sample": {
        "title": "One CSF-like 10x sample (CellBender)", "loader": "tenx_h5", "tissue": ["CSF"],
        "citation": "scMisc example data (github.com/mihem/scMisc), MIT", "licence": "MIT",
        "files": [{"name": "sample.h5", "role": "h5", "path": str(FILE)}],
        "metadata": {"constants": {"donor": "donor1", "sample": "donor1_CSF", "tissue": "CSF",
                                   "disease": "not stated"}},
        "disease_map": {"not stated": "unspecified"},
        "cell_types": {"annotate": "all"}}}
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(registry))
    overlay = {"datasets": ["csf_sample"], "registry": str(tmp_path / "registry.yaml"),
               "compare": {"contrasts": []},
               # the published thresholds' spirit for a shallow CSF sample (median ~710 genes)
               "qc": {"min_counts": 500, "min_genes": 200, "max_pct_mito": 20.0},
               "network": {"min_ligand_fraction": 0.1}}
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    workdir = tmp_path / "work"
    run = run_workflow(workdir, configfiles=[*FAST_DEMO_CONFIGS, tmp_path / "overlay.yaml"])
    assert run.returncode == 0, tail(outputs_of(run))
    results = workdir / "results"

    labels = pd.read_csv(results / "loaded/csf_sample.labels.tsv", sep="\t")
    summed = labels[labels["kind"] == "gene_symbol"]
    assert len(summed) == 10  # the GRCh38 symbols on two Ensembl ids, summed and reported
    calls = labels[labels["kind"] == "cell_type_markers"].set_index("mapped_to")["n_cells"]
    assigned = calls.drop("unassigned", errors="ignore").sum() / calls.sum()
    qc = pd.read_csv(results / "prepared/csf_sample/qc_steps.tsv", sep="\t")
    counts = pd.read_csv(results / "aggregate/csf_sample/fine/cell_counts.tsv", sep="\t")
    print(f"\nreal CellBender sample: {calls.sum()} cells loaded, {assigned:.3f} assigned by markers; "
          f"kept after QC {int(qc['cells_kept'].iloc[-1])}; types after QC "
          f"{counts.set_index('cell_type')['n_cells'].sort_values(ascending=False).to_dict()}")
    assert assigned > 0.3 and {"CD8_T", "CD4_T_memory", "BAM"} <= set(counts["cell_type"])
    scores = pd.read_csv(results / "aggregate/csf_sample/fine/donor_scores.tsv", sep="\t")
    assert scores["mean_score"].notna().sum() > 0
    for stem in ("signature_map", "composition", "dot_plot", "overview"):
        assert (results / f"figures/csf_sample/fine/{stem}.png").stat().st_size > 5000
    html = (results / "report/index.html").read_text()
    assert 'id="no-comparison-csf_sample-fine"' in html
    assert "compare.contrasts is empty: this is a descriptive run" in html
