"""The 10x HDF5 loader on every layout real files come in: Cell Ranger 3+ (with antibody and
CRISPR features), CellBender, Cell Ranger 2 (one group per genome), barnyard references."""

from __future__ import annotations

import re

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from fixtures import deposits

from neurokine.errors import InputError
from neurokine.io import loaders
from neurokine.io.loaders.tenx_h5 import read_tenx_h5


@pytest.fixture()
def rng():
    return np.random.default_rng(11)


def _entry(path, **layout) -> dict:
    """A user registry entry for one 10x HDF5 file."""
    return {"title": "h5", "loader": "tenx_h5", "tissue": ["CSF"], "citation": "u",
            "licence": "l", "files": [{"name": "f.h5", "role": "h5", "path": str(path)}],
            "layout": layout, "metadata": {"constants": {"donor": "d", "disease": "MS"}}}


def _library(rng, table: pd.DataFrame, n_cells: int = 25):
    """Counts over every row of a feature table, and barcodes with Cell Ranger's -1."""
    types = list(rng.choice(list(deposits.FIXTURE_MARKERS), size=n_cells))
    counts = deposits.simulate_counts(rng, types, table)
    return counts, [f"{b}-1" for b in deposits.plain_barcodes(rng, n_cells)]


def test_cellranger_v3_keeps_every_feature_as_deposited(rng, tmp_path):
    table = deposits.with_feature_barcodes(deposits.gene_table(versioned=True))
    counts, barcodes = _library(rng, table)
    path = deposits.write_cellranger_v3_h5(tmp_path / "filtered_feature_bc_matrix.h5", counts,
                                           barcodes, table)
    adata = loaders.load_dataset("h5", _entry(path), tmp_path)
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray())
    assert adata.X.dtype == np.int32 and sp.isspmatrix_csr(adata.X)
    assert list(adata.obs_names) == barcodes
    assert list(adata.var_names) == list(table["gene_id"])  # versioned ids kept
    assert list(adata.var["gene_symbols"]) == list(table["symbol"])  # repeats kept
    assert list(adata.var["feature_types"]) == list(table["type"])
    assert adata.uns["neurokine_load"]["h5_layout"] == "cellranger_v3"


def test_cellbender_output_is_read_and_its_extra_datasets_ignored(rng, tmp_path):
    table = deposits.gene_table()
    counts, barcodes = _library(rng, table)
    path = deposits.write_cellbender_h5(tmp_path / "out_filtered.h5", counts, barcodes, table,
                                        rng)
    with h5py.File(path) as f:
        assert "_all_tag_keys" not in f["matrix/features"] and "droplet_latents" in f
    adata = loaders.load_dataset("h5", _entry(path), tmp_path)
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray())
    assert adata.uns["neurokine_load"]["h5_layout"] == "cellbender"
    assert adata.var["gene_symbols"].value_counts()["TBCE"] == 2


def test_block_reading_equals_one_pass_and_names_the_bad_block(rng, tmp_path):
    table = deposits.gene_table()
    counts, barcodes = _library(rng, table, n_cells=23)
    path = deposits.write_cellranger_v3_h5(tmp_path / "f.h5", counts, barcodes, table)
    whole, _ = read_tenx_h5(path)
    per_cell = int(counts.getnnz(axis=1).mean())
    blocks, _ = read_tenx_h5(path, block_values=3 * per_cell)  # ~8 blocks of ~3 cells
    assert (whole.X != blocks.X).nnz == 0 and whole.X.dtype == blocks.X.dtype == np.int32
    assert np.array_equal(whole.X.indptr, sp.csr_matrix(counts).indptr)
    with h5py.File(path, "r+") as f:
        data = f["matrix/data"][()].astype(np.float64)
        data[f["matrix/indptr"][9]] = 0.5  # first value of cell 10
        del f["matrix/data"]
        f["matrix/data"] = data
    with pytest.raises(InputError) as info:
        read_tenx_h5(path, block_values=3 * per_cell)
    first, last = map(int, re.search(r"cells (\d+)-(\d+)", str(info.value)).groups())
    assert first <= 10 <= last and last - first < 6 and "normalized" in str(info.value)


def test_cellranger_v2_single_genome(rng, tmp_path):
    table = deposits.gene_table()
    counts, barcodes = _library(rng, table)
    path = deposits.write_cellranger_v2_h5(tmp_path / "filtered_gene_bc_matrices_h5.h5",
                                           {"GRCh38": (counts, barcodes, table)})
    adata = loaders.load_dataset("h5", _entry(path), tmp_path)
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray())
    assert set(adata.var["feature_types"]) == {"Gene Expression"}
    assert adata.uns["neurokine_load"] == {"h5_layout": "cellranger_v2", "genome": "GRCh38"}


