"""loader: cellxgene: a CELLxGENE-schema file needs no mapping; malformed ones say what to fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixtures.cellxgene import NORMAL, small_cellxgene

from neurokine.errors import InputError
from neurokine.io import harmonize, loaders
from neurokine.io.registry import load_registry

#: The whole registry entry a CELLxGENE file needs (the id line aside): six lines.
ENTRY = """\
  title: A CELLxGENE dataset
  loader: cellxgene
  tissue: [CSF, blood]
  citation: unpublished
  licence: CC BY 4.0
  files: [{{name: data.h5ad, role: h5ad, path: {path}}}]
"""


def entry_for(path, tmp_path, extra: str = "") -> dict:
    """The 6-line entry, validated by the real registry schema."""
    registry = tmp_path / "registry.yaml"
    registry.write_text("cxg:\n" + ENTRY.format(path=path) + extra)
    return load_registry(registry, "workflow/schemas/datasets.schema.yaml")["cxg"]


def load(tmp_path, extra: str = "", **fixture):
    path = small_cellxgene(tmp_path / "data.h5ad", **fixture)
    entry = entry_for(path, tmp_path, extra)
    return loaders.load_dataset("cxg", entry, tmp_path), entry


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch, repo):
    monkeypatch.chdir(repo)


def test_six_lines_load_and_harmonize_with_no_mapping(tmp_path, vocabulary):
    assert len(ENTRY.splitlines()) == 6
    raw, entry = load(tmp_path)
    assert raw.uns["neurokine_load"]["counts_from"] == "raw.X"
    assert list(raw.var["gene_symbols"][:2]) == ["CD3E", "CD4"]
    adata, report = harmonize.harmonize(raw, "cxg", entry, vocabulary)
    obs = adata.obs.astype(str)
    assert set(obs["cell_type"]) == {"CD4_T", "B_cell", "monocyte"}
    assert set(obs["cell_type_lineage"]) == {"CD4_T", "B_cell", "monocyte"}
    assert not (obs["cell_type"] == "unmapped").any()
    # relapsing-remitting MS (MONDO:0005314) is MS by ancestry; normal is control
    assert set(obs["disease"]) == {"MS", "control"}
    # venous blood (UBERON:0013756) is blood by ancestry
    assert set(obs["tissue"]) == {"CSF", "blood"}
    # no sample column: donor x tissue
    assert set(obs["sample_id"]) == {"D0_CSF", "D1_blood", "D2_CSF", "D3_blood"}
    assert set(obs["sex"]) == {"female"} and set(obs["age"]) == {"unknown"}
    disease = report[report["kind"] == "disease"].set_index("author_label")
    assert disease.loc["relapsing-remitting multiple sclerosis", "term_id"] == "MONDO:0005314"
    assert disease.loc["normal", "status"] == "mapped_control"
    cells = report[report["kind"] == "cell_type"]
    assert set(cells["resolved_by"]) == {"cl_id"} and cells["n_cells"].sum() == adata.n_obs


def test_registry_overrides_use_the_existing_fields(tmp_path, vocabulary):
    extra = ("  disease_map: {normal: control, relapsing-remitting multiple sclerosis: RRMS}\n"
             "  cell_types: {map: {B cell: B_naive}}\n")
    raw, entry = load(tmp_path, extra)
    adata, report = harmonize.harmonize(raw, "cxg", entry, vocabulary)
    assert set(adata.obs["disease"].astype(str)) == {"RRMS", "control"}
    assert "B_naive" in set(adata.obs["cell_type"].astype(str))
    row = report[(report["kind"] == "disease") & (report["mapped_to"] == "RRMS")]
    assert row["resolved_by"].tolist() == ["disease_map"]


def test_obsolete_and_unknown_terms_are_listed_with_their_names(tmp_path, vocabulary):
    def edit(obs):
        obs.loc["c0", "cell_type_ontology_term_id"] = "CL:0000804"   # obsolete -> T cell
        obs.loc["c1", "cell_type_ontology_term_id"] = "unknown"
        obs.loc["c2", "disease_ontology_term_id"] = "unknown"
        return obs

    raw, entry = load(tmp_path, obs_edit=edit)
    adata, report = harmonize.harmonize(raw, "cxg", entry, vocabulary)
    cells = report[report["kind"] == "cell_type"].set_index("author_label")
    # CL keeps no label for this obsolete id, so the file's label is the id itself
    obsolete = cells.loc["CL:0000804"]
    assert (obsolete["mapped_to"], obsolete["term_id"]) == ("T_cell", "CL:0000084")
    assert "obsolete CL:0000804, replaced by CL:0000084" in obsolete["note"]
    assert adata.obs.loc["c1", "cell_type"] == "unmapped"
    assert cells.loc["unknown", "n_cells"] == 1
    assert adata.obs.loc["c2", "disease"] == "unknown"


@pytest.mark.parametrize(("malform", "column", "fix"), [
    ({"obs_edit": lambda o: o.drop(columns="donor_id")}, "obs.donor_id", "add donor_id"),
    ({"obs_edit": lambda o: o.assign(cell_type_ontology_term_id="CL:9999999")},
     "obs.cell_type_ontology_term_id", "cell_types.map"),
    ({"obs_edit": lambda o: o.assign(disease_ontology_term_id="MONDO:9999999")},
     "obs.disease_ontology_term_id", "disease_map"),
    ({"obs_edit": lambda o: o.drop(columns="tissue_ontology_term_id")},
     "obs.tissue_ontology_term_id", "add the tissue term"),
    ({"counts_in_raw": False, "obs_edit": lambda o: o}, "X", "raw.X"),
    ({"symbols": ["CD3E", "CD4", "CD4", "MS4A1"]}, "raw.var.feature_name", "loader: h5ad"),
])
def test_malformed_files_name_the_column_and_the_fix(tmp_path, malform, column, fix):
    if malform.get("counts_in_raw") is False:
        # normalized X and no raw: overwrite X with log-normalized values
        import anndata as ad

        path = small_cellxgene(tmp_path / "data.h5ad", counts_in_raw=False)
        adata = ad.read_h5ad(path)
        adata.X = adata.X.astype(np.float32)
        adata.X.data = np.log1p(adata.X.data) + 0.5
        adata.write_h5ad(path)
        entry = entry_for(path, tmp_path)
        call = lambda: loaders.load_dataset("cxg", entry, tmp_path)  # noqa: E731
    else:
        call = lambda: load(tmp_path, **malform)  # noqa: E731
    with pytest.raises(InputError) as info:
        call()
    assert info.value.field == column, str(info.value)
    assert fix in info.value.fix, str(info.value)


def test_matrix_is_read_in_row_slices(tmp_path, vocabulary):
    whole, _ = load(tmp_path)
    sliced, _ = load(tmp_path / "b", "  layout: {chunk_rows: 7}\n")
    assert (whole.X != sliced.X).nnz == 0 and whole.X.dtype == np.int32
    assert pd.Series(whole.obs_names).equals(pd.Series(sliced.obs_names))


def test_dataset_groups_of_a_cellxgene_entry_allow_canonical_contrasts(tmp_path):
    from neurokine.io.registry import dataset_groups

    path = small_cellxgene(tmp_path / "data.h5ad")
    assert {"MS", "control", "NMOSD"} <= dataset_groups(entry_for(path, tmp_path))
    assert NORMAL.startswith("PATO")
