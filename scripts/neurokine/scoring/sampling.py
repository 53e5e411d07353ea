"""Expression-matched gene draws (scanpy's control genes, null signatures) that every method uses."""

from __future__ import annotations

import numpy as np
import pandas as pd


def expression_bins(means: np.ndarray, var_names: pd.Index, n_bins: int) -> pd.Series:
    """Assign genes to expression bins by rank of their mean, as scanpy's score_genes does."""
    avg = pd.Series(means, index=var_names)
    avg = avg[np.isfinite(avg)]
    n_items = int(np.round(len(avg) / (n_bins - 1)))
    with np.errstate(divide="ignore"):
        return avg.rank(method="min") // n_items


class ExpressionBins:
    """Expression bins as gene positions, for fast repeated sampling."""

    def __init__(self, means: np.ndarray, var_names: pd.Index, n_bins: int) -> None:
        values = expression_bins(means, var_names, n_bins)
        self.labels, codes = np.unique(values.to_numpy(), return_inverse=True)
        self.code = np.full(len(var_names), -1, dtype=np.int64)
        self.code[var_names.get_indexer(values.index)] = codes
        order = np.argsort(self.code, kind="stable")
        bounds = np.searchsorted(self.code[order], np.arange(len(self.labels) + 1))
        self.members = [order[bounds[b]:bounds[b + 1]] for b in range(len(self.labels))]


def control_positions(genes: np.ndarray, bins: ExpressionBins, ctrl_size: int,
                      random_state: int, excluded: np.ndarray | None = None) -> np.ndarray:
    """Control genes for a set, drawn exactly as scanpy 1.11 draws them (sorted positions).

    scanpy seeds numpy's global RandomState, then per bin of the set's genes (ascending) lets
    pandas sample `ctrl_size` of the bin's genes in variable order, i.e. `choice` without
    replacement; set genes are removed after sampling. This replays the same draws. `excluded`
    (bool per gene) leaves genes out of every bin before the draw (other signatures' genes).
    """
    rng = np.random.RandomState(random_state)
    chosen: set[int] = set()
    for cut in np.unique(bins.code[genes]):
        candidates = bins.members[cut]
        if excluded is not None:
            candidates = candidates[~excluded[candidates]]
        if ctrl_size < len(candidates):
            candidates = candidates[rng.choice(len(candidates), size=ctrl_size, replace=False)]
        chosen.update(candidates.tolist())
    chosen.difference_update(genes.tolist())
    return np.array(sorted(chosen), dtype=np.int64)


def null_positions(genes: np.ndarray, bins: ExpressionBins, allowed: np.ndarray,
                   preferred: np.ndarray, n_null: int, rng: np.random.Generator) -> list[np.ndarray]:
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
