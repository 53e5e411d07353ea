"""Every loader on generated fixtures in the deposits' real layouts, read via the real registry."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fixtures import deposits

from neurokine.errors import InputError
from neurokine.io import harmonize, loaders
from neurokine.io.loaders.dense import read_dense
from neurokine.io.loaders.features import unique_ids
from neurokine.io.loaders.mex import read_features, read_mex

REPO = Path(__file__).resolve().parents[2]




@pytest.fixture()
def rng():
    return np.random.default_rng(7)


def _dense(adata):
    return np.asarray(adata.X.todense())


def test_mex_per_sample_geo_raw_tar(registry, rng, tmp_path):
    libs = deposits.schafflick_like_libraries(rng)
    deposits.write_geo_raw_tar(tmp_path / "schafflick2020" / "GSE138266_RAW.tar", libs)
    adata = loaders.load_dataset("schafflick2020", registry["schafflick2020"], tmp_path)
    assert adata.n_obs == sum(len(lib.barcodes) for lib in libs)
    assert adata.X.dtype == np.int32 and sp.isspmatrix_csr(adata.X)
    for lib in libs:
        cells = adata.obs_names.str.startswith(f"{lib.sample}:")
        assert set(adata.obs.loc[cells, "donor"]) == {lib.donor}
        assert set(adata.obs.loc[cells, "tissue"]) == {lib.tissue}
        order = [f"{lib.sample}:{b}" for b in lib.barcodes]
        np.testing.assert_array_equal(_dense(adata[order]), lib.counts.toarray())
    assert "gene_symbols" in adata.var and adata.var.index[0].startswith("ENSG")


def test_mex_per_sample_kim_features_tsv(registry, rng, tmp_path):
    genes = deposits.gene_table()
    libs = [deposits.make_library(rng, s, d, t, 20, genes)
            for s, d, t in [("GSM5827375", "CYG", "CSF"), ("GSM5827376", "CYG", "PBMC"),
                            ("GSM5827377", "JSB", "CSF")]]
    deposits.write_geo_raw_tar(tmp_path / "kim2023_idd" / "GSE194078_RAW.tar", libs,
                               features_kind="features", name_fmt="{sample}_{donor}_{tissue}_")
    adata = loaders.load_dataset("kim2023_idd", registry["kim2023_idd"], tmp_path)
    assert sorted(adata.obs["donor"].unique()) == ["CYG", "JSB"]
    assert set(adata.obs["tissue"]) == {"CSF", "PBMC"}
    assert set(adata.var["feature_types"]) == {"Gene Expression"}


def test_mex_per_sample_unmatched_library_is_named(registry, rng, tmp_path):
    genes = deposits.gene_table()
    libs = [deposits.make_library(rng, "GSM1", "odd-name", "CSF", 5, genes)]
    deposits.write_geo_raw_tar(tmp_path / "schafflick2020" / "GSE138266_RAW.tar", libs)
    with pytest.raises(InputError, match="odd-name"):
        loaders.load_dataset("schafflick2020", registry["schafflick2020"], tmp_path)


def test_mex_per_sample_paley_folders_in_tar_gz(registry, rng, tmp_path):
    genes = deposits.gene_table()
    libs = [deposits.make_library(rng, s, "x", "x", 15, genes)
            for s in ("NS001-1_CSF", "NS001-2_CSF", "NS010_PBMC", "UV181_CSF")]
    deposits.write_paley_tar_gz(tmp_path / "paley2022_ns" / "paley2022_neurosarcoid.tar.gz", libs)
    adata = loaders.load_dataset("paley2022_ns", registry["paley2022_ns"], tmp_path)
    per_sample = adata.obs.groupby("sample", observed=True)["donor"].first().to_dict()
    assert per_sample == {"NS001-1_CSF": "NS001", "NS001-2_CSF": "NS001",
                          "NS010_PBMC": "NS010", "UV181_CSF": "UV181"}
    assert adata.n_obs == 60  # the TCR tables in the same tar are not mistaken for libraries


def test_mex_merged_heming_annotation_csvs(registry, rng, tmp_path):
    truth = deposits.write_heming(tmp_path / "heming2021", rng)
    adata = loaders.load_dataset("heming2021", registry["heming2021"], tmp_path)
    assert adata.n_obs == len(truth["barcodes"]) - 5
    assert adata.uns["neurokine_load"]["cells_without_annotation_dropped"] == 5
    got = adata.obs.loc[truth["barcodes"][:3]]
    assert list(got["donor"]) == truth["donors"][:3]
    assert list(got["disease"]) == truth["dx"][:3]
    assert list(got["cell_type"]) == truth["labels"][:3]


def test_mex_merged_kaufmann_tar_gz_symbols_only(registry, rng, tmp_path):
    truth = deposits.write_kaufmann(tmp_path / "kaufmann2021", rng)
    adata = loaders.load_dataset("kaufmann2021", registry["kaufmann2021"], tmp_path)
    assert adata.n_obs == len(truth["barcodes"])
    assert list(adata.obs.loc[truth["barcodes"][:4], "disease"]) == truth["group"][:4]
    assert "CD3E" in adata.var_names  # one-column genes.tsv: the symbol is the id
    # R's make.unique renamed the second TBCE before export: it is loaded as written.
    assert {"TBCE", "TBCE.1"} <= set(adata.var_names)


def test_mex_merged_schirmer_zip_with_member_annotation(registry, rng, tmp_path):
    truth = deposits.write_schirmer_zip(tmp_path / "schirmer2019" / "rawMatrix.zip", rng)
    adata = loaders.load_dataset("schirmer2019", registry["schirmer2019"], tmp_path)
    assert adata.n_obs == len(truth["barcodes"])
    meta = truth["meta"].set_index("cell")
    assert (adata.obs["donor"] == meta.loc[adata.obs_names, "individual"]).all()
    assert (adata.obs["cell_type"] == meta.loc[adata.obs_names, "cell_type"]).all()


def test_dense_absinta_streamed_in_chunks(registry, rng, tmp_path):
    truth = deposits.write_absinta(tmp_path / "absinta2021", rng)
    entry = copy.deepcopy(registry["absinta2021"])
    entry["layout"]["chunk_rows"] = 7  # many chunks, last one partial
    adata = loaders.load_dataset("absinta2021", entry, tmp_path)
    assert list(adata.obs_names) == truth["barcodes"]
    assert list(adata.var["gene_symbols"]) == truth["genes"]
    assert list(adata.var_names) == unique_ids(truth["genes"])
    assert {"TBCE", "TBCE#2"} <= set(adata.var_names)  # repeated row name: own id, same symbol
    np.testing.assert_array_equal(_dense(adata), truth["counts"].toarray())
    expected = [f"{d}_{p}" for d, p in zip(truth["donor"], truth["pathology"], strict=True)]
    assert list(adata.obs["sample"]) == expected


def test_dense_jakel_tab_separated(registry, rng, tmp_path):
    genes = deposits.gene_table()
    counts = deposits.simulate_counts(rng, ["NK"] * 12, genes)
    barcodes = [f"co{i}:AAAC/{i}" for i in range(12)]  # real barcodes carry ':' and '/'
    ds = tmp_path / "jakel2019"
    ds.mkdir()
    (ds / "GSE118257_MSCtr_snRNA_ExpressionMatrix_R.txt.gz").write_bytes(gzip.compress(
        deposits.dense_bytes(counts, list(genes["symbol"]), barcodes, "\t", False)))
    ann = pd.DataFrame({"Detected": barcodes, "Sample": ["CO1"] * 6 + ["MS1"] * 6,
                        "Condition": ["Ctrl"] * 6 + ["MS"] * 6, "Celltypes": ["Oligo3"] * 12})
    (ds / "GSE118257_MSCtr_snRNA_FinalAnnotationTable.txt.gz").write_bytes(
        gzip.compress(ann.to_csv(sep="\t", index=False).encode()))
    adata = loaders.load_dataset("jakel2019", registry["jakel2019"], tmp_path)
    assert list(adata.obs["disease"]) == list(ann["Condition"])
    np.testing.assert_array_equal(_dense(adata), counts.toarray())


def test_dense_per_sample_ramesh_archive(registry, rng, tmp_path):
    libs = deposits.write_ramesh_tar(tmp_path / "ramesh2020" / "GSE133028_RAW.tar", rng)
    adata = loaders.load_dataset("ramesh2020", registry["ramesh2020"], tmp_path)
    assert adata.n_obs == sum(len(lib.barcodes) for lib in libs)
    assert set(adata.obs["tissue"]) == {"CSF", "PB"}
    assert set(adata.obs["donor"]) == {"1", "2"}


def test_dense_refuses_normalized_values(rng, tmp_path):
    path = tmp_path / "norm.csv.gz"
    path.write_bytes(gzip.compress(b",c1,c2\nCD3E,0.5,1.25\nLYZ,0,2\n"))
    with pytest.raises(InputError) as info:
        read_dense(path, ",")
    assert str(path) in str(info.value) and "normalized" in str(info.value)


def test_mex_refuses_normalized_values(tmp_path):
    genes = deposits.gene_table().head(3)
    files = deposits.mex_bytes(sp.csr_matrix(np.array([[0.5, 1.0, 0.0]])), ["AAAC-1"], genes)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match="raw counts"):
        read_mex(tmp_path / "matrix.mtx.gz", tmp_path / "features.tsv.gz",
                         tmp_path / "barcodes.tsv.gz", "fixture")


def test_h5ad_schafflick_arrays_assign_donors(registry, rng, tmp_path):
    truth = deposits.schafflick_h5ad(tmp_path / "schafflick2020_h5ad", rng)
    adata = loaders.load_dataset("schafflick2020_h5ad", registry["schafflick2020_h5ad"], tmp_path)
    libraries = registry["schafflick2020_h5ad"]["layout"]["per_cell_arrays"]["libraries"]
    expected = [libraries[str(b)]["donor"] for b in truth["batch"]]
    assert list(adata.obs["donor"]) == expected
    assert set(adata.obs["tissue"]) == {"CSF", "blood"}
    assert adata.uns["neurokine_load"]["check_celllabels.npy"] == "matches"


def test_h5ad_schafflick_refuses_arrays_in_another_order(registry, rng, tmp_path):
    truth = deposits.schafflick_h5ad(tmp_path / "schafflick2020_h5ad", rng)
    shuffled = truth["labels"].copy()
    shuffled[[0, 1]] = shuffled[[1, 0]] if shuffled[0] != shuffled[1] else ["x", "y"]
    np.save(tmp_path / "schafflick2020_h5ad" / "celllabels.npy", shuffled)
    with pytest.raises(InputError, match="not in the h5ad's row order"):
        loaders.load_dataset("schafflick2020_h5ad", registry["schafflick2020_h5ad"], tmp_path)


def test_h5ad_refuses_pickled_arrays(registry, rng, tmp_path):
    deposits.schafflick_h5ad(tmp_path / "schafflick2020_h5ad", rng)
    np.save(tmp_path / "schafflick2020_h5ad" / "batchid.npy",
            np.array([object()] * 72, dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled"):
        loaders.load_dataset("schafflick2020_h5ad", registry["schafflick2020_h5ad"], tmp_path)


def _user_h5ad_entry(path: Path, **layout) -> dict:
    return {"title": "user", "loader": "h5ad", "tissue": ["CSF"], "citation": "u",
            "licence": "internal", "files": [{"name": "c.h5ad", "role": "h5ad", "path": str(path)}],
            "layout": {"counts": "auto", **layout},
            "metadata": {"columns": {"donor": "donor_id", "disease": "disease",
                                     "cell_type": "author_label"}},
            "disease_map": {"normal": "control", "multiple sclerosis": "MS"}}


def test_h5ad_cellxgene_counts_in_raw(rng, tmp_path):
    truth = deposits.cellxgene_h5ad(tmp_path / "cxg.h5ad", rng)
    adata = loaders.load_dataset("user_cxg", _user_h5ad_entry(tmp_path / "cxg.h5ad"), tmp_path)
    np.testing.assert_array_equal(_dense(adata), truth["counts"].toarray())
    assert adata.var["gene_symbols"].iloc[0] != adata.var_names[0]  # Ensembl index, symbols kept
    assert set(adata.obs["donor"]) == {"donor0", "donor1", "donor2", "donor3"}


def test_h5ad_counts_in_x(rng, tmp_path):
    truth = deposits.cellxgene_h5ad(tmp_path / "x.h5ad", rng, counts_in_raw=False)
    adata = loaders.load_dataset("user_x", _user_h5ad_entry(tmp_path / "x.h5ad"), tmp_path)
    np.testing.assert_array_equal(_dense(adata), truth["counts"].toarray())


def test_h5ad_normalized_only_is_refused_naming_file(rng, tmp_path):
    deposits.cellxgene_h5ad(tmp_path / "n.h5ad", rng)
    full = ad.read_h5ad(tmp_path / "n.h5ad")
    del full.raw
    full.write_h5ad(tmp_path / "n.h5ad")
    with pytest.raises(InputError) as info:
        loaders.load_dataset("user_n", _user_h5ad_entry(tmp_path / "n.h5ad"), tmp_path)
    assert str(tmp_path / "n.h5ad") in str(info.value) and "normalized" in str(info.value)
    with pytest.raises(InputError, match="non-integer"):
        loaders.load_dataset("user_n", _user_h5ad_entry(tmp_path / "n.h5ad", counts="X"),
                             tmp_path)


def test_user_mex_directory_without_download(rng, tmp_path):
    genes = deposits.gene_table()
    user = tmp_path / "my_cellranger_runs"
    for name in ("patientA_csf", "patientB_csf"):
        lib = deposits.make_library(rng, name, name, "CSF", 10, genes)
        (user / name / "outs").mkdir(parents=True)
        for fname, data in deposits.mex_bytes(lib.counts, lib.barcodes, genes).items():
            (user / name / "outs" / fname).write_bytes(data)
    entry = {"title": "mine", "loader": "mex_per_sample", "tissue": ["CSF"], "citation": "u",
             "licence": "internal",
             "files": [{"name": "runs", "role": "archive", "path": str(user)}],
             "layout": {"sample_regex": r"^(?P<sample>(?P<donor>patient[A-Z])_(?P<tissue>csf))/"},
             "disease_map": {"x": "MS"}}
    adata = loaders.load_dataset("mine", entry, tmp_path / "unused")
    assert sorted(adata.obs["donor"].unique()) == ["patientA", "patientB"]
    assert adata.n_obs == 20


def test_metadata_only_cannot_be_loaded(registry, tmp_path):
    with pytest.raises(InputError, match="metadata-only"):
        loaders.load_dataset("lu2025_icans", registry["lu2025_icans"], tmp_path)


def test_missing_download_says_how_to_fix(registry, tmp_path):
    with pytest.raises(InputError, match="fetch step"):
        loaders.load_dataset("heming2021", registry["heming2021"], tmp_path)


def test_truncated_archive_is_reported(registry, tmp_path):
    target = tmp_path / "schafflick2020" / "GSE138266_RAW.tar"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a tar at all")
    with pytest.raises(InputError, match="truncated"):
        loaders.load_dataset("schafflick2020", registry["schafflick2020"], tmp_path)


# ------------------------------------------------------------- real-world layouts, end to end


def _runs_entry(root: Path) -> dict:
    return {"title": "runs", "loader": "mex_per_sample", "tissue": ["CSF"], "citation": "u",
            "licence": "internal", "files": [{"name": "runs", "role": "archive",
                                              "path": str(root)}],
            "layout": {"sample_regex": r"^(?P<sample>(?P<donor>pt\d)_csf)/"},
            "metadata": {"constants": {"tissue": "CSF", "disease": "MS"}}}


@pytest.mark.parametrize("flavour", ["cellranger_v2", "cellranger_v3", "starsolo"])
def test_mex_library_folders_of_each_tool(rng, tmp_path, vocabulary, flavour):
    table = {"cellranger_v2": deposits.gene_table(),
             "cellranger_v3": deposits.with_feature_barcodes(deposits.gene_table()),
             "starsolo": deposits.gene_table(versioned=True)}[flavour]
    libs = {}
    for name in ("pt1_csf", "pt2_csf"):
        counts = deposits.simulate_counts(
            rng, list(rng.choice(list(deposits.FIXTURE_MARKERS), size=12)), table)
        libs[name] = (counts, deposits.plain_barcodes(rng, 12))
        deposits.write_mex_folder(tmp_path / "runs", name, *libs[name], table, flavour)
    raw = loaders.load_dataset("runs", _runs_entry(tmp_path / "runs"), tmp_path)
    suffix = deposits.MEX_FLAVOURS[flavour][3]
    for name, (counts, barcodes) in libs.items():
        cells = [f"{name}:{b}{suffix}" for b in barcodes]
        np.testing.assert_array_equal(_dense(raw[cells, list(table["gene_id"])]), counts.toarray())
    assert list(raw.var.loc[list(table["gene_id"]), "feature_types"]) == list(table["type"])
    out, report = harmonize.harmonize(raw, "runs", _runs_entry(tmp_path / "runs"), vocabulary)
    assert deposits.repeated_symbols_summed(raw, out, report) == {*deposits.GRCH38_DUPLICATES, "GENE001"}
    removed = report[report["status"] == "removed_not_gene_expression"]
    barcoding = {t for _, _, t in deposits.FEATURE_BARCODES} if flavour == "cellranger_v3" else set()
    assert set(removed["author_label"]) == barcoding
    # The antibody named CD4 is removed, never summed into the CD4 gene.
    gene_cd4 = raw[:, (raw.var["gene_symbols"] == "CD4").to_numpy()
                   & (raw.var["feature_types"] == "Gene Expression").to_numpy()]
    np.testing.assert_array_equal(out[:, "CD4"].X.toarray(), gene_cd4.X.toarray())


def _merged_entry(directory: Path, **layout) -> dict:
    files = [{"name": n, "role": r, "path": str(directory / n)} for n, r in
             (("matrix.mtx.gz", "matrix"), ("features.tsv.gz", "features"),
              ("barcodes.tsv.gz", "barcodes"))]
    if (directory / "cells.csv").exists():
        files.append({"name": "cells.csv", "role": "annotation", "path": str(directory / "cells.csv")})
    return {"title": "m", "loader": "mex_merged", "tissue": ["CSF"], "citation": "u",
            "licence": "internal", "files": files, "layout": layout,
            "metadata": {"columns": {"donor": "patient"} if files[3:] else {},
                         "constants": {"donor": "d", "disease": "MS", "tissue": "CSF"}}}


def _write_merged(directory: Path, counts, barcodes, table) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in deposits.mex_bytes(counts, barcodes, table).items():
        (directory / name).write_bytes(data)


@pytest.mark.parametrize("matrix_suffix, table_suffix", [("-1", ""), ("", "-1"), ("-1", "-1")])
def test_merged_mex_annotation_with_and_without_gem_suffix(rng, tmp_path, matrix_suffix,
                                                           table_suffix):
    table = deposits.gene_table()
    barcodes = deposits.plain_barcodes(rng, 30)
    counts = deposits.simulate_counts(rng, ["NK"] * 30, table)
    _write_merged(tmp_path, counts, [b + matrix_suffix for b in barcodes], table)
    pd.DataFrame({"barcode": [b + table_suffix for b in barcodes[:25]],
                  "patient": ["P1", "P2"] * 12 + ["P1"]}).to_csv(tmp_path / "cells.csv",
                                                                index=False)
    adata = loaders.load_dataset("m", _merged_entry(tmp_path), tmp_path)
    assert list(adata.obs_names) == [b + matrix_suffix for b in barcodes[:25]]
    assert list(adata.obs["donor"]) == ["P1", "P2"] * 12 + ["P1"]
    bridged = adata.uns["neurokine_load"].get("barcode_suffix")
    assert (bridged is None) == (matrix_suffix == table_suffix)


def test_gem_suffix_is_not_bridged_across_wells(rng, tmp_path):
    table = deposits.gene_table()
    barcodes = deposits.plain_barcodes(rng, 10)
    wells = [f"{b}-{i % 2 + 1}" for i, b in enumerate(barcodes)]  # aggr output: wells 1 and 2
    _write_merged(tmp_path, deposits.simulate_counts(rng, ["NK"] * 10, table), wells, table)
    pd.DataFrame({"barcode": barcodes, "patient": "P1"}).to_csv(tmp_path / "cells.csv",
                                                               index=False)
    with pytest.raises(InputError, match="no barcode of the annotation tables"):
        loaders.load_dataset("m", _merged_entry(tmp_path), tmp_path)


def test_merged_mex_barnyard_keeps_the_registry_genome(rng, tmp_path, vocabulary):
    table = deposits.barnyard_table(deposits.gene_table())
    counts = deposits.simulate_counts(rng, ["NK"] * 20, table)
    _write_merged(tmp_path, counts, [f"{b}-1" for b in deposits.plain_barcodes(rng, 20)], table)
    with pytest.raises(InputError) as info:
        loaders.load_dataset("m", _merged_entry(tmp_path), tmp_path)
    assert info.value.field == "layout.genome" and "mm10" in str(info.value)
    entry = _merged_entry(tmp_path, genome="GRCh38")
    raw = loaders.load_dataset("m", entry, tmp_path)
    human = (table["genome"] == "GRCh38").to_numpy()
    np.testing.assert_array_equal(_dense(raw), counts.toarray()[:, human])
    assert not raw.var_names.str.startswith(("GRCh38", "mm10")).any()
    out, report = harmonize.harmonize(raw, "m", entry, vocabulary)
    row = report[report["status"] == "removed_other_genome"]
    assert row[["author_label", "n_cells"]].values.tolist() == [["genome mm10", 4]]
    assert "NKG7" in out.var_names and "Xkr4" not in out.var_names


def test_h5ad_written_by_scanpy_from_a_10x_h5(rng, tmp_path, vocabulary):
    # scanpy.read_10x_h5(var_names="gene_ids") then write_h5ad: Ensembl index, symbols in
    # var.gene_symbols, categorical feature_types with antibody rows, float32 counts in X.
    table = deposits.with_feature_barcodes(deposits.gene_table(versioned=True))
    counts = deposits.simulate_counts(rng, list(rng.choice(list(deposits.FIXTURE_MARKERS), 30)),
                                      table)
    var = pd.DataFrame({"gene_symbols": table["symbol"].to_numpy(),
                        "feature_types": pd.Categorical(table["type"]),
                        "genome": np.where(table["type"] == "Gene Expression", "GRCh38", "")},
                       index=pd.Index(table["gene_id"].to_numpy()))
    obs = pd.DataFrame({"donor_id": ["a", "b"] * 15, "disease": "multiple sclerosis",
                        "author_label": "NK"}, index=[f"{b}-1" for b in
                                                      deposits.plain_barcodes(rng, 30)])
    ad.AnnData(X=counts.astype(np.float32), obs=obs, var=var).write_h5ad(tmp_path / "s.h5ad")
    entry = _user_h5ad_entry(tmp_path / "s.h5ad", gene_symbols="gene_symbols")
    raw = loaders.load_dataset("user_s", entry, tmp_path)
    np.testing.assert_array_equal(_dense(raw), counts.toarray())
    out, report = harmonize.harmonize(raw, "user_s", entry, vocabulary)
    assert deposits.repeated_symbols_summed(raw, out, report) == {*deposits.GRCH38_DUPLICATES, "GENE001"}
    assert set(report.loc[report["status"] == "removed_not_gene_expression", "author_label"]) \
        == {t for _, _, t in deposits.FEATURE_BARCODES}


def test_h5ad_cellxgene_repeated_feature_names_are_summed(rng, tmp_path, vocabulary):
    deposits.cellxgene_h5ad(tmp_path / "cxg.h5ad", rng)
    entry = _user_h5ad_entry(tmp_path / "cxg.h5ad")
    raw = loaders.load_dataset("user_cxg", entry, tmp_path)
    out, report = harmonize.harmonize(raw, "user_cxg", entry, vocabulary)
    assert deposits.repeated_symbols_summed(raw, out, report) == {*deposits.GRCH38_DUPLICATES, "GENE001"}


def test_symbol_only_genes_tsv_with_repeats_gets_unique_ids(tmp_path):
    (tmp_path / "genes.tsv").write_text("CD3E\nTBCE\nNKG7\nTBCE\n")
    var = read_features(tmp_path / "genes.tsv")
    assert list(var.index) == ["CD3E", "TBCE", "NKG7", "TBCE#2"]
    assert list(var["gene_symbols"]) == ["CD3E", "TBCE", "NKG7", "TBCE"]
