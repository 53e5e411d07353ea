"""A real CellBender/Cell Ranger v3 HDF5 through the loader, harmonize and marker annotation.

../shared/data/scmisc_csf_cellbender/scmisc_csf_cellbender.h5 (see its SOURCE.txt): one real
10x sample of CSF-like leukocytes, 1,317 cells, GRCh38 with 10 gene symbols on two Ensembl ids.
The 10x h5 loader used to crash on it (issue 18). Each test skips, saying why, when the file
is absent. Run with `pytest -s` to see the measured numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from fixtures import deposits

from neurokine.io.harmonize import harmonize
from neurokine.io.loaders import load_dataset
from neurokine.io.prepare import CELL_FILTERS, qc_metrics

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("NEUROKINE_SHARED_DATA", REPO / ".." / "shared" / "data"))
FILE = DATA / "scmisc_csf_cellbender" / "scmisc_csf_cellbender.h5"
pytestmark = pytest.mark.realdata

#: Canonical markers of issue 18 and the vocabulary types they identify.
CANONICAL: dict[str, tuple[str, ...]] = {
    "CD4_T_naive": ("CD3E", "CD4"), "CD4_T_memory": ("CD3E", "CD4"), "Treg": ("CD3E", "CD4"),
    "CD8_T": ("CD3E", "CD8A"), "gdT": ("CD3E",), "MAIT": ("CD3E",), "NK": ("NKG7",),
    "B_naive": ("MS4A1",), "B_memory": ("MS4A1",), "mono_classical": ("CD14",),
    "mono_intermediate": ("CD14", "FCGR3A"), "mono_nonclassical": ("FCGR3A",),
    "BAM": ("C1QA", "LYVE1"), "mDC": ("CD1C",), "pDC": ("LILRA4",),
}
MONOCYTES = ("mono_classical", "mono_intermediate", "mono_nonclassical")


def _require_file() -> None:
    if not FILE.is_file():
        pytest.skip(f"{FILE} is absent: the real-data checks need ../shared/data next to the "
                    "repository (or NEUROKINE_SHARED_DATA)")


def _entry() -> dict:
    """The registry entry a new user writes for one unlabelled sample."""
    return {"title": "scMisc CSF CellBender example", "loader": "tenx_h5", "tissue": ["CSF"],
            "citation": "github.com/mihem/scMisc", "licence": "MIT",
            "files": [{"name": FILE.name, "role": "h5", "path": str(FILE)}],
            "metadata": {"constants": {"donor": "scmisc1", "sample": "scmisc1_CSF",
                                       "tissue": "CSF", "disease": "not stated"}},
            "disease_map": {}, "cell_types": {"annotate": "all"}}


@pytest.fixture(scope="module")
def loaded(vocabulary):
    """(raw loader output, harmonized AnnData, label report) of the real file."""
    _require_file()
    raw = load_dataset("scmisc_csf", _entry(), REPO / "unused")
    adata, report = harmonize(raw, "scmisc_csf", _entry(), vocabulary)
    return raw, adata, report


def test_synthetic_cellbender_fixture_has_the_real_layout(tmp_path):
    _require_file()
    rng = np.random.default_rng(0)
    table = deposits.gene_table()
    counts = deposits.simulate_counts(rng, ["NK"] * 5, table)
    fixture = deposits.write_cellbender_h5(tmp_path / "f.h5", counts,
                                           [f"{b}-1" for b in deposits.plain_barcodes(rng, 5)],
                                           table, rng)
    assert deposits.h5_layout(fixture) == deposits.h5_layout(FILE)


def test_real_file_loads_and_repeated_symbols_are_summed(loaded):
    raw, adata, report = loaded
    assert raw.uns["neurokine_load"]["h5_layout"] == "cellbender"
    assert raw.shape == (1317, 36387) and raw.X.nnz == 1_021_562
    summed = report[report["kind"] == "gene_symbol"]
    print(f"\n{adata.n_obs} cells; {len(summed)} repeated symbols summed: "
          f"{sorted(summed['mapped_to'])}")
    assert len(summed) == 10 and (summed["status"] == "summed_2_features").all()
    assert deposits.repeated_symbols_summed(raw, adata, report) == set(summed["mapped_to"])
    assert adata.n_vars == 36387 - 10 and adata.var_names.is_unique
    assert int(adata.X.sum()) == int(raw.X.sum())  # every UMI kept


def _log_normalized(adata) -> sp.csc_matrix:
    """log1p(counts per 10k) per cell, cells x genes, column-sliceable."""
    counts = sp.csr_matrix(adata.X, dtype=np.float64)
    library = np.asarray(counts.sum(axis=1)).ravel()
    scaled = sp.diags(1e4 / np.maximum(library, 1)) @ counts
    scaled.data = np.log1p(scaled.data)
    return scaled.tocsc()


def _agreement(adata) -> pd.DataFrame:
    """Per called type and canonical marker: mean log expression and detection, in vs rest."""
    expression = _log_normalized(adata)
    calls = adata.obs["cell_type"].astype(str).to_numpy()
    rows = []
    for cell_type, n in pd.Series(calls).value_counts().items():
        inside = calls == cell_type
        for marker in CANONICAL.get(cell_type, ()):
            x = expression[:, adata.var_names.get_loc(marker)].toarray().ravel()
            rows.append({"cell_type": cell_type, "n_cells": int(n), "marker": marker,
                         "mean_in": x[inside].mean(), "mean_rest": x[~inside].mean(),
                         "detected_in": (x[inside] > 0).mean(),
                         "detected_rest": (x[~inside] > 0).mean()})
    table = pd.DataFrame(rows)
    table["fold"] = table["mean_in"] / table["mean_rest"]
    return table


def _qc_pass(adata) -> np.ndarray:
    """Cells passing the default config's QC thresholds (as rule prepare applies them)."""
    thresholds = yaml.safe_load((REPO / "config/config.yaml").read_text())["qc"]
    metrics = qc_metrics(adata)
    keep = np.ones(adata.n_obs, dtype=bool)
    for _, metric, op, key in CELL_FILTERS:
        values = metrics[metric].to_numpy()
        keep &= values >= thresholds[key] if op == ">=" else values <= thresholds[key]
    return keep


