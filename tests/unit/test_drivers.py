"""The genes driving a finding: per-gene donor-level tests on pseudobulk, planted genes first."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_enrichment import GENES, PLANTED, pseudobulk

from neurokine.plot.explore import detail_findings
from neurokine.stats import drivers
from neurokine.stats.compare import Contrast

CONTRAST = Contrast("MS", "control")


def run(pb, signature_genes, **options):
    findings = pd.DataFrame([{"contrast": CONTRAST.name, "tissue": "CSF", "cell_type": "NK",
                              "signature": "A.response"}])
    return drivers.finding_genes(pb, findings, {"A.response": signature_genes}, [CONTRAST],
                                 covariates=[], min_cells=10, min_donors=3, min_count=5, **options)


def test_planted_genes_drive_the_finding_and_missing_genes_are_named():
    signature = [*PLANTED[:5], *GENES[100:105], "NOT_IN_DATA"]
    table = run(pseudobulk(lfc=1.5), signature).set_index("gene")
    assert list(table.columns[:5]) == ["dataset_id", "contrast", "tissue", "cell_type", "signature"]
    assert table.loc["NOT_IN_DATA", "status"] == "not in data"
    planted, null = table.loc[PLANTED[:5]], table.loc[GENES[100:105]]
    # t of 1.9-6.3 at 5 vs 5 donors (the variance prior weighs at most half the residual df)
    assert (planted["status"] == "tested").all() and (planted["t"] > 1.5).all()
    assert np.allclose(planted["effect"], 1.5, atol=0.6)  # log2 CPM difference of donor means
    assert (null["t"].abs() < planted["t"].min()).all()
    assert (planted["n_donors_case"] == 5).all()


def test_paired_design_and_too_few_donors():
    paired = run(pseudobulk(lfc=1.5, paired=True, n=4), PLANTED[:3]).set_index("gene")
    assert (paired["status"] == "tested").all() and (paired["n_donors_case"] == 4).all()
    few = run(pseudobulk(n=2), PLANTED[:3])
    assert few["status"].str.startswith("not tested").all()


def test_detail_findings_take_top_tests_and_verdict_layers():
    tests = pd.DataFrame([{"contrast": "c", "tissue": "CSF", "cell_type": f"T{i}", "signature": "X.ligand",
                           "status": "tested", "fdr": 0.01 * (i + 1), "p_value": 0.001 * (i + 1),
                           "hedges_g": 1.0} for i in range(5)])
    verdicts = pd.DataFrame([
        {"contrast": "c", "tissue": "CSF", "axis": "X", "cell_type": "R", "verdict": "supported",
         "layers_holding": "a + b", "response_fdr": 0.01, "top_sender_fdr": 0.01, "top_sender": "T9"},
        {"contrast": "c", "tissue": "CSF", "axis": "Y", "cell_type": "R", "verdict": "no_change",
         "layers_holding": "", "response_fdr": 0.9, "top_sender_fdr": np.nan, "top_sender": ""}])
    picked = detail_findings(tests, verdicts, 0.05, 2)
    assert picked.to_dict("records") == [
        {"contrast": "c", "tissue": "CSF", "cell_type": "T0", "signature": "X.ligand"},
        {"contrast": "c", "tissue": "CSF", "cell_type": "T1", "signature": "X.ligand"},
        {"contrast": "c", "tissue": "CSF", "cell_type": "R", "signature": "X.response"},
        {"contrast": "c", "tissue": "CSF", "cell_type": "T9", "signature": "X.ligand"}]
