"""Benchmark neurokine's one-pass scoring engine against scanpy, decoupler and a bare X @ W.

A seeded synthetic matrix (default 50,000 cells x 20,000 genes, ~1,100 non-zeros per cell,
log1p-normalized float32 CSR) is scored with 40 random signatures of 30 genes. In one run it
times, side by side:

* neurokine ``mean`` (gene statistics + control genes + the product), ``weighted`` and ``ucell``
  (after one warm-up call that loads or compiles the numba kernels; its time is reported);
* ``scanpy.tl.score_genes`` looped over the signatures (same ``random_state``), and the maximum
  absolute difference of its scores from neurokine ``mean``;
* ``decoupler.mt.ulm`` after a warm-up call (``--ulm-batch`` cells densified at a time), and
  its maximum difference from ``weighted``;
* a bare ``X @ W`` (scipy CSR times the genes x signatures membership matrix, made dense),
  and for context scipy's product with neurokine's own ``mean`` weights (control genes too).

neurokine and ``X @ W`` are timed as the fastest of ``--repeat`` runs (default 3), because
other jobs share the machine; the long scanpy loop and decoupler run once.

``peak_rss_mb`` is this process's peak after the neurokine runs (matrix included), before any
baseline runs; ``peak_rss_with_baselines_mb`` is the peak at the end.

``--from-disk`` instead writes the matrix as an .h5ad (gzip, like the workflow) and, in fresh
child processes, (a) scores it from disk in row blocks with the sample x cell-type aggregation
of the workflow pass and (b) loads it with ``scanpy.read_h5ad``, reporting each one's peak RSS.

The last line printed is one JSON object. Examples:

    python benchmarks/bench_scoring.py --cells 50000 --signatures 40
    python benchmarks/bench_scoring.py --cells 200000 --from-disk
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]

#: Rows generated per block: the synthetic matrix is built without a dense cells x genes array.
GEN_ROWS = 2000
N_DONORS, N_CELL_TYPES = 40, 12


def peak_rss_mb() -> float:
    """Peak resident set size of this process image so far (MB).

    /proc's VmHWM starts afresh at exec; getrusage's ru_maxrss does not (a child would report
    the parent's size at fork), so it is only the fallback where /proc is missing.
    """
    status = Path("/proc/self/status")
    if status.exists():
        match = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), flags=re.M)
        if match:
            return int(match.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gene_profile(n_genes: int, nnz_per_cell: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene detection probability (heavy-tailed, mean sum = nnz_per_cell) and count mean."""
    rng = np.random.default_rng([seed, 0])
    weight = rng.lognormal(0.0, 1.5, n_genes)
    q = weight / weight.sum() * nnz_per_cell
    for _ in range(50):  # cap at 0.95 and rescale until the expected non-zeros per cell match
        q = np.minimum(q, 0.95)
        q *= nnz_per_cell / q.sum()
    q = np.minimum(q, 0.95)
    return q.astype(np.float32), 0.5 + 4.0 * q


def synthetic_blocks(n_cells: int, n_genes: int, nnz_per_cell: float, seed: int):
    """Yield (counts CSR int32, log1p-normalized CSR float32) row blocks, seeded per block."""
    q, lam = gene_profile(n_genes, nnz_per_cell, seed)
    for b, start in enumerate(range(0, n_cells, GEN_ROWS)):
        rng = np.random.default_rng([seed, 1, b])
        rows = min(GEN_ROWS, n_cells - start)
        mask = rng.random((rows, n_genes), dtype=np.float32) < q
        counts = sp.csr_matrix(mask, dtype=np.int32)
        counts.data = (1 + rng.poisson(lam[counts.indices])).astype(np.int32)
        totals = np.asarray(counts.sum(axis=1)).ravel()
        values = counts.astype(np.float32)
        values.data = np.log1p(values.data / np.repeat(totals, np.diff(counts.indptr)) * 1e4
                               ).astype(np.float32)
        yield counts, values


def synthetic_matrix(n_cells: int, n_genes: int, nnz_per_cell: float, seed: int) -> sp.csr_matrix:
    """The whole log-normalized matrix in memory."""
    return sp.vstack([v for _, v in synthetic_blocks(n_cells, n_genes, nnz_per_cell, seed)],
                     format="csr")


def synthetic_obs(n_cells: int, seed: int) -> pd.DataFrame:
    """Donor (as sample) and cell type per cell, so the from-disk pass also aggregates."""
    rng = np.random.default_rng([seed, 2])
    donors = rng.integers(0, N_DONORS, n_cells)
    types = rng.integers(0, N_CELL_TYPES, n_cells)
    obs = pd.DataFrame({"sample_id": pd.Categorical([f"donor{d:02d}" for d in donors]),
                        "cell_type": pd.Categorical([f"type{t:02d}" for t in types])})
    obs.index = [f"cell{i}" for i in range(n_cells)]
    return obs


def signatures(var_names: pd.Index, n_signatures: int, size: int, seed: int) -> dict[str, list[str]]:
    """Random gene sets (seeded), named sig00, sig01, ..."""
    rng = np.random.default_rng([seed, 3])
    return {f"sig{k:02d}": list(var_names[rng.choice(len(var_names), size, replace=False)])
            for k in range(n_signatures)}


def timed(function, *args, repeat: int = 1, **kwargs):
    """(result, seconds): the fastest of `repeat` calls (other jobs share this machine)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best


# --------------------------------------------------------------------------- in memory


def run_in_memory(args: argparse.Namespace) -> dict:
    """Time every method on the same in-memory matrix and compare their scores."""
    from neurokine.scoring.engine import score_cells

    X, gen_s = timed(synthetic_matrix, args.cells, args.genes, args.nnz_per_cell, args.seed)
    names = pd.Index([f"G{i:05d}" for i in range(args.genes)])
    sets = signatures(names, args.signatures, args.set_size, args.seed)
    print(f"generated {X.shape[0]} x {X.shape[1]} ({X.nnz / X.shape[0]:.0f} nnz/cell) "
          f"in {gen_s:.1f} s", flush=True)

    _, warmup_s = timed(score_cells, X[:2000], names, sets, threads=args.threads)
    timed(score_cells, X[:2000], names, sets, method="weighted", threads=args.threads)
    timed(score_cells, X[:2000], names, sets, method="ucell", threads=args.threads)
    rep = args.repeat
    (ours, _), neurokine_s = timed(score_cells, X, names, sets, random_state=0,
                                   threads=args.threads, repeat=rep)
    (weighted, _), weighted_s = timed(score_cells, X, names, sets, method="weighted",
                                      threads=args.threads, repeat=rep)
    (_ucell, _), ucell_s = timed(score_cells, X, names, sets, method="ucell", threads=args.threads,
                                 repeat=rep)
    print(f"neurokine mean {neurokine_s:.2f} s, weighted {weighted_s:.2f} s, ucell {ucell_s:.2f} s "
          f"(first call {warmup_s:.2f} s)", flush=True)

    genes = np.concatenate([names.get_indexer(g) for g in sets.values()])
    cols = np.repeat(np.arange(len(sets)), args.set_size)
    W = sp.csc_matrix((np.full(len(genes), 1.0 / args.set_size), (genes, cols)),
                      shape=(args.genes, len(sets)))
    _, matmul_s = timed(lambda: (X @ W).toarray(), repeat=rep)
    # For context: scipy on neurokine's own `mean` weights (set + control genes of every
    # signature), i.e. the same product the engine computes.
    from neurokine.scoring.engine import plan_scoring
    from neurokine.scoring.params import ScoringParams
    from neurokine.scoring.rows import MemoryRows

    full = plan_scoring(MemoryRows(X), names, sets, ScoringParams())[0].weights.tocsc()
    _, matmul_full_s = timed(lambda: (X @ full).toarray(), repeat=rep)
    print(f"bare X @ W {matmul_s:.2f} s (with control genes {matmul_full_s:.2f} s)", flush=True)
    neurokine_rss = peak_rss_mb()  # matrix + neurokine, before any baseline runs

    result = {"mode": "in_memory", "cells": args.cells, "genes": args.genes,
              "nnz_per_cell": round(X.nnz / X.shape[0], 1), "signatures": len(sets),
              "threads": args.threads, "repeat": rep, "neurokine_s": round(neurokine_s, 3),
              "neurokine_weighted_s": round(weighted_s, 3), "neurokine_ucell_s": round(ucell_s, 3),
              "neurokine_first_call_s": round(warmup_s, 3), "matmul_s": round(matmul_s, 3),
              "matmul_with_controls_s": round(matmul_full_s, 3),
              "ratio_vs_matmul": round(neurokine_s / matmul_s, 2),
              "scanpy_s": None, "speedup_vs_scanpy": None, "max_abs_diff_vs_scanpy": None,
              "ulm_s": None, "speedup_vs_ulm": None, "max_abs_diff_vs_ulm": None}

    if not args.no_scanpy:
        import anndata as ad
        import scanpy as sc

        adata = ad.AnnData(X=X, var=pd.DataFrame(index=names))
        reference = {}
        start = time.perf_counter()
        for name, genes_ in sets.items():
            sc.tl.score_genes(adata, genes_, random_state=0, score_name="score")
            reference[name] = adata.obs["score"].to_numpy()
        scanpy_s = time.perf_counter() - start
        diff = float(np.abs(ours.to_numpy() - pd.DataFrame(reference).to_numpy()).max())
        result.update(scanpy_s=round(scanpy_s, 3), speedup_vs_scanpy=round(scanpy_s / neurokine_s, 1),
                      max_abs_diff_vs_scanpy=diff)
        print(f"scanpy loop {scanpy_s:.2f} s, max |diff| {diff:.2e}", flush=True)

    if not args.no_decoupler:
        import anndata as ad
        import decoupler as dc

        net = pd.DataFrame([(k, g, 1.0) for k, v in sets.items() for g in v],
                           columns=["source", "target", "weight"])
        small = ad.AnnData(X=X[:1000], var=pd.DataFrame(index=names))
        dc.mt.ulm(small, net, tmin=1)  # warm-up: first call compiles decoupler's numba code
        adata = ad.AnnData(X=X, var=pd.DataFrame(index=names))
        adata.obs_names = [f"c{i}" for i in range(X.shape[0])]
        # decoupler densifies sparse input in batches of `bsize` cells (default 250,000, i.e.
        # 8 GB of float64 at 50k x 20k); 10,000 keeps it at 1.6 GB on this shared machine.
        _, ulm_s = timed(dc.mt.ulm, adata, net, tmin=1, bsize=args.ulm_batch)
        ulm = adata.obsm["score_ulm"]
        keep = np.diff(X.indptr) > 0  # decoupler drops empty cells
        diff = float(np.abs(weighted.loc[keep, ulm.columns].to_numpy() - ulm.to_numpy()).max())
        result.update(ulm_s=round(ulm_s, 3), speedup_vs_ulm=round(ulm_s / weighted_s, 1),
                      max_abs_diff_vs_ulm=diff)
        print(f"decoupler ulm {ulm_s:.2f} s, max |diff| vs weighted {diff:.2e}", flush=True)

    result["peak_rss_mb"] = round(neurokine_rss, 1)
    result["peak_rss_with_baselines_mb"] = round(peak_rss_mb(), 1)
    return result


# --------------------------------------------------------------------------- from disk


def write_h5ad(path: Path, args: argparse.Namespace) -> None:
    """Write the synthetic matrix block by block (gzip, CSR), with obs, without holding it."""
    import h5py
    from anndata.io import sparse_dataset, write_elem

    names = pd.Index([f"G{i:05d}" for i in range(args.genes)])
    compression = {"compression": "gzip"}
    with h5py.File(path, "w") as handle:
        handle.attrs["encoding-type"], handle.attrs["encoding-version"] = "anndata", "0.1.0"
        write_elem(handle, "obs", synthetic_obs(args.cells, args.seed))
        write_elem(handle, "var", pd.DataFrame(index=names))
        dataset = None
        for _counts, values in synthetic_blocks(args.cells, args.genes, args.nnz_per_cell, args.seed):
            if dataset is None:
                write_elem(handle, "X", values, dataset_kwargs=compression)
                dataset = sparse_dataset(handle["X"])
            else:
                dataset.append(values)


def child(args: argparse.Namespace) -> dict:
    """Run one measured step in this (fresh) process and report its time and peak RSS.

    Imports happen before the clock starts (their memory still counts in the peak RSS).
    """
    if args.child == "score":
        from neurokine.scoring.params import ScoringParams
        from neurokine.scoring.stream import score_and_aggregate
    else:
        import scanpy as sc
    start = time.perf_counter()
    if args.child == "score":
        names = pd.Index([f"G{i:05d}" for i in range(args.genes)])
        sets = signatures(names, args.signatures, args.set_size, args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            result = score_and_aggregate(args.path, sets, [], [], ScoringParams(method=args.method),
                                         cell_scores_path=Path(tmp) / "cell_scores.parquet",
                                         threads=args.threads, counts_key=None)
        extra = {"n_blocks": result.n_blocks, "groups": int(len(result.donor_scores) / len(sets))}
    else:
        adata = sc.read_h5ad(args.path)
        extra = {"nnz": int(adata.X.nnz)}
    return {"seconds": round(time.perf_counter() - start, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
            **extra}


def run_child(args: argparse.Namespace, kind: str, path: Path) -> dict:
    """Start this script as a child process for one step; return its JSON line."""
    command = [sys.executable, __file__, "--child", kind, "--path", str(path), "--cells",
               str(args.cells), "--genes", str(args.genes), "--signatures", str(args.signatures),
               "--set-size", str(args.set_size), "--seed", str(args.seed), "--threads",
               str(args.threads), "--method", args.method]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        sys.exit(run.stderr[-3000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def run_from_disk(args: argparse.Namespace) -> dict:
    """Write the .h5ad, then measure neurokine scoring from disk and scanpy's load, each alone."""
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nk-bench-"))
    path = workdir / f"synthetic_{args.cells}x{args.genes}_seed{args.seed}.h5ad"
    if not path.exists():
        _, write_s = timed(write_h5ad, path, args)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MB) in {write_s:.1f} s", flush=True)
    runs = [run_child(args, "score", path) for _ in range(args.repeat)]
    print(f"neurokine from disk: {runs}", flush=True)
    # fastest time (other jobs share the machine), largest peak RSS (the honest memory figure)
    score = {**runs[0], "seconds": min(r["seconds"] for r in runs),
             "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    load = run_child(args, "scanpy-load", path)
    print(f"scanpy.read_h5ad: {load}", flush=True)
    nnz = load["nnz"]
    matrix_mb = (nnz * (4 + 4) + (args.cells + 1) * 8) / 2**20  # float32 data, int32 indices
    if not args.keep and args.workdir is None:
        path.unlink()
    return {"mode": "from_disk", "cells": args.cells, "genes": args.genes, "signatures": args.signatures,
            "method": args.method, "threads": args.threads, "repeat": args.repeat,
            "neurokine_s": score["seconds"],
            "peak_rss_mb": score["peak_rss_mb"], "n_blocks": score["n_blocks"],
            "scanpy_load_s": load["seconds"], "scanpy_load_rss_mb": load["peak_rss_mb"],
            "matrix_in_memory_mb": round(matrix_mb, 1), "file_mb": round(path.stat().st_size / 2**20, 1)
            if path.exists() else None, "scanpy_s": None, "ulm_s": None, "matmul_s": None,
            "speedup_vs_scanpy": None, "max_abs_diff_vs_scanpy": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--nnz-per-cell", type=float, default=1100.0)
    parser.add_argument("--signatures", type=int, default=40)
    parser.add_argument("--set-size", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="numba threads for neurokine (1 = same footing as scanpy)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="neurokine and X @ W timings are the fastest of this many runs "
                             "(the scanpy loop, decoupler and scanpy's load run once); "
                             "--from-disk reports the largest peak RSS of its runs")
    parser.add_argument("--from-disk", action="store_true")
    parser.add_argument("--method", default="mean", help="method scored in --from-disk mode")
    parser.add_argument("--workdir", help="where --from-disk writes (and reuses) the .h5ad")
    parser.add_argument("--keep", action="store_true", help="keep the .h5ad after --from-disk")
    parser.add_argument("--no-scanpy", action="store_true", help="skip the scanpy loop")
    parser.add_argument("--no-decoupler", action="store_true", help="skip decoupler ulm")
    parser.add_argument("--ulm-batch", type=int, default=10_000,
                        help="decoupler's bsize (cells densified at once)")
    parser.add_argument("--child", choices=["score", "scanpy-load"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    result = run_from_disk(args) if args.from_disk else run_in_memory(args)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
