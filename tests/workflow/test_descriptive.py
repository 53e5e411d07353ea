"""A descriptive run: one donor's sample, so nothing can be compared; the workflow still loads,
prepares, scores, aggregates, draws the maps and composition, and its report says why no
comparison was made (issue 18)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from fixtures.workflow import FAST_DEMO_CONFIGS, outputs_of, run_workflow, tail

import neurokine

pytestmark = pytest.mark.workflow

def one_sample(path) -> None:
    """One MS donor's CSF sample (raw counts over every curated gene, two author cell types)."""
    from neurokine.curated.axes import all_genes

    genes = sorted({*all_genes(neurokine.load_axes()), "CD14", "LYZ", "CD3E", "CD4", "IL7R",
                    "MT-CO1", "MT-ND1"})
    rng = np.random.default_rng(11)
    n = 300
    obs = pd.DataFrame({"celltype": np.tile(["CD14 Mono", "CD4 TCM"], n // 2)},
                       index=[f"AAAC{i:06d}-1" for i in range(n)])
    counts = rng.poisson(0.5, size=(n, len(genes))).astype(np.int32)
    ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=genes)).write_h5ad(path)


def test_one_sample_gets_a_descriptive_run_and_a_report_saying_why(tmp_path):
    h5ad = tmp_path / "sample.h5ad"
    one_sample(h5ad)
    registry = {"my_sample": {
        "title": "One CSF sample", "loader": "h5ad", "tissue": ["CSF"], "citation": "unpublished",
        "licence": "internal", "files": [{"name": "sample.h5ad", "role": "h5ad", "path": str(h5ad)}],
        "metadata": {"columns": {"cell_type": "celltype"},
                     "constants": {"donor": "P1", "sample": "P1_CSF", "tissue": "CSF",
                                   "disease": "RRMS"}},
        "disease_map": {"RRMS": "MS", "healthy": "control"},
        "cell_types": {"map": {"CD14 Mono": "mono_classical", "CD4 TCM": "CD4_T_memory"}}}}
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(registry))
    overlay = {"datasets": ["my_sample"], "registry": str(tmp_path / "registry.yaml"),
               "compare": {"contrasts": [{"case": "MS", "reference": "control"}]},
               # A toy sample of ~330 counts per cell over the curated genes only.
               "qc": {"min_counts": 100, "min_genes": 50}}
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    workdir = tmp_path / "work"
    run = run_workflow(workdir, configfiles=[*FAST_DEMO_CONFIGS, tmp_path / "overlay.yaml"])
    assert run.returncode == 0, tail(outputs_of(run))
    results = workdir / "results"
    load_log = (workdir / "logs/load_dataset/my_sample.log").read_text()
    assert "descriptive run" in load_log
    tests = pd.read_csv(results / "compare/my_sample/fine/signature_tests.tsv", sep="\t")
    assert not (tests["status"] == "tested").any()
    scores = pd.read_csv(results / "aggregate/my_sample/fine/donor_scores.tsv", sep="\t")
    assert set(scores["cell_type"]) == {"mono_classical", "CD4_T_memory"}
    assert (results / "compare/my_sample/fine/composition.tsv").exists()
    for stem in ("signature_map", "dot_plot", "composition"):
        assert (results / f"figures/my_sample/fine/{stem}.png").stat().st_size > 5000
    html = (results / "report/index.html").read_text()
    assert 'id="no-comparison-my_sample-fine"' in html
    assert "none of the configured contrasts has both groups here (MS_vs_control: no donors of " \
           "control in this dataset)" in html
