"""Small results tables with known effects, built without running the workflow.

Two groups of donors (control, MS), three cell types, two axes. Planted: in MS the TNF ligand of
CD4_T_memory doubles (a sender change, so every CD4_T_memory -> receiver TNF interaction rises)
and the TNF response of mono_classical rises (the receiver's footprint). IL6 is null.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pandas as pd

from neurokine.plot.figures import DatasetTables
from neurokine.stats import compare, verdict
from neurokine.stats import network as nw
from neurokine.stats.activity import ACTIVITY_COLUMNS

TYPES = ("B_naive", "CD4_T_memory", "mono_classical")
AXES = ("IL6", "TNF")
GROUPS = ("control", "MS")
SENDER, RECEIVER = "CD4_T_memory", "mono_classical"


def nodes_and_scores(seed: int = 3, donors: int = 6, rename: dict[str, str] | None = None,
                     dataset: str = "toy") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node scores (sender/receiver per sample) and donor signature scores with planted effects."""
    rng = np.random.default_rng(seed)
    nodes, scores = [], []
    for group in GROUPS:
        for d in range(donors):
            donor = f"{group}_{d:02d}"
            for cell_type in TYPES:
                n_cells = int(rng.integers(40, 120))
                for axis in AXES:
                    ligand = 0.2 + rng.normal(0, 0.02)
                    if axis == "TNF" and cell_type == SENDER:
                        ligand = 1.0 * (2.0 if group == "MS" else 1.0) + rng.normal(0, 0.08)
                    receptor = 0.8 + rng.normal(0, 0.05)
                    nodes.append({"dataset_id": dataset, "sample_id": f"{donor}_CSF", "donor_id": donor,
                                  "tissue": "CSF", "disease": group, "cell_type": cell_type,
                                  "n_cells": n_cells, "axis": axis, "ligand_mean": ligand,
                                  "ligand_fraction": min(1.0, ligand * 0.8), "receptor_mean": receptor,
                                  "receptor_fraction": 0.6, "sex": "female" if d % 2 else "male"})
                    for module in ("ligand", "receptor", "response"):
                        value = rng.normal(0, 0.05)
                        if (axis, module, cell_type, group) == ("TNF", "response", RECEIVER, "MS"):
                            value += 0.5
                        if (axis, module, cell_type, group) == ("TNF", "ligand", SENDER, "MS"):
                            value += 0.5
                        scores.append({"dataset_id": dataset, "sample_id": f"{donor}_CSF",
                                       "donor_id": donor, "tissue": "CSF", "disease": group,
                                       "cell_type": cell_type, "signature": f"{axis}.{module}",
                                       "axis": axis, "module": module, "n_cells": n_cells,
                                       "mean_score": value})
    nodes, scores = pd.DataFrame(nodes), pd.DataFrame(scores)
    if rename:
        nodes["cell_type"] = nodes["cell_type"].replace(rename)
        scores["cell_type"] = scores["cell_type"].replace(rename)
    return nodes, scores


def synthetic_tables(seed: int = 3, rename: dict[str, str] | None = None) -> DatasetTables:
    """Every table the per-dataset figures need, with the planted effects above (a fresh copy)."""
    return copy.deepcopy(_cached_tables(seed, tuple(sorted((rename or {}).items()))))


@functools.lru_cache(maxsize=8)
def _cached_tables(seed: int, rename: tuple[tuple[str, str], ...]) -> DatasetTables:
    """Build the tables once per seed and renaming (the tests only read them)."""
    nodes, scores = nodes_and_scores(seed, rename=dict(rename) or None)
    contrasts = [compare.Contrast("MS", "control")]
    coverage = pd.DataFrame({"signature": sorted(scores["signature"].unique()), "status": "scored",
                             "coverage": 1.0, "reason": ""})
    tests = compare.compare_groups(scores, coverage, contrasts, covariates=[], min_cells=10,
                                   min_donors=3, n_boot=50, seed=1)
    network = nw.compare_interactions(nodes, contrasts, covariates=[], min_cells=10, min_donors=3,
                                      n_boot=50, seed=1, min_ligand=0.5, min_receptor=0.1)
    counts = nodes.drop_duplicates(["sample_id", "cell_type"])[
        ["sample_id", "cell_type", "n_cells", "dataset_id", "donor_id", "tissue", "disease"]].copy()
    counts["n_cells_sample"] = counts.groupby("sample_id")["n_cells"].transform("sum")
    samples = sorted(counts["sample_id"].unique())
    qc = pd.DataFrame([{"dataset_id": "toy", "sample_id": s, "order": k, "step": step, "threshold": "",
                        "cells_kept": 300 - 10 * k, "genes_kept": 1000}
                       for s in samples for k, step in enumerate(("input", "min_counts", "max_pct_mito"))])
    # The response-module tests stand in for joint activities (same columns, same donors).
    activities = tests[tests["module"] == "response"].rename(columns={"effect": "activity"}).assign(
        level="fine", resource="toy").reindex(columns=ACTIVITY_COLUMNS)
    response = verdict.response_layer(tests, activities, 0.05)
    network = verdict.annotate_receiver_response(network, response, 0.05)
    values = scores.rename(columns={"mean_score": "value"}).assign(measure="mean_cell_score")
    verdicts = verdict.evidence_verdicts(nodes, tests, network, values, contrasts, alpha=0.05,
                                         min_ligand=0.5, min_receptor=0.1, min_cells=10,
                                         min_agreement=0.75)
    return DatasetTables(tests=tests, qc_steps=qc, cell_counts=counts, donor_scores=scores, nodes=nodes,
                         network=network, activities=activities, verdicts=verdicts)
