"""Score every signature in one sparse pass: a genes x columns weight matrix and one product.

Three methods share the engine; each becomes one weight matrix, so all signatures are
evaluated together, one row block at a time:

* ``mean``: scanpy's ``score_genes`` (mean of the set minus the mean of expression-binned
  control genes). Control genes are drawn exactly as scanpy 1.11 draws them for a given
  ``random_state`` and gene means are accumulated exactly as scipy sums them, so scores equal
  ``scanpy.tl.score_genes`` to floating-point precision.
* ``weighted``: decoupler's univariate linear model (``ulm``): per cell, the t-value of the
  slope of expression on the signature weights over every gene detected in the data. Signed
  weights (e.g. CytoSig) are allowed.
* ``ucell``: UCell's Mann-Whitney U statistic on each cell's gene ranks (ties averaged, ranks
  capped at ``max_rank``), which ignores how the data were normalized.

The matrix is read in row blocks (from memory or from an ``.h5ad`` on disk through anndata's
backed sparse datasets), so peak memory is set by the block size, not by the number of cells.
Two passes are made: one for gene statistics (means, detection), one for scores.

Random null signatures (``n_null`` per signature, size- and expression-matched) calibrate the
scores. For ``mean`` and ``ucell`` a score is linear in the (transformed) data, so the nulls'
group means come from group sums of the data on the genes they use, at almost no cost; for
``weighted`` they are extra columns of the per-cell product.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from collections.abc import Iterator, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from neurokine.errors import InputError
from neurokine.scoring import kernels
from neurokine.settings import ScoringSettings

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("mean", "weighted", "ucell")
#: Non-zeros read per row block: bounds the memory of one block (~50 bytes per non-zero).
CHUNK_NNZ = 2_000_000
#: Cap on rows x output columns per block, so the dense block of scores stays <= 32 MB.
CHUNK_VALUES = 4_000_000
#: decoupler adds this to 1 - r and 1 + r so a perfect correlation gives a finite t-value.
ULM_EPS = 2.2e-16

GeneSets = Mapping[str, Sequence[str] | Mapping[str, float]]


@dataclasses.dataclass(frozen=True)
class ScoringParams:
    """Settings of one scoring run (config keys under `scoring:` plus the run seed)."""

    method: str = "mean"
    ctrl_size: int = 50
    n_bins: int = 25
    random_state: int = 0
    min_coverage: float = 0.0
    max_rank: int = 1500
    n_null: int = 0
    chunk_nnz: int = CHUNK_NNZ

    @classmethod
    def from_settings(cls, scoring: ScoringSettings, seed: int) -> ScoringParams:
        """The engine's parameters from the scoring settings (config `scoring`) and the run seed.

        Every value comes from the validated config, whose schema fills the defaults: this used
        to default n_null to 0 where the schema promises 20, silently dropping the nulls.
        """
        return cls(method=scoring.method, ctrl_size=scoring.ctrl_size, n_bins=scoring.n_bins,
                   random_state=seed, min_coverage=scoring.min_gene_coverage,
                   max_rank=scoring.ucell_max_rank, n_null=scoring.n_null,
                   chunk_nnz=scoring.chunk_nnz)


# --------------------------------------------------------------------------- input checks


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


def as_csr(matrix: sp.spmatrix | sp.sparray | np.ndarray, source: str, field: str) -> sp.csr_matrix:
    """Return a CSR matrix, converting any other layout once (with a log line saying so)."""
    if isinstance(matrix, sp.csr_matrix):
        return matrix
    if sp.issparse(matrix) and matrix.format == "csr":
        return sp.csr_matrix(matrix)
    layout = matrix.format.upper() if sp.issparse(matrix) else "dense"
    log.info("%s: %s is %s; converting it to CSR once so rows can be read in blocks",
             source, field, layout)
    return sp.csr_matrix(matrix)


# --------------------------------------------------------------------------- row sources


class RowSource:
    """Row-block access to a cells x genes matrix; `read(start, stop)` returns CSR."""

    def __init__(self, shape: tuple[int, int], indptr: np.ndarray | None, source: str,
                 field: str) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.indptr = indptr
        self.source = source
        self.field = field

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows start:stop as an in-memory CSR matrix."""
        raise NotImplementedError


