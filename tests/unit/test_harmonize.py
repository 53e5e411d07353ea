"""Harmonized output schema, gene-symbol handling, label reports and donor deduplication."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fixtures import deposits

from neurokine.errors import InputError
from neurokine.io import harmonize, loaders
from neurokine.io.files import write_tsv

REPO = Path(__file__).resolve().parents[2]






def _check_contract(adata: ad.AnnData) -> None:
    """The harmonized AnnData contract, checked independently of validate_harmonized."""
    for column in (*harmonize.REQUIRED_OBS, "cell_type_ontology_term_id", "author_cell_type"):
        assert column in adata.obs, column
        assert isinstance(adata.obs[column].dtype, pd.CategoricalDtype), column
    assert sp.issparse(adata.X) and adata.X.format == "csr"
    assert np.issubdtype(adata.X.dtype, np.integer) and (adata.X.data >= 0).all()
    assert adata.var_names.is_unique
    assert set(adata.obs["tissue"]) <= {"CSF", "blood", "CNS"}
    assert adata.uns["neurokine"]["synthetic"] is False


def test_heming_harmonized_with_reports(registry, vocabulary, tmp_path):
    rng = np.random.default_rng(3)
    truth = deposits.write_heming(tmp_path / "heming2021", rng)
    raw = loaders.load_dataset("heming2021", registry["heming2021"], tmp_path)
    adata, report = harmonize.harmonize(raw, "heming2021", registry["heming2021"], vocabulary)
    _check_contract(adata)
    assert list(report.columns) == harmonize.REPORT_COLUMNS
    assert set(adata.obs["disease"]) == {"MS", "control", "COVID"}
    assert set(adata.obs["author_disease"]) == {"MS", "IIH", "COVID"}
    assert set(adata.obs["dataset_id"]) == {"heming2021"}
    # The label the registry does not know is reported, not dropped, and marker-annotated.
    weird = report[(report["kind"] == "cell_type") & (report["author_label"] == "weirdCluster")]
    assert weird["status"].tolist() == ["unmapped_label"] and weird["n_cells"].tolist() == [1]
    assert adata.obs.loc[truth["barcodes"][0], "cell_type_source"] == "markers"
    # The coarse CD4 label lands on the lineage term CD4_T (it was dropped as unmapped before).
    cd4 = report[(report["kind"] == "cell_type") & (report["author_label"] == "CD4")]
    assert cd4[["mapped_to", "lineage", "resolved_by", "term_id", "term_name", "status"]
               ].values.tolist() == [["CD4_T", "CD4_T", "exact_map", "CL:0000624",
                                      "CD4-positive, alpha-beta T cell", "mapped"]]
    mapped = adata.obs[adata.obs["cell_type_source"] == "author"]
    assert (mapped["cell_type_ontology_term_id"].astype(str).str.match(r"^CL:\d{7}$")).all()
    # Every cell carries its lineage, a vocabulary id whose CL id it also carries.
    for cell_type, lineage, term in adata.obs[["cell_type", "cell_type_lineage",
                                              "cell_type_lineage_ontology_term_id"]
                                             ].drop_duplicates().astype(str).values:
        assert lineage == vocabulary[cell_type].lineage and term == vocabulary[lineage].ontology_id
    # Cells without annotation are dropped and counted.
    dropped = report[(report["kind"] == "cells")
                     & (report["author_label"] == "cells_without_annotation_dropped")]
    assert dropped["n_cells"].tolist() == [5]
    assert report["n_cells"][report["kind"] == "disease"].sum() == adata.n_obs


def test_unknown_disease_labels_are_kept_and_reported(registry, vocabulary, tmp_path):
    rng = np.random.default_rng(4)
    deposits.write_heming(tmp_path / "heming2021", rng)
    entry = {**registry["heming2021"], "disease_map": {"MS": "MS", "IIH": "control"}}
    raw = loaders.load_dataset("heming2021", entry, tmp_path)
    adata, report = harmonize.harmonize(raw, "heming2021", entry, vocabulary)
    assert "unknown" in set(adata.obs["disease"])
    rows = report[(report["kind"] == "disease") & (report["status"] == "unknown_label")]
    assert rows["author_label"].tolist() == ["COVID"]
    assert rows["n_cells"].iloc[0] == int((adata.obs["author_disease"] == "COVID").sum())


def test_disease_from_donor_and_tissue_map(registry, vocabulary, tmp_path):
    rng = np.random.default_rng(5)
    libs = deposits.schafflick_like_libraries(rng)
    deposits.write_geo_raw_tar(tmp_path / "schafflick2020" / "GSE138266_RAW.tar", libs)
    raw = loaders.load_dataset("schafflick2020", registry["schafflick2020"], tmp_path)
    adata, _report = harmonize.harmonize(raw, "schafflick2020", registry["schafflick2020"],
                                        vocabulary)
    _check_contract(adata)
    by_donor = adata.obs.groupby("donor_id", observed=True)["disease"].first().to_dict()
    assert by_donor == {"MS19270": "MS", "PTC85037": "control", "PST45044": "control"}
    assert set(adata.obs["tissue"]) == {"CSF", "blood"}
    assert set(adata.obs["sample_id"]) == {lib.sample for lib in libs}
    # No author labels: every cell is marker-annotated, with a confidence in [0, 1].
    assert set(adata.obs["cell_type_source"]) == {"markers"}
    conf = adata.obs["annotation_confidence"].to_numpy()
    assert np.all((conf >= 0) & (conf <= 1))
    truth = np.concatenate([lib.cell_types for lib in libs])
    order = np.concatenate([[f"{lib.sample}:{b}" for b in lib.barcodes] for lib in libs])
    calls = adata.obs.loc[order, "cell_type"].astype(str).to_numpy()
    assert (calls == truth).mean() > 0.9


def test_gene_symbols_from_features_and_duplicates_summed():
    ids = ["ENSG1", "ENSG2", "ENSG3", "ENSG4", "AB1"]
    symbols = ["CD3E", "DUP", "DUP", "", "CD4_TotalSeqC"]
    types = ["Gene Expression"] * 4 + ["Antibody Capture"]
    X = sp.csr_matrix(np.array([[1, 2, 3, 4, 50], [0, 5, 0, 1, 60]], dtype=np.int32))
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=["c1", "c2"]),
                       var=pd.DataFrame({"gene_symbols": symbols, "feature_types": types},
                                        index=ids))
    out, rows = harmonize.harmonize_genes(adata)
    assert list(out.var_names) == ["CD3E", "DUP", "ENSG4"]
    np.testing.assert_array_equal(out.X.toarray(), [[1, 5, 4], [0, 5, 1]])
    assert out.var.loc["DUP", "gene_ids"] == "ENSG2;ENSG3"
    statuses = {r["status"] for r in rows}
    assert {"removed_not_gene_expression", "summed_2_features", "kept_feature_id"} <= statuses


def test_validate_harmonized_rejects_broken_output():
    X = sp.csr_matrix(np.array([[1.5]], dtype=np.float32))
    obs = pd.DataFrame({c: pd.Categorical(["x"]) for c in harmonize.REQUIRED_OBS}, index=["c"])
    obs["tissue"] = pd.Categorical(["CSF"])
    with pytest.raises(InputError, match="non-integer"):
        harmonize.validate_harmonized(ad.AnnData(X=X, obs=obs), "t")
    obs["tissue"] = pd.Categorical(["liver"])
    with pytest.raises(InputError, match="tissue"):
        harmonize.validate_harmonized(ad.AnnData(X=sp.csr_matrix([[1]]), obs=obs), "t")
    with pytest.raises(InputError, match="missing"):
        harmonize.validate_harmonized(ad.AnnData(X=sp.csr_matrix([[1]]),
                                                 obs=obs.drop(columns="donor_id")), "t")


def test_shared_donor_plan_and_drop(registry):
    plan = harmonize.plan_shared_donors(registry, ["heming2021", "schafflick2020"])
    drop = plan[plan["action"] == "drop"]
    assert set(drop["dataset_id"]) == {"heming2021"}
    assert sorted(drop["donor_id"]) == ["MS19270", "MS49131", "MS58637", "MS71658"]
    # Not combined -> nothing to drop.
    assert harmonize.plan_shared_donors(registry, ["heming2021"]).empty

    obs = pd.DataFrame({"donor_id": pd.Categorical(["MS19270", "MS19270", "MS11111"])},
                       index=["a", "b", "c"])
    adata = ad.AnnData(X=sp.csr_matrix(np.ones((3, 2), dtype=np.int32)), obs=obs)
    kept, removed = harmonize.drop_shared_donors(adata, "heming2021", plan)
    assert list(kept.obs_names) == ["c"]
    assert removed.to_dict("records") == [{"donor_id": "MS19270", "n_cells": 2,
                                           "dataset_id": "heming2021"}]
    untouched, none = harmonize.drop_shared_donors(adata, "schafflick2020", plan)
    assert untouched.n_obs == 3 and none.empty


def test_shared_donor_plan_never_drops_everywhere():
    reg = {"a": {"shared_donors": [{"with": "b", "donors": ["D1"], "keep_in": "b"}]},
           "b": {"shared_donors": [{"with": "a", "donors": ["D1"], "keep_in": "a"}]}}
    plan = harmonize.plan_shared_donors(reg, ["a", "b"])
    assert (plan.groupby("donor_id")["action"].apply(lambda s: (s == "keep").any())).all()


def test_undeclared_shared_donors_are_flagged():
    plan = pd.DataFrame(columns=["dataset_id", "donor_id", "shared_with", "kept_in", "action"])
    found = harmonize.undeclared_shared_donors({"a": ["D1", "D2", "unknown"],
                                                "b": ["D2", "unknown"]}, plan)
    assert found.to_dict("records") == [{"donor_id": "D2", "datasets": "a;b"}]


def _write_fixture(name: str, root: Path, rng) -> None:
    """Place a real-layout fixture for registry dataset `name` under root/<name>/."""
    genes = deposits.gene_table()
    if name == "absinta2021":
        deposits.write_absinta(root / name, rng)
    elif name == "kaufmann2021":
        deposits.write_kaufmann(root / name, rng)
    elif name == "schirmer2019":
        deposits.write_schirmer_zip(root / name / "rawMatrix.zip", rng)
    elif name == "schafflick2020_h5ad":
        deposits.schafflick_h5ad(root / name, rng)
    elif name == "paley2022_ns":
        libs = [deposits.make_library(rng, s, "x", "x", 20, genes)
                for s in ("NS001-1_CSF", "NS010_PBMC", "UV181_CSF")]
        deposits.write_paley_tar_gz(root / name / "paley2022_neurosarcoid.tar.gz", libs)
    elif name == "kim2023_idd":
        libs = [deposits.make_library(rng, s, d, t, 20, genes)
                for s, d, t in [("GSM5827375", "CYG", "CSF"), ("GSM5827377", "JSB", "PBMC")]]
        deposits.write_geo_raw_tar(root / name / "GSE194078_RAW.tar", libs,
                                   features_kind="features", name_fmt="{sample}_{donor}_{tissue}_")
    elif name == "ramesh2020":
        deposits.write_ramesh_tar(root / name / "GSE133028_RAW.tar", rng)


@pytest.mark.parametrize("name", ["absinta2021", "kaufmann2021", "schirmer2019",
                                  "schafflick2020_h5ad", "paley2022_ns", "kim2023_idd",
                                  "ramesh2020"])
def test_every_layout_harmonizes_to_the_contract(registry, vocabulary, tmp_path, name):
    _write_fixture(name, tmp_path, np.random.default_rng(9))
    raw = loaders.load_dataset(name, registry[name], tmp_path)
    adata, report = harmonize.harmonize(raw, name, registry[name], vocabulary)
    _check_contract(adata)
    harmonize.validate_harmonized(adata, name)
    # Every cell is accounted for in the disease and cell-type rows of the report.
    assert report.loc[report["kind"] == "disease", "n_cells"].sum() == adata.n_obs
    assert report.loc[report["kind"] == "cell_type", "n_cells"].sum() == adata.n_obs
    assert not adata.obs["donor_id"].astype(str).isin(["", "nan"]).any()
    # Symbols on two Ensembl ids (every GRCh38 deposit has them) are summed and reported.
    summed = deposits.repeated_symbols_summed(raw, adata, report)
    assert summed == ({"GENE001", *deposits.GRCH38_DUPLICATES}
                      if name not in ("kaufmann2021", "schafflick2020_h5ad") else set())
    if name == "kim2023_idd":
        assert set(adata.obs["disease"]) == {"MOGAD_or_NMOSD", "control"}
    if name == "paley2022_ns":
        assert set(adata.obs["disease"]) == {"neurosarcoidosis", "control"}
    if name == "ramesh2020":  # per-donor diagnoses not in the deposit: unknown, and reported
        assert set(adata.obs["disease"]) == {"unknown"}
    if name == "kaufmann2021":
        assert set(adata.obs["disease"]) == {"control", "MS", "MS_natalizumab", "PPMS"}
        assert set(adata.obs["tissue"]) == {"blood"}


def test_labels_without_a_registry_map_resolve_through_the_cell_ontology(vocabulary):
    """Kang 2018's coarse labels, an author CL id, an obsolete and an unknown term, no map."""
    labels = ["B cells", "CD4 T cells", "NK cells", "Dendritic cells", "Megakaryocytes",
              "weird", "x", "y"]
    terms = ["", "", "", "", "", "", "CL:0000804", "CL:9999999"]
    author = pd.Series(np.repeat(labels, 2), index=[f"c{i}" for i in range(16)])
    found, rows = harmonize.map_cell_types(
        author, {}, vocabulary, pd.Series(np.repeat(terms, 2), index=author.index))
    got = {r["author_label"]: (r["mapped_to"], r["resolved_by"], r["status"]) for r in rows}
    assert got == {
        "B cells": ("B_cell", "vocabulary_id", "mapped"),
        "CD4 T cells": ("CD4_T", "vocabulary_synonym", "mapped"),
        "NK cells": ("NK", "cl_synonym", "mapped"),
        "Dendritic cells": ("DC", "cl_name", "mapped"),
        "Megakaryocytes": ("other", "cl_name", "outside_vocabulary"),
        "weird": ("unmapped", "", "unmapped_label"),
        "x": ("T_cell", "cl_id", "mapped"),                   # obsolete, replaced by T cell
        "y": ("unmapped", "cl_id", "unknown_cl_term"),
    }
    by_label = {r["author_label"]: r for r in rows}
    assert by_label["x"]["term_id"] == "CL:0000084" and "CL:0000804" in by_label["x"]["note"]
    assert by_label["Megakaryocytes"]["term_name"] == "megakaryocyte"
    assert all(r["n_cells"] == 2 for r in rows)
    assert found["lineage"].tolist()[:4] == ["B_cell", "B_cell", "CD4_T", "CD4_T"]