def test_cellranger_v2_barnyard_needs_layout_genome(rng, tmp_path):
    table = deposits.barnyard_table(deposits.gene_table())
    human, mouse = table[table["genome"] == "GRCh38"], table[table["genome"] == "mm10"]
    counts, barcodes = _library(rng, human)
    mouse_counts = sp.csr_matrix(rng.poisson(1.0, (len(barcodes), len(mouse))))
    path = deposits.write_cellranger_v2_h5(tmp_path / "f.h5", {
        "GRCh38": (counts, barcodes, human), "mm10": (mouse_counts, barcodes, mouse)})
    with pytest.raises(InputError) as info:
        loaders.load_dataset("h5", _entry(path), tmp_path)
    assert info.value.field == "layout.genome" and "['GRCh38', 'mm10']" in str(info.value)
    adata = loaders.load_dataset("h5", _entry(path, genome="GRCh38"), tmp_path)
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray())
    assert list(adata.var["gene_symbols"]) == list(human["plain"])  # prefix removed
    assert adata.uns["neurokine_load"]["features_other_genomes"] == {"mm10": len(mouse)}
    with pytest.raises(InputError, match="'hg19' is not in the file"):
        loaders.load_dataset("h5", _entry(path, genome="hg19"), tmp_path)


def test_cellranger_v3_barnyard_keeps_one_genome(rng, tmp_path):
    table = deposits.barnyard_table(deposits.gene_table())
    counts, barcodes = _library(rng, table)
    path = deposits.write_cellranger_v3_h5(tmp_path / "f.h5", counts, barcodes, table)
    with pytest.raises(InputError) as info:
        loaders.load_dataset("h5", _entry(path), tmp_path)
    assert info.value.field == "layout.genome"
    adata = loaders.load_dataset("h5", _entry(path, genome="GRCh38"), tmp_path)
    human = (table["genome"] == "GRCh38").to_numpy()
    np.testing.assert_array_equal(adata.X.toarray(), counts.toarray()[:, human])
    assert adata.var_names[0] == table["gene_id"][0].removeprefix("GRCh38_")
    assert "CD3E" in set(adata.var["gene_symbols"]) and "Cd3e" not in set(adata.var["gene_symbols"])
    assert adata.uns["neurokine_load"]["features_other_genomes"] == {"mm10": 4}


def test_annotation_table_joins_onto_h5_barcodes_without_suffix(rng, tmp_path):
    table = deposits.gene_table()
    counts, barcodes = _library(rng, table)
    path = deposits.write_cellranger_v3_h5(tmp_path / "f.h5", counts, barcodes, table)
    meta = pd.DataFrame({"cell": [b.removesuffix("-1") for b in barcodes[:20]],
                         "patient": ["P1"] * 10 + ["P2"] * 10})  # Seurat export: no -1
    meta.to_csv(tmp_path / "meta.csv", index=False)
    entry = _entry(path)
    entry["files"].append({"name": "meta.csv", "role": "cell_metadata",
                           "path": str(tmp_path / "meta.csv")})
    entry["metadata"] = {"columns": {"donor": "patient"}, "constants": {"disease": "MS"}}
    adata = loaders.load_dataset("h5", entry, tmp_path)
    assert list(adata.obs_names) == barcodes[:20]  # the 5 unannotated cells are dropped
    assert list(adata.obs["donor"]) == list(meta["patient"])
    assert adata.uns["neurokine_load"]["barcode_suffix"].startswith("matrix barcodes matched")


def test_not_a_10x_file_is_refused_with_the_fix(tmp_path):
    (tmp_path / "trunc.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    with pytest.raises(InputError, match="cannot be read as HDF5"):
        read_tenx_h5(tmp_path / "trunc.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["X"] = np.zeros(3)
    with pytest.raises(InputError) as info:
        read_tenx_h5(tmp_path / "other.h5")
    assert "filtered_feature_bc_matrix.h5" in info.value.fix


def test_inconsistent_matrix_is_refused(rng, tmp_path):
    table = deposits.gene_table()
    counts, barcodes = _library(rng, table)
    path = deposits.write_cellranger_v3_h5(tmp_path / "f.h5", counts, barcodes, table)
    with h5py.File(path, "r+") as f:
        del f["matrix/barcodes"]
        f["matrix/barcodes"] = deposits._h5_text(barcodes[:-1])
    with pytest.raises(InputError, match="do not fit together"):
        read_tenx_h5(path)
