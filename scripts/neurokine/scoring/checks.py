"""Input checks of the scoring layer in one place: gene names, finite values, counts, CSR layout."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError

log = logging.getLogger(__name__)


def check_var_names(var_names: Sequence[str], source: str) -> pd.Index:
    """Return the gene names as an Index, refusing duplicates (they make scores ambiguous)."""
    names = pd.Index(var_names).astype(str)
    duplicated = names[names.duplicated()].unique().tolist()
    if duplicated:
        raise InputError(source, "var_names", f"{len(duplicated)} duplicated gene names, e.g. "
                         f"{duplicated[:5]}", "make gene symbols unique (sum or suffix duplicated "
                         "symbols) before scoring")
    return names


def _genes_at(var_names: pd.Index, columns: np.ndarray) -> list[str]:
    """Up to five gene names for an error message."""
    return [str(var_names[c]) for c in np.unique(columns)[:5]]


def check_finite(block: sp.csr_matrix, var_names: pd.Index, source: str, field: str) -> None:
    """Refuse NaN or infinite values, naming the genes that hold them."""
    bad = ~np.isfinite(block.data)
    if bad.any():
        raise InputError(source, field, f"{int(bad.sum())} NaN or infinite values in a block of "
                         f"cells, in genes {_genes_at(var_names, block.indices[bad])}",
                         "re-create the matrix; normalized data must be finite")


def check_counts(block: sp.csr_matrix, var_names: pd.Index, source: str, field: str) -> None:
    """Refuse NaN, infinite or negative values where raw counts are expected."""
    check_finite(block, var_names, source, field)
    negative = block.data < 0
    if negative.any():
        raise InputError(source, field, f"{int(negative.sum())} negative counts, in genes "
                         f"{_genes_at(var_names, block.indices[negative])}",
                         "store raw UMI counts (non-negative integers) in this layer")


def as_csr(matrix: sp.spmatrix | sp.sparray | np.ndarray, source: str, field: str, *,
           dense_ok: bool = True) -> sp.csr_matrix:
    """Return a CSR matrix, converting any other layout once (with a log line saying so).

    With ``dense_ok=False`` a dense array is refused instead: callers that only ever touch a
    few gene columns would gain nothing from densified input but its memory.
    """
    if isinstance(matrix, sp.csr_matrix):
        return matrix
    if not sp.issparse(matrix) and not dense_ok:
        raise InputError(source, field, "expression matrix is dense",
                         "pass a scipy.sparse CSR matrix (AnnData .X after prepare is CSR)")
    if sp.issparse(matrix) and matrix.format == "csr":
        return sp.csr_matrix(matrix)
    layout = matrix.format.upper() if sp.issparse(matrix) else "dense"
    log.info("%s: %s is %s; converting it to CSR once (scoring reads cells as rows)",
             source, field, layout)
    return sp.csr_matrix(matrix)