class MemoryRows(RowSource):
    """Row blocks of an in-memory matrix (converted to CSR once if needed)."""

    def __init__(self, matrix: sp.spmatrix | sp.sparray | np.ndarray, source: str = "matrix",
                 field: str = "X") -> None:
        self.matrix = as_csr(matrix, source, field)
        super().__init__(self.matrix.shape, self.matrix.indptr, source, field)

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows start:stop as a CSR view sharing the matrix's arrays (no copy)."""
        m = self.matrix
        first, last = m.indptr[start], m.indptr[stop]
        block = sp.csr_matrix((stop - start, m.shape[1]), dtype=m.dtype)
        block.data, block.indices = m.data[first:last], m.indices[first:last]
        block.indptr = m.indptr[start:stop + 1] - first
        return block


class BackedRows(RowSource):
    """Row blocks of a matrix stored in an open .h5ad (HDF5) file, read block by block.

    CSR is read through `anndata.io.sparse_dataset` (row slices read only those rows), dense
    arrays row by row. A CSC matrix cannot be read by rows, so it is loaded and converted once,
    with a warning: re-write such a file as CSR to keep memory bounded.
    """

    def __init__(self, handle: h5py.File, key: str, source: str) -> None:
        from anndata.io import sparse_dataset

        if key not in handle:
            raise InputError(source, key, "is missing from the file",
                             "score the prepared .h5ad (X = log-normalized, layers/counts = counts)")
        element = handle[key]
        self._dense = self._memory = self._backed = None
        if isinstance(element, h5py.Dataset):
            self._dense = element
            log.info("%s: %s is a dense array; each row block is converted to CSR", source, key)
            super().__init__(element.shape, None, source, key)
            return
        encoding = element.attrs.get("encoding-type", "")
        if encoding == "csc_matrix":
            log.warning("%s: %s is stored as CSC; converting it to CSR once in memory (row blocks "
                        "need CSR; re-write the file as CSR to keep memory bounded)", source, key)
            self._memory = sp.csr_matrix(sparse_dataset(element).to_memory())
            super().__init__(self._memory.shape, self._memory.indptr, source, key)
            return
        if encoding != "csr_matrix":
            raise InputError(source, key, f"has unsupported encoding {encoding!r}",
                             "store the matrix as CSR (anndata's default for sparse X)")
        self._backed = sparse_dataset(element)
        super().__init__(self._backed.shape, np.asarray(element["indptr"][:]), source, key)

    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows start:stop read from disk (only those rows' stored entries)."""
        if self._backed is not None:
            return sp.csr_matrix(self._backed[start:stop])
        if self._memory is not None:
            return self._memory[start:stop]
        return sp.csr_matrix(np.asarray(self._dense[start:stop]))


def row_blocks(rows: RowSource, chunk_nnz: int = CHUNK_NNZ, n_columns: int = 1) -> list[tuple[int, int]]:
    """Split the rows into blocks of at most `chunk_nnz` non-zeros and CHUNK_VALUES outputs."""
    n_rows, n_genes = rows.shape
    max_rows = max(1, CHUNK_VALUES // max(1, n_columns))
    if rows.indptr is None:
        step = max(1, min(max_rows, chunk_nnz // max(1, n_genes)))
        return [(s, min(s + step, n_rows)) for s in range(0, n_rows, step)]
    indptr = np.asarray(rows.indptr, dtype=np.int64)
    blocks, start = [], 0
    while start < n_rows:
        limit = indptr[start] + chunk_nnz
        stop = int(np.searchsorted(indptr, limit, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, n_rows)
        blocks.append((start, stop))
        start = stop
    return blocks


# --------------------------------------------------------------------------- gene statistics


@dataclasses.dataclass
class GeneStats:
    """Per-gene sums (in the matrix's own sum dtype) and detected-cell counts."""

    n_cells: int
    sums: np.ndarray
    nonzero: np.ndarray

    @property
    def means(self) -> np.ndarray:
        """Gene means in float64, computed from the sums as scanpy computes them."""
        return self.sums.astype(np.float64) / self.n_cells


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    """The accumulator dtype scipy uses for `sum` (float32 stays float32; ints widen)."""
    return np.result_type(dtype, np.int_) if np.issubdtype(dtype, np.integer) else np.dtype(dtype)


def gene_statistics(rows: RowSource, var_names: pd.Index, blocks: Sequence[tuple[int, int]]) -> GeneStats:
    """First pass: per-gene sums and detection counts, refusing non-finite values."""
    sums = nonzero = None
    for start, stop in blocks:
        block = rows.read(start, stop)
        if sums is None:
            sums = np.zeros(rows.shape[1], dtype=_sum_dtype(block.data.dtype))
            nonzero = np.zeros(rows.shape[1], dtype=np.int64)
        data = block.data.astype(sums.dtype, copy=False)
        if kernels.gene_sums(block.indices, data, sums, nonzero):
            check_finite(block, var_names, rows.source, rows.field)  # raises, naming the genes
    if sums is None:
        raise InputError(rows.source, rows.field, "has no cells", "check the QC thresholds")
    return GeneStats(rows.shape[0], sums, nonzero)


def gene_means(matrix: sp.spmatrix) -> np.ndarray:
    """Column (gene) means of a cells x genes matrix, bit-identical to scanpy's."""
    rows = MemoryRows(matrix)
    names = pd.Index(np.arange(rows.shape[1]).astype(str))
    return gene_statistics(rows, names, row_blocks(rows)).means


# --------------------------------------------------------------------------- control genes


def expression_bins(means: np.ndarray, var_names: pd.Index, n_bins: int) -> pd.Series:
    """Assign genes to expression bins by rank of their mean, as scanpy's score_genes does."""
    avg = pd.Series(means, index=var_names)
    avg = avg[np.isfinite(avg)]
    n_items = int(np.round(len(avg) / (n_bins - 1)))
    with np.errstate(divide="ignore"):
        return avg.rank(method="min") // n_items


class _Bins:
    """Expression bins as gene positions, for fast repeated sampling."""

    def __init__(self, means: np.ndarray, var_names: pd.Index, n_bins: int) -> None:
        values = expression_bins(means, var_names, n_bins)
        self.labels, codes = np.unique(values.to_numpy(), return_inverse=True)
        self.code = np.full(len(var_names), -1, dtype=np.int64)
        self.code[var_names.get_indexer(values.index)] = codes
        order = np.argsort(self.code, kind="stable")
        bounds = np.searchsorted(self.code[order], np.arange(len(self.labels) + 1))
        self.members = [order[bounds[b]:bounds[b + 1]] for b in range(len(self.labels))]


def _control_positions(genes: np.ndarray, bins: _Bins, ctrl_size: int, random_state: int) -> np.ndarray:
    """Control genes for a set, drawn exactly as scanpy 1.11 draws them (sorted positions).

    scanpy seeds numpy's global RandomState, then per bin of the set's genes (ascending) lets
    pandas sample `ctrl_size` of the bin's genes in variable order, i.e. `choice` without
    replacement; set genes are removed after sampling. This replays the same draws.
    """
    rng = np.random.RandomState(random_state)
    chosen: set[int] = set()
    for cut in np.unique(bins.code[genes]):
        candidates = bins.members[cut]
        if ctrl_size < len(candidates):
            candidates = candidates[rng.choice(len(candidates), size=ctrl_size, replace=False)]
        chosen.update(candidates.tolist())
    chosen.difference_update(genes.tolist())
    return np.array(sorted(chosen), dtype=np.int64)


def control_genes(genes: pd.Index, bins: pd.Series, ctrl_size: int, random_state: int) -> pd.Index:
    """Control genes (names) of a gene set, given scanpy-style expression bins."""
    rng = np.random.RandomState(random_state)
    chosen = pd.Index([], dtype="string")
    for cut in np.unique(bins.loc[genes]):
        candidates = bins[bins == cut].index
        if ctrl_size < len(candidates):
            candidates = candidates[rng.choice(len(candidates), size=ctrl_size, replace=False)]
        chosen = chosen.union(candidates.difference(genes))
    return chosen


# --------------------------------------------------------------------------- null signatures


def _stable_seed(seed: int, name: str) -> np.random.Generator:
    """A generator for one signature's nulls that does not change when other signatures do."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def null_positions(genes: np.ndarray, bins: _Bins, allowed: np.ndarray, preferred: np.ndarray,
                   n_null: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random gene sets of the same size and expression-bin make-up as `genes`.

    Each null gene is drawn from the bin of the gene it replaces, without repeats within a set:
    from `preferred` genes (not in the set, not its controls) when the bin has enough of them,
    else from `allowed` genes (not in the set); a bin too small even then borrows from its
    nearest bins. The i-th null gene stands in for the i-th gene (-1 only if the data has too
    few genes).
    """
    n_labels = len(bins.labels)
    codes = bins.code[genes]
    cuts = np.unique(codes)

    def pool(cut: int, mask: np.ndarray, width: int) -> np.ndarray:
        near = range(max(0, cut - width), min(n_labels, cut + width + 1))
        members = np.concatenate([bins.members[b] for b in near])
        return members[mask[members]]

    attempts = [(preferred, 0)] + [(allowed, w) for w in range(n_labels)]
    cache: dict[tuple[int, int], np.ndarray] = {}

    def candidates_for(cut: int, used: np.ndarray, need: int) -> np.ndarray:
        for i, (mask, width) in enumerate(attempts):
            if (cut, i) not in cache:
                cache[cut, i] = pool(cut, mask, width)
            candidates = cache[cut, i][~used[cache[cut, i]]]
            if len(candidates) >= need:
                break
        return candidates

    nulls = []
    for _ in range(n_null):
        drawn = np.full(len(genes), -1, dtype=np.int64)
        used = np.zeros(len(bins.code), dtype=bool)
        for cut in cuts:
            slots = np.flatnonzero(codes == cut)
            candidates = candidates_for(int(cut), used, len(slots))
            take = min(len(slots), len(candidates))
            picks = rng.choice(candidates, size=take, replace=False)
            drawn[slots[:take]] = picks
            used[picks] = True
        nulls.append(drawn)
    return nulls


# --------------------------------------------------------------------------- the plan


def normalize_signatures(gene_sets: GeneSets) -> dict[str, dict[str, float]]:
    """Map each signature to gene -> weight (lists weigh 1; repeated genes keep the first)."""
    out = {}
    for name, genes in gene_sets.items():
        if isinstance(genes, Mapping):
            out[str(name)] = {str(g): float(w) for g, w in genes.items()}
        else:
            out[str(name)] = {str(g): 1.0 for g in dict.fromkeys(genes)}
    return out


@dataclasses.dataclass
class BlockScores:
    """Scores of one row block.

    ``real`` is cells x signatures. Null signatures are linear in the data for ``mean`` and
    ``ucell``, so their group means are computed later from group sums of ``basis`` (the block's
    values, or UCell strengths, on the genes the nulls use) and of ``control`` (``mean``: each
    cell's control-gene term); ``weighted`` t-values are not linear, so its nulls come per cell
    in ``null`` (cells x signatures x n_null).
    """

    real: np.ndarray
    null: np.ndarray | None = None
    basis: sp.csr_matrix | None = None
    control: np.ndarray | None = None


@dataclasses.dataclass
class ScoringPlan:
    """Everything the second pass needs: the weight matrices and the column layout."""

    params: ScoringParams
    signatures: list[str]
    weights: sp.csr_matrix
    coverage: pd.DataFrame
    null_sets: pd.DataFrame
    #: `mean`/`ucell`: genes the nulls use, and their (support x signatures*n_null) weights
    null_support: np.ndarray | None = None
    null_weights: sp.csr_matrix | None = None
    #: `ucell`: genes whose ranks are needed (any signature's or null's genes)
    ranked_genes: np.ndarray | None = None
    # `weighted` only: universe size, mean and standard deviation of each column's weights
    n_universe: int = 0
    weight_mean: np.ndarray | None = None
    weight_sd: np.ndarray | None = None

    @property
    def n_signatures(self) -> int:
        """Number of scored (not skipped) signatures."""
        return len(self.signatures)

    def score_block(self, block: sp.csr_matrix) -> BlockScores:
        """Scores of one CSR row block (see BlockScores)."""
        k, n_null, method = self.n_signatures, self.params.n_null, self.params.method
        data = block.data
        if method == "ucell":
            data = kernels.ucell_strengths(block.indptr, block.indices, block.data,
                                           float(self.params.max_rank), self.ranked_genes)
        out = kernels.csr_dense_product(block.indptr, block.indices, data, self.weights.indptr,
                                        self.weights.indices, self.weights.data, self.weights.shape[1])
        if method == "weighted":
            sums, squares = kernels.row_moments(block.indptr, block.data)
            scores = self._ulm_t(out, sums, squares)
            null = scores[:, k:].reshape(block.shape[0], k, n_null) if n_null else None
            return BlockScores(scores[:, :k], null=null)
        basis = None
        if n_null:
            source = block if method == "mean" else sp.csr_matrix(
                (data, block.indices, block.indptr), shape=block.shape)
            basis = source[:, self.null_support]
        if method == "mean" and n_null:
            control = out[:, k:2 * k]
            return BlockScores(out[:, :k] + control, basis=basis, control=control)
        return BlockScores(out, basis=basis)

    def null_group_means(self, basis_sums: np.ndarray, control_sums: np.ndarray | None,
                         n_cells: np.ndarray) -> np.ndarray:
        """Group means of the null scores (groups x signatures x n_null) from group sums."""
        k, n_null = self.n_signatures, self.params.n_null
        sums = np.asarray(self.null_weights.T @ basis_sums.T).T.reshape(len(n_cells), k, n_null)
        if control_sums is not None:
            sums = sums + control_sums[:, :, None]
        return sums / n_cells[:, None, None]

    def _ulm_t(self, products: np.ndarray, sums: np.ndarray, squares: np.ndarray) -> np.ndarray:
        """decoupler's ulm t-value from X@w, row sums and row sums of squares."""
        n = self.n_universe
        cov = (products - sums[:, None] * self.weight_mean[None, :]) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            var_y = np.maximum(squares - sums * sums / n, 0.0) / (n - 1)
            r = cov / (np.sqrt(var_y)[:, None] * self.weight_sd[None, :])
        # A cell with no variation over the genes carries no evidence: t = 0 (decoupler drops
        # such cells); a null set without weight variation (too few genes drawn) likewise.
        r = np.where((var_y[:, None] > 0) & (self.weight_sd[None, :] > 0), r, 0.0)
        # A perfect fit can round to |r| slightly above 1; clip so t stays finite (decoupler
        # returns NaN there).
        r = np.clip(r, -1.0, 1.0)
        df = n - 2
        return r * np.sqrt(df / ((1.0 - r + ULM_EPS) * (1.0 + r + ULM_EPS)))


def _coverage_record(name: str, weights: Mapping[str, float], known: Mapping[str, int],
                     params: ScoringParams) -> dict:
    """The coverage row of one signature before any skip decision."""
    missing = [g for g in weights if g not in known]
    n_present = len(weights) - len(missing)
    return {"signature": name, "n_genes_listed": len(weights), "n_genes_present": n_present,
            "coverage": n_present / len(weights) if len(weights) else 0.0,
            "missing_genes": ",".join(sorted(missing)),
            "n_control_genes": 0, "status": "scored", "reason": "", "method": params.method,
            "n_genes_scored": 0, "n_null": 0}


def _check_unsigned(name: str, weights: Mapping[str, float], method: str) -> None:
    """`mean` and `ucell` score gene sets: refuse signed or zero weights, naming the set."""
    bad = sorted(g for g, w in weights.items() if not w > 0)
    if bad:
        raise InputError("signatures", name, f"method {method!r} scores unsigned gene sets, but "
                         f"genes {bad[:5]} have weights <= 0",
                         "use scoring.method: weighted for signed signatures")


def build_plan(gene_sets: GeneSets, var_names: pd.Index, stats: GeneStats,
               params: ScoringParams) -> ScoringPlan:
    """Turn signatures into a genes x columns weight matrix (skipped sets say why).

    Columns: one per scored signature (``mean``: set and control genes together), then
    (``mean`` with nulls) each one's control-gene part apart, or (``weighted``) ``n_null`` null
    signatures per scored signature, signature-major. For ``mean`` and ``ucell`` the null
    signatures get their own weight matrix over the genes they use.
    """
    if params.method not in METHODS:
        raise InputError("scoring", "method", f"unknown method {params.method!r}",
                         f"use one of {', '.join(METHODS)}")
    var_names = pd.Index(var_names)
    position = {g: i for i, g in enumerate(var_names)}
    bins = _Bins(stats.means, var_names, params.n_bins)
    detected = stats.nonzero > 0
    n_universe = int(detected.sum())
    kept, coverage, null_rows = [], [], []
    set_cols, control_cols, null_cols = [], [], []
    for name, weights in normalize_signatures(gene_sets).items():
        if params.method != "weighted":
            _check_unsigned(name, weights, params.method)
        record = _coverage_record(name, weights, position, params)
        coverage.append(record)
        genes = np.array([position[g] for g in weights if g in position], dtype=np.int64)
        if params.method == "weighted":
            genes = genes[detected[genes]]  # all-zero genes are outside decoupler's universe
        values = np.array([weights[var_names[g]] for g in genes], dtype=np.float64)
        reason = _skip_reason(record, genes, values, params, n_universe)
        controls = np.array([], dtype=np.int64)
        if not reason and params.method == "mean":
            controls = _control_positions(genes, bins, params.ctrl_size, params.random_state)
            if len(controls) == 0:
                reason = "no control genes in the set's expression bins"
        if reason:
            record.update(status="skipped", reason=reason)
            continue
        record.update(n_control_genes=len(controls), n_genes_scored=len(genes), n_null=params.n_null)
        kept.append(name)
        set_cols.append((genes, values))
        control_cols.append((controls, np.full(len(controls), -1.0 / max(1, len(controls)))))
        if params.n_null:
            allowed = detected.copy() if params.method == "weighted" else np.ones(len(var_names), bool)
            allowed[genes] = False
            preferred = allowed.copy()
            preferred[controls] = False
            draws = null_positions(genes, bins, allowed, preferred, params.n_null,
                                   _stable_seed(params.random_state, name))
            for j, drawn in enumerate(draws):
                ok = drawn >= 0
                null_cols.append((drawn[ok], values[ok]))
                null_rows.append({"signature": name, "null": j, "n_genes": int(ok.sum()),
                                  "genes": ",".join(var_names[drawn[ok]])})
    null_sets = pd.DataFrame(null_rows, columns=["signature", "null", "n_genes", "genes"])
    if params.method == "weighted":  # nulls are scored per cell, as extra columns
        scored = set_cols + null_cols
        plan = ScoringPlan(params, kept, _weight_matrix(scored, len(var_names)),
                           pd.DataFrame(coverage), null_sets)
        constants = np.array([_ulm_constants(v, n_universe) for _, v in scored]).reshape(-1, 2)
        plan.n_universe = n_universe
        plan.weight_mean, plan.weight_sd = constants[:, 0], constants[:, 1]
        return plan
    columns = [(g, _column_weights(v, params)) for g, v in set_cols]
    if params.method == "mean" and params.n_null:
        columns += control_cols  # kept apart: null signatures reuse each control term
    elif params.method == "mean":  # set and control genes are disjoint: one column each
        columns = [(np.concatenate([g, c]), np.concatenate([w, cw]))
                   for (g, w), (c, cw) in zip(columns, control_cols, strict=True)]
    plan = ScoringPlan(params, kept, _weight_matrix(columns, len(var_names)), pd.DataFrame(coverage),
                       null_sets)
    if params.n_null:
        support = np.unique(np.concatenate([g for g, _ in null_cols] + [np.array([], np.int64)]))
        local = np.full(len(var_names), -1, dtype=np.int64)
        local[support] = np.arange(len(support))
        plan.null_support = support
        plan.null_weights = _weight_matrix([(local[g], _column_weights(v, params))
                                            for g, v in null_cols], len(support))
    if params.method == "ucell":
        plan.ranked_genes = np.diff(plan.weights.indptr) > 0
        if plan.null_support is not None:
            plan.ranked_genes[plan.null_support] = True
    return plan


def _skip_reason(record: Mapping, genes: np.ndarray, values: np.ndarray, params: ScoringParams,
                 n_universe: int) -> str:
    """Why a signature cannot be scored ('' if it can)."""
    if record["n_genes_present"] == 0:
        return "no gene of the signature is in the data"
    if record["coverage"] < params.min_coverage:
        return (f"gene coverage {record['coverage']:.2f} is below "
                f"scoring.min_gene_coverage={params.min_coverage}")
    if params.method == "weighted":
        if len(genes) == 0:
            return "every gene of the signature is zero in every cell"
        if n_universe < 3:
            return f"only {n_universe} genes are detected in the data (ulm needs at least 3)"
        if _ulm_constants(values, n_universe)[1] == 0:
            return "the weights do not vary over the detected genes (ulm needs variation)"
    if params.method == "ucell" and len(genes) * params.max_rank <= len(genes) * (len(genes) + 1) / 2:
        return f"{len(genes)} genes is too many for scoring.ucell_max_rank={params.max_rank}"
    return ""


def _column_weights(values: np.ndarray, params: ScoringParams) -> np.ndarray:
    """Per-gene weights of one signature column for `mean` or `ucell`."""
    n = len(values)
    if n == 0:
        return values
    if params.method == "mean":
        return np.full(n, 1.0 / n)
    if params.method == "weighted":
        return values
    return np.full(n, 1.0 / (n * params.max_rank - n * (n + 1) / 2))


def _ulm_constants(values: np.ndarray, n_universe: int) -> tuple[float, float]:
    """Mean and sample standard deviation of a weight vector padded with zeros to the universe."""
    if n_universe < 2:
        return 0.0, 0.0
    mean = values.sum() / n_universe
    squares = ((values - mean) ** 2).sum() + (n_universe - len(values)) * mean * mean
    return float(mean), float(np.sqrt(squares / (n_universe - 1)))


def _weight_matrix(columns: Sequence[tuple[np.ndarray, np.ndarray]], n_genes: int) -> sp.csr_matrix:
    """Stack (gene positions, weights) columns into a genes x columns CSR matrix."""
    rows = np.concatenate([c[0] for c in columns]) if columns else np.array([], np.int64)
    vals = np.concatenate([c[1] for c in columns]) if columns else np.array([])
    cols = np.repeat(np.arange(len(columns)), [len(c[0]) for c in columns])
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n_genes, len(columns)), dtype=np.float64)
    matrix.sum_duplicates()
    return matrix


# --------------------------------------------------------------------------- running it


def plan_scoring(rows: RowSource, var_names: Sequence[str], gene_sets: GeneSets,
                 params: ScoringParams) -> tuple[ScoringPlan, GeneStats]:
    """First pass over the rows (gene statistics), then the weight matrix."""
    names = check_var_names(var_names, rows.source)
    if len(names) != rows.shape[1]:
        raise InputError(rows.source, "var_names", f"{len(names)} names for {rows.shape[1]} genes",
                         "pass one name per matrix column")
    stats = gene_statistics(rows, names, row_blocks(rows, params.chunk_nnz))
    plan = build_plan(gene_sets, names, stats, params)
    for row in plan.coverage[plan.coverage["status"] != "scored"].itertuples():
        log.warning("signature %s not scored: %s", row.signature, row.reason)
    return plan, stats


def iter_scores(rows: RowSource, plan: ScoringPlan) -> Iterator[
        tuple[int, int, sp.csr_matrix, BlockScores]]:
    """Second pass: (start, stop, block, its scores) for each row block."""
    n_out = plan.weights.shape[1] + plan.n_signatures
    for start, stop in row_blocks(rows, plan.params.chunk_nnz, n_out):
        block = rows.read(start, stop)
        yield start, stop, block, plan.score_block(block)


def build_weights(gene_sets: GeneSets, var_names: pd.Index, means: np.ndarray, *, ctrl_size: int,
                  n_bins: int, random_state: int,
                  min_coverage: float) -> tuple[sp.csc_matrix, list[str], pd.DataFrame]:
    """The `mean` method's genes x signatures weight matrix (set and control weights in one column)."""
    stats = GeneStats(1, np.asarray(means, dtype=np.float64), np.ones(len(var_names), np.int64))
    params = ScoringParams("mean", ctrl_size, n_bins, random_state, min_coverage)
    plan = build_plan(gene_sets, pd.Index(var_names), stats, params)
    return sp.csc_matrix(plan.weights), plan.signatures, plan.coverage


def score_cells(matrix: sp.spmatrix | np.ndarray, var_names: Sequence[str], gene_sets: GeneSets, *,
                method: str = "mean", ctrl_size: int = 50, n_bins: int = 25, random_state: int = 0,
                min_coverage: float = 0.0, max_rank: int = 1500, chunk_nnz: int = CHUNK_NNZ,
                threads: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score all gene sets per cell of an in-memory matrix; return scores and coverage."""
    kernels.set_threads(threads)
    params = ScoringParams(method, ctrl_size, n_bins, random_state, min_coverage, max_rank, 0, chunk_nnz)
    rows = MemoryRows(matrix)
    plan, _ = plan_scoring(rows, var_names, gene_sets, params)
    out = np.empty((rows.shape[0], plan.n_signatures))
    for start, stop, _block, scores in iter_scores(rows, plan):
        out[start:stop] = scores.real
    return pd.DataFrame(out, columns=plan.signatures), plan.coverage
