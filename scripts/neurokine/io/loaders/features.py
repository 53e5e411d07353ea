"""Feature tables of 10x files (MEX features/genes.tsv, HDF5 features): types and genomes.

Cell Ranger lists antibody-capture, CRISPR-guide and other feature-barcoding rows beside the
genes; they are kept here (with their type) and removed, with a count, by harmonize. A
multi-genome reference (e.g. GRCh38 + mm10) prefixes every gene id and name with its genome,
padded with underscores to a common width (`GRCh38_CD3E`, `mm10___Cd3e`); the HDF5 also stores
the genome per feature. A file with several genomes needs `layout.genome`: its genes are kept
with the prefix removed, the other genomes' genes are dropped and counted.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from neurokine.errors import InputError

GENE_EXPRESSION = "Gene Expression"
#: A Cell Ranger multi-genome feature id: <genome>_<padding underscores><Ensembl gene id>.
PREFIXED_ID = re.compile(r"^(?P<genome>.+?)_+(?P<id>ENS[A-Z]*G\d+.*)$")


def feature_table(ids: np.ndarray, names: np.ndarray, types: np.ndarray | None = None,
                  genomes: np.ndarray | None = None) -> pd.DataFrame:
    """var of a 10x matrix: feature id index, gene_symbols, feature_types and genome ('' unknown)."""
    n = len(ids)
    types = np.full(n, GENE_EXPRESSION, dtype=object) if types is None else types
    genomes = np.full(n, "", dtype=object) if genomes is None else genomes
    return pd.DataFrame({"gene_symbols": np.asarray(names, dtype=str),
                         "feature_types": np.asarray(types, dtype=str),
                         "genome": np.asarray(genomes, dtype=str)},
                        index=pd.Index(np.asarray(ids, dtype=str)))


def unique_ids(names: list[str] | np.ndarray) -> list[str]:
    """Feature ids from names that may repeat: the name, then `name#2`, `name#3`..."""
    seen: dict[str, int] = {}
    ids = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        ids.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return ids


def genomes_from_ids(var: pd.DataFrame) -> pd.DataFrame:
    """Fill an unknown genome from Cell Ranger's id prefixes, if every gene carries one."""
    genes = (var["feature_types"] == GENE_EXPRESSION).to_numpy()
    if (var["genome"][genes] != "").any() or not genes.any():
        return var
    found = var.index[genes].str.extract(PREFIXED_ID)["genome"]
    if found.isna().any():
        return var  # unprefixed ids (the usual single-genome file): genome stays unknown
    var = var.copy()
    var.loc[var.index[genes], "genome"] = found.to_numpy()
    return var


def _strip(values: pd.Index | pd.Series, genome: str) -> np.ndarray:
    """Remove a `<genome>_` prefix (with Cell Ranger's padding underscores) where present."""
    return pd.Series(np.asarray(values, dtype=str)).str.replace(
        rf"^{re.escape(genome)}_+", "", regex=True).to_numpy()


def gene_genomes(var: pd.DataFrame) -> list[str]:
    """The genomes that gene-expression features belong to (sorted; empty if unknown)."""
    genes = var["feature_types"] == GENE_EXPRESSION
    return sorted(set(var.loc[genes, "genome"]) - {""})


def choose_genome(genomes: list[str], wanted: str | None, source: str) -> str | None:
    """The genome to keep: layout.genome, else the file's only genome (None if unknown)."""
    if wanted is None:
        if len(genomes) > 1:
            raise InputError(source, "layout.genome",
                             f"the file holds genes of {len(genomes)} genomes {genomes} and the "
                             "registry does not say which to keep",
                             f"set layout.genome to one of {genomes} (the other genomes' genes "
                             "are removed and counted in the label report)")
        return genomes[0] if genomes else None
    if wanted not in genomes:
        found = f"genes of {genomes}" if genomes else "no genome information"
        raise InputError(source, "layout.genome", f"{wanted!r} is not in the file, which has "
                         f"{found}", f"use one of {genomes}" if genomes
                         else "remove layout.genome (the file has a single genome)")
    return wanted


def select_genome(var: pd.DataFrame, wanted: str | None, source: str,
                  notes: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """Mask of features to keep (non-gene features and one genome's genes) and their var."""
    var = genomes_from_ids(var)
    genome = choose_genome(gene_genomes(var), wanted, source)
    keep = np.ones(len(var), dtype=bool)
    if genome is None:
        return keep, var.drop(columns="genome")
    genes = (var["feature_types"] == GENE_EXPRESSION).to_numpy()
    other = genes & (var["genome"] != genome).to_numpy()
    removed = var.loc[other, "genome"].value_counts().sort_index()
    notes["genome"] = genome
    if len(removed):
        notes["features_other_genomes"] = {str(g): int(n) for g, n in removed.items()}
    kept = var[~other].drop(columns="genome")
    return ~other, pd.DataFrame({"gene_symbols": _strip(kept["gene_symbols"], genome),
                                 "feature_types": kept["feature_types"].to_numpy()},
                                index=pd.Index(_strip(kept.index, genome)))