def test_marker_annotation_agrees_with_canonical_markers(loaded):
    _, adata, _ = loaded
    calls = adata.obs["cell_type"].astype(str)
    assigned = (calls != "unassigned").to_numpy()
    qc = _qc_pass(adata)
    print(f"\nassigned by markers: {assigned.mean():.3f} of {adata.n_obs} cells; "
          f"{assigned[qc].mean():.3f} of the {int(qc.sum())} passing the default QC")
    print(calls.value_counts().to_string())
    table = _agreement(adata)
    print(table.round(3).to_string(index=False))
    assert assigned.mean() >= 0.4
    large = table[table["n_cells"] >= 20]
    assert set(large["cell_type"]) >= {"CD8_T", "CD4_T_memory", "BAM", "mDC"}
    assert (large["fold"] > 1).all(), large
    specific = large.set_index(["cell_type", "marker"])["fold"]
    for key in (("CD8_T", "CD8A"), ("BAM", "C1QA"), ("BAM", "LYVE1"), ("mDC", "CD1C")):
        assert specific[key] > 5, (key, specific[key])


def test_c1q_lyve1_macrophages_land_on_bam_not_monocytes(loaded):
    raw, adata, _ = loaded
    detected = {g: np.asarray(raw[:, (raw.var["gene_symbols"] == g).to_numpy()].X.sum(axis=1))
                .ravel() > 0 for g in ("C1QA", "LYVE1")}
    macrophages = detected["C1QA"] & detected["LYVE1"]
    calls = adata.obs["cell_type"].astype(str)[macrophages]
    share = calls.value_counts(normalize=True)
    print(f"\n{int(macrophages.sum())} C1QA+ LYVE1+ cells: {calls.value_counts().to_dict()}")
    assert share.get("BAM", 0) >= 0.4
    assert share.reindex(list(MONOCYTES)).fillna(0).sum() <= 0.1
