"""Positive controls on real 10x PBMCs (scanpy's bundled pbmc68k_reduced, 700 cells x 765 genes).

Each control asserts an expression fact from the literature, through the same detection code the
workflow uses (neurokine.scoring.detection.group_detection on log-normalized `.raw` values). The file
holds only 765 highly variable genes, so presence is checked first, and the list of curated axis
genes the file lacks is kept in resources/signatures/README.md and compared here.
"""

from __future__ import annotations

import re

import pytest
from _resource_paths import AXES_DIR, AXIS_SCHEMA, README

from neurokine.curated.axes import all_genes, load_axes
from neurokine.scoring.detection import Feature, group_detection

sc = pytest.importorskip("scanpy", reason="scanpy provides the bundled pbmc68k_reduced cells")

#: bulk_labels of pbmc68k_reduced pooled into lineages.
LINEAGE = {
    "CD4+/CD25 T Reg": "T", "CD4+/CD45RA+/CD25- Naive T": "T", "CD4+/CD45RO+ Memory": "T",
    "CD8+ Cytotoxic T": "T", "CD8+/CD45RA+ Naive Cytotoxic": "T", "CD14+ Monocyte": "CD14_mono",
    "CD19+ B": "B", "CD56+ NK": "NK", "Dendritic": "DC", "CD34+": "CD34",
}

#: gene, lineage expected highest, citation (why the literature expects it).
CONTROLS = [
    # IL7R (CD127): naive/central-memory T cells; low in NK, B and myeloid cells.
    # Monaco 2019 Cell Rep PMID 30726743; CD127-low Treg, PMID 16818678 / 16818676.
    ("IL7R", "T", "PMID:30726743"),
    # TNFRSF1B (TNFR2): myeloid cells, with Treg and endothelium; highest of PBMC in monocytes.
    # Monaco 2019 PMID 30726743 (fact base section 1, TNF row).
    ("TNFRSF1B", "CD14_mono", "PMID:30726743"),
    # TNFRSF13B (TACI): B lineage (memory B, antibody-secreting cells).
    # Moisini & Davidson 2009 PMID 19737141; NNN 2021 PMID 34465614.
    ("TNFRSF13B", "B", "PMID:19737141"),
    # IL2RB (CD122): NK cells, highest in CD56-bright NK (Bielekova 2006 PMID 16585503).
    ("IL2RB", "NK", "PMID:16585503"),
]


@pytest.fixture(scope="module")
def pbmc():
    adata = sc.datasets.pbmc68k_reduced()
    lineage = adata.obs["bulk_labels"].astype(str).map(LINEAGE)
    assert lineage.notna().all(), "unexpected bulk_labels in pbmc68k_reduced"
    return adata.raw.X, list(adata.raw.var_names), lineage.to_frame("lineage")


@pytest.mark.parametrize(("gene", "expected", "citation"), CONTROLS)
def test_receptor_is_highest_in_the_expected_lineage(pbmc, gene, expected, citation):
    matrix, genes, groups = pbmc
    assert gene in genes, f"{gene} is not among the 765 genes; choose another control"
    table = group_detection(matrix, genes, groups, [Feature("control", "receptor", ((gene,),))])
    by_mean = table.set_index("lineage")["mean"].sort_values(ascending=False)
    by_fraction = table.set_index("lineage")["fraction"].sort_values(ascending=False)
    assert by_mean.index[0] == expected, f"{gene} ({citation}): {by_mean.round(3).to_dict()}"
    assert by_fraction.index[0] == expected, by_fraction.round(3).to_dict()


def test_documented_list_of_axis_genes_missing_from_pbmc68k(pbmc):
    _, genes, _ = pbmc
    missing = sorted(set(all_genes(load_axes(AXES_DIR, AXIS_SCHEMA))) - set(genes))
    block = re.search(r"<!-- pbmc68k-missing:start -->(.*?)<!-- pbmc68k-missing:end -->",
                      README.read_text(), re.S)
    assert block, "README lacks the pbmc68k-missing block"
    documented = sorted(re.findall(r"[A-Z0-9][A-Z0-9-]*(?:\.[0-9]+)?", block.group(1)))
    print(f"{len(missing)} axis genes absent from pbmc68k_reduced: {' '.join(missing)}")
    assert documented == missing
