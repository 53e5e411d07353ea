"""Real data without hand-mapping (issue 12), through the real `snakemake` command, in one run:

- a CELLxGENE-schema file built from real cells of ../shared/data (Kang 2018 lupus donors and
  OneK1K healthy donors, CL/MONDO/UBERON ids, CSF- and blood-labelled donors) with the 6-line
  registry entry: nothing unmapped;
- the Kang 2018 IFN-beta example (2 donors, paired, control vs stimulated) as a plain h5ad with
  no cell-type map at all: every label resolves, type I IFN response is the largest response
  effect in every cell type, and the effect heatmap shows the raw effects (no Hedges' g exists
  at 1 residual df) instead of a blank.

Skipped, saying why, when ../shared/data is absent.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SHARED_DATA
from fixtures.cellxgene import shared_cellxgene
from fixtures.workflow import FAST_DEMO_CONFIGS, outputs_of, run_workflow, tail

from neurokine.plot import effects

pytestmark = pytest.mark.workflow

KANG = SHARED_DATA / "kang_muscat_example" / "kang_muscat_example.h5ad"
NEEDED = [KANG, SHARED_DATA / "kang_muscat_ctrl8", SHARED_DATA / "onek1k_scdesignpop"]
#: The Kang example as a user registers it: columns and diseases, no cell-type map.
KANG_ENTRY = {
    "title": "Kang 2018 PBMC, IFN-beta (muscat example)", "loader": "h5ad", "tissue": ["blood"],
    "citation": "Kang HM et al. Nat Biotechnol 2018;36:89-94", "licence": "GEO; muscat GPL-3",
    "files": [{"name": "kang.h5ad", "role": "h5ad", "path": str(KANG)}],
    "metadata": {"columns": {"donor": "donor", "sample": "sample_id", "disease": "condition",
                             "cell_type": "cell_type"}, "constants": {"tissue": "blood"}},
    "disease_map": {"ctrl": "control", "stim": "IFNb_stim"},
}
CXG_ENTRY = """\
  title: Kang 2018 lupus and OneK1K healthy PBMC as one CELLxGENE file (test fixture)
  loader: cellxgene
  tissue: [CSF, blood]
  citation: Kang 2018 (GSE96583); Yazar 2022 (OneK1K)
  licence: GEO / CC BY 4.0
  files: [{{name: shared.h5ad, role: h5ad, path: {path}}}]
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    missing = [p for p in NEEDED if not p.exists()]
    if missing:
        pytest.skip(f"{missing[0]} is absent: these runs need ../shared/data next to the "
                    "repository (see tests/conftest.py SHARED_DATA)")
    root = tmp_path_factory.mktemp("real_data")
    shared_cellxgene(root / "shared.h5ad", SHARED_DATA)
    entry = "cxg_shared:\n" + CXG_ENTRY.format(path=root / "shared.h5ad")
    assert len(entry.splitlines()) == 7  # the id and six lines
    registry = yaml.safe_load(entry) | {"kang_example": KANG_ENTRY}
    (root / "registry.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    overlay = {
        "datasets": ["cxg_shared", "kang_example"], "registry": str(root / "registry.yaml"),
        "compare": {"contrasts": [{"case": "IFNb_stim", "reference": "control"}],
                    "min_donors_per_arm": 2},
        # ~200-1300 genes per file and ~60-1100 counts per cell, no mitochondrial genes.
        "qc": {"min_counts": 50, "min_genes": 20, "max_pct_mito": 100.0},
        "scoring": {"min_gene_coverage": 0.3},
    }
    (root / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    start = time.perf_counter()
    run = run_workflow(root / "work", configfiles=[*FAST_DEMO_CONFIGS, root / "overlay.yaml"])
    print(f"snakemake run of the CELLxGENE fixture + Kang example: "
          f"{time.perf_counter() - start:.0f} s")
    assert run.returncode == 0, tail(outputs_of(run))
    return root / "work" / "results"


def labels(results, dataset) -> pd.DataFrame:
    return pd.read_csv(results / f"loaded/{dataset}.labels.tsv", sep="\t", keep_default_na=False)


def test_cellxgene_file_runs_with_six_lines_and_nothing_unmapped(real_run):
    import anndata as ad

    obs = ad.read_h5ad(real_run / "loaded/cxg_shared.h5ad", backed="r").obs.astype(str)
    assert not (obs["cell_type"] == "unmapped").any()
    assert set(obs["tissue"]) == {"CSF", "blood"}
    assert set(obs["disease"]) == {"control", "systemic_lupus_erythematosus"}
    assert obs["donor_id"].nunique() == 20
    # Coarse author types (Kang's 'CD4 T cells' as CL:0000624) land on lineage terms, fine ones
    # (OneK1K's memory B cells) on fine types, both carrying their lineage.
    assert {"CD4_T", "B_memory", "mono_classical", "monocyte", "NK", "DC"} <= set(obs["cell_type"])
    lineage = obs.drop_duplicates("cell_type").set_index("cell_type")["cell_type_lineage"]
    assert lineage["B_memory"] == "B_cell" and lineage["mono_classical"] == "monocyte"
    table = labels(real_run, "cxg_shared")
    cells = table[table["kind"] == "cell_type"]
    assert set(cells["resolved_by"]) == {"cl_id"}
    assert set(cells["status"]) == {"mapped", "outside_vocabulary"}  # megakaryocytes: other
    assert cells.loc[cells["status"] == "outside_vocabulary", "term_name"].tolist() == ["megakaryocyte"]
    assert (real_run / "report/index.html").is_file()


def test_onek1k_lineage_level_adds_up_its_fine_types_over_the_same_donors(real_run):
    """Lineage rows are exactly their fine types' cells: counts add up and each lineage mean
    score is the cell-weighted mean of its types' (donors whose labels are all fine)."""
    from neurokine.curated.cell_types import load_cell_types

    lineage_of = {c.id: c.lineage for c in load_cell_types().values()}
    scores = {level: pd.read_csv(real_run / f"aggregate/cxg_shared/{level}/donor_scores.tsv",
                                 sep="\t") for level in ("fine", "lineage")}
    assert set(scores["fine"]["donor_id"]) == set(scores["lineage"]["donor_id"])
    fine = scores["fine"].assign(lineage=scores["fine"]["cell_type"].map(lineage_of))
    fine = fine[fine["lineage"].notna()].assign(weighted=lambda f: f["mean_score"] * f["n_cells"])
    summed = fine.groupby(["sample_id", "lineage", "signature"]).agg(
        n_cells=("n_cells", "sum"), weighted=("weighted", "sum")).reset_index()
    merged = summed.merge(scores["lineage"], left_on=["sample_id", "lineage", "signature"],
                          right_on=["sample_id", "cell_type", "signature"],
                          suffixes=("_fine", "_lineage"))
    # Coarse-labelled cells (Kang lupus donors' 'CD4 T cells') count at lineage level only.
    assert (merged["n_cells_lineage"] >= merged["n_cells_fine"]).all()
    exact = merged[merged["n_cells_lineage"] == merged["n_cells_fine"]]
    assert len(exact) > 0.5 * len(merged), (len(exact), len(merged))
    assert np.allclose(exact["weighted"] / exact["n_cells_fine"], exact["mean_score"], rtol=1e-9)
    onek1k = scores["lineage"][scores["lineage"]["cell_type"] == "B_cell"]
    assert len(onek1k) and set(scores["fine"]["cell_type"]) & {"B_memory", "B_naive"}


def test_kang_example_without_a_map_shows_type_i_ifn_in_every_cell_type(real_run):
    table = labels(real_run, "kang_example")
    cells = table[table["kind"] == "cell_type"].set_index("author_label")
    assert (cells["status"] == "mapped").all() and cells["n_cells"].sum() == 1556
    assert cells.loc["CD4 T cells", "mapped_to"] == "CD4_T"
    assert cells.loc["B cells", "mapped_to"] == "B_cell"
    by_level = {}
    for level in ("fine", "lineage"):
        tests = pd.read_csv(real_run / f"compare/kang_example/{level}/signature_tests.tsv", sep="\t")
        assert set(tests["level"]) == {level}
        response = tests[(tests["status"] == "tested") & (tests["module"] == "response")]
        assert response["design"].str.startswith("paired").all()
        by_type = response.pivot_table(index="cell_type", columns="axis", values="effect")
        assert (by_type.idxmax(axis=1) == "IFN_I").all(), (level, by_type.round(2).to_string())
        by_level[level] = by_type
    # Coarse labels (CD4 T cells, B cells) join the lineage level only; fine monocyte subsets
    # meet in the monocyte lineage; a type that is its own lineage (CD8 T) has the same effects.
    assert {"CD4_T", "B_cell"}.isdisjoint(by_level["fine"].index), by_level["fine"].index
    assert {"CD4_T", "B_cell", "monocyte"} <= set(by_level["lineage"].index)
    assert {"mono_classical", "mono_nonclassical"} <= set(by_level["fine"].index)
    # Compared by axis, over the axes tested there (the detection gate leaves the same ones out).
    fine_cd8, lineage_cd8 = (by_level[level].loc["CD8_T"].dropna() for level in ("fine", "lineage"))
    assert list(fine_cd8.index) == list(lineage_cd8.index) and len(fine_cd8) >= 10
    assert np.allclose(fine_cd8, lineage_cd8, rtol=1e-9)
    assert len(by_level["fine"]) == 3 and len(by_level["lineage"]) == 4
    print({level: len(t) for level, t in by_level.items()}, "cell types tested per level")
    tests = pd.read_csv(real_run / "compare/kang_example/fine/signature_tests.tsv", sep="\t")
    response = tests[(tests["status"] == "tested") & (tests["module"] == "response")]
    by_type = by_level["fine"]
    # Two paired donors: 1 residual df, so no Hedges' g; the reason says so and the raw effect
    # carries the result.
    assert response["hedges_g"].isna().all()
    assert response["reason"].str.contains("hedges_g is not defined").all()
    # The heatmap is not blank: drawn from the run's own table by the figure code behind
    # effect_heatmap.png, every tested cell has a colour (the raw effect), on a scale set by
    # the IFN-I effects.
    assert (real_run / "figures/kang_example/fine/effect_heatmap.png").stat().st_size > 10_000
    figure = effects.effect_heatmaps(tests, "response", 0.05, False, "kang")
    panels = [ax for ax in figure.axes if "IFNb_stim vs control" in ax.get_title()]
    assert len(panels) == 1 and "raw effect" in panels[0].get_title()
    values = np.ma.filled(panels[0].collections[0].get_array().astype(float), np.nan).ravel()
    assert np.isfinite(values).sum() == len(response) and np.nanmax(values) == by_type.max().max()