def test_cellbender_h5_duplicated_symbols_end_to_end(vocabulary, tmp_path):
    # The crash of issue 18: a CellBender/Cell Ranger h5 whose symbols repeat (10 in the real
    # GRCh38 file). Load, harmonize and write the label report as the load rule does.
    rng = np.random.default_rng(21)
    table = deposits.gene_table()
    types = list(rng.choice(list(deposits.FIXTURE_MARKERS), size=40))
    counts = deposits.simulate_counts(rng, types, table)
    barcodes = [f"{b}-1" for b in deposits.plain_barcodes(rng, 40)]
    path = deposits.write_cellbender_h5(tmp_path / "sample_filtered.h5", counts, barcodes,
                                        table, rng)
    entry = {"title": "cb", "loader": "tenx_h5", "tissue": ["CSF"], "citation": "u",
             "licence": "l", "files": [{"name": "f.h5", "role": "h5", "path": str(path)}],
             "metadata": {"constants": {"donor": "d1", "sample": "s1", "tissue": "CSF",
                                        "disease": "MS"}},
             "disease_map": {"MS": "MS"}, "cell_types": {"annotate": "all"}}
    raw = loaders.load_dataset("cb", entry, tmp_path)
    adata, report = harmonize.harmonize(raw, "cb", entry, vocabulary)
    _check_contract(adata)
    assert adata.n_vars == table["symbol"].nunique()
    assert adata.X.sum() == counts.sum()  # every UMI kept
    write_tsv(report, tmp_path / "cb.labels.tsv", sort_by=["kind", "author_label", "mapped_to", "status"])
    labels = pd.read_csv(tmp_path / "cb.labels.tsv", sep="\t")
    summed = labels[labels["kind"] == "gene_symbol"].set_index("mapped_to")
    assert sorted(summed.index) == sorted({*deposits.GRCH38_DUPLICATES, "GENE001"})
    assert summed.loc["TBCE", "author_label"] == ";".join(deposits.GRCH38_DUPLICATES["TBCE"])
    assert (summed["status"] == "summed_2_features").all()
    calls = adata.obs["cell_type"].astype(str).to_numpy()
    assert (calls == np.array(types)).mean() > 0.9
