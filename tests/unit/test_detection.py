"""Ligand/receptor detection: min over subunits, max over alternatives, on hand-checkable data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _resource_paths import AXES_DIR, AXIS_SCHEMA

from neurokine.curated.axes import load_axes
from neurokine.errors import InputError
from neurokine.scoring.detection import Feature, axis_features, cell_detection, group_detection

GENES = ["A", "B", "C", "D"]
#            A  B  C  D
DENSE = [[1, 2, 0, 5],   # cell 0 (group g1)
         [0, 3, 4, 0],   # cell 1 (group g1)
         [2, 0, 1, 1],   # cell 2 (group g2)
         [0, 0, 0, 2]]   # cell 3 (group g2)
X = sp.csr_matrix(np.array(DENSE, dtype=np.float32))
GROUPS = pd.DataFrame({"donor_id": ["d1", "d1", "d2", "d2"], "cell_type": ["T"] * 4})

RECEPTOR = Feature("AX", "receptor", (("A", "B"), ("C",)))   # complex A+B, or C alone
AB_ONLY = Feature("AX", "ligand", (("A", "B"),))
WITH_MISSING = Feature("AY", "receptor", (("A", "E"), ("D",)))  # E is not measured
UNMEASURABLE = Feature("AZ", "receptor", (("E",),))


def test_cell_level_min_over_subunits_then_max_over_alternatives():
    cells = cell_detection(X, GENES, [RECEPTOR, AB_ONLY, WITH_MISSING, UNMEASURABLE])
    assert cells["AX.receptor"].tolist() == [1, 4, 1, 0]   # max(min(A,B), C)
    assert cells["AX.ligand"].tolist() == [1, 0, 0, 0]     # min(A,B)
    assert cells["AY.receptor"].tolist() == [5, 0, 1, 2]   # A+E unmeasurable, so D alone
    assert cells["AZ.receptor"].isna().all()


def test_group_mean_and_fraction_by_hand():
    table = group_detection(X, GENES, GROUPS, [RECEPTOR, AB_ONLY, UNMEASURABLE])
    table = table.set_index(["donor_id", "axis", "module"])
    d1, d2 = table.loc[("d1", "AX", "receptor")], table.loc[("d2", "AX", "receptor")]
    # d1 gene means A=.5 B=2.5 C=2 -> complexes .5 and 2 -> 2 (C); fractions A=.5 B=1 C=.5
    assert (d1["mean"], d1["fraction"], d1["best_complex"]) == (2.0, 0.5, "C")
    # d2 gene means A=1 B=0 C=.5 -> complexes 0 and .5 -> .5; fractions A=.5 B=0 C=.5
    assert (d2["mean"], d2["fraction"]) == (0.5, 0.5)
    # cells with every subunit: A+B only cell 0 (d1); C cells 1 (d1) and 2 (d2)
    assert (d1["fraction_all_subunits"], d2["fraction_all_subunits"]) == (0.5, 0.5)
    ab1, ab2 = table.loc[("d1", "AX", "ligand")], table.loc[("d2", "AX", "ligand")]
    assert (ab1["mean"], ab1["limiting_gene"]) == (0.5, "A")
    assert (ab2["mean"], ab2["limiting_gene"], ab2["fraction_all_subunits"]) == (0.0, "B", 0.0)
    assert int(ab1["n_cells"]) == 2
    lost = table.loc[("d1", "AZ", "receptor")]
    assert np.isnan(lost["mean"]) and lost["genes_missing"] == "E"


def test_threshold_changes_fraction_not_mean():
    table = group_detection(X, GENES, GROUPS, [RECEPTOR], threshold=1.5)
    d1 = table.set_index("donor_id").loc["d1"]
    # above 1.5 in d1: A none, B both, C cell 1 -> complex A+B 0, C .5
    assert (d1["mean"], d1["fraction"]) == (2.0, 0.5)


def test_dense_input_and_misaligned_groups_are_refused():
    with pytest.raises(InputError):
        cell_detection(np.array(DENSE), GENES, [RECEPTOR])
    with pytest.raises(InputError) as info:
        group_detection(X, GENES, GROUPS.iloc[:3], [RECEPTOR])
    assert info.value.field == "groups"


def test_axis_features_use_curated_complexes():
    axes = load_axes(AXES_DIR, AXIS_SCHEMA)
    features = {f.id: f for f in axis_features(axes)}
    assert features["IL2.receptor"].complexes == (("IL2RA", "IL2RB", "IL2RG"), ("IL2RB", "IL2RG"))
    assert features["IL12.ligand"].complexes == (("IL12A", "IL12B"),)
    assert ("LTA", "LTB") in features["LT_LIGHT.ligand"].complexes
