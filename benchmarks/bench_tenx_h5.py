"""Benchmark neurokine's 10x HDF5 reader against scanpy.read_10x_h5 (peak memory and time).

A seeded synthetic Cell Ranger v3 filtered_feature_bc_matrix.h5 (default 30,000 cells x 36,601
features, ~1,000 non-zeros per cell, int32 data, int64 indices, gzip; 10 symbols on two ids as
in GRCh38) is written block by block. Then, each in a fresh child process so peaks do not mix:

* ``neurokine``: ``neurokine.io.loaders.tenx_h5.read_tenx_h5`` (reads barcodes in blocks,
  validates each block as counts, returns CSR int32);
* ``scanpy``: ``scanpy.read_10x_h5(path, gex_only=False)`` (reads whole datasets, float32 X),
  the baseline neurokine used before issue 18.

Reported: wall time and peak RSS (VmHWM) of each child, and the ratios. The last line printed
is one JSON object. Example:

    python benchmarks/bench_tenx_h5.py --cells 30000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

FEATURES, BLOCK = 36_601, 2_000

CHILD = {
    "neurokine": ("from neurokine.io.loaders.tenx_h5 import read_tenx_h5\n"
                  "adata, _ = read_tenx_h5(PATH)\n"),
    "scanpy": ("import scanpy as sc\n"
               "adata = sc.read_10x_h5(PATH, gex_only=False)\n"),
}
MEASURE = """
import time, json, sys
from pathlib import Path
PATH = Path(sys.argv[1])
start = time.perf_counter()
{body}
seconds = time.perf_counter() - start
peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))
print(json.dumps({{"seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024),
                  "cells": adata.n_obs, "nnz": int(adata.X.nnz)}}))
"""


def write_file(path: Path, cells: int, per_cell: int, seed: int) -> int:
    """Write the synthetic h5 block by block; return its number of non-zeros."""
    rng = np.random.default_rng(seed)
    ids = [f"ENSG{i:011d}" for i in range(FEATURES)]
    names = [f"GENE{i}" for i in range(FEATURES)]
    for i in range(10):  # GRCh38 gives a few symbols to two Ensembl ids
        names[FEATURES - 1 - i] = names[i]
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["barcodes"] = np.array([f"{i:016d}-1".encode() for i in range(cells)])
        data = m.create_dataset("data", (0,), np.int32, maxshape=(None,), chunks=(1 << 16,),
                                compression="gzip")
        indices = m.create_dataset("indices", (0,), np.int64, maxshape=(None,),
                                   chunks=(1 << 16,), compression="gzip")
        indptr = [0]
        for start in range(0, cells, BLOCK):
            n = min(BLOCK, cells - start)
            per = rng.poisson(per_cell, n)
            cols = [np.sort(rng.choice(FEATURES, k, replace=False)) for k in per]
            values = rng.geometric(0.5, int(per.sum())).astype(np.int32)
            old = data.shape[0]
            data.resize((old + len(values),))
            indices.resize((old + len(values),))
            data[old:] = values
            indices[old:] = np.concatenate(cols)
            indptr.extend((old + np.cumsum(per)).tolist())
        m["indptr"] = np.array(indptr, dtype=np.int64)
        m["shape"] = np.array([FEATURES, cells], dtype=np.int32)
        feat = m.create_group("features")
        feat["id"], feat["name"] = np.array(ids, dtype="S"), np.array(names, dtype="S")
        feat["feature_type"] = np.full(FEATURES, b"Gene Expression")
        feat["genome"] = np.full(FEATURES, b"GRCh38")
        feat["_all_tag_keys"] = np.array([b"genome"])
        return int(indptr[-1])


def measure(name: str, path: Path) -> dict:
    """Run one reader in a fresh interpreter and return its time and peak RSS."""
    code = MEASURE.format(body=CHILD[name])
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=30_000)
    parser.add_argument("--per-cell", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tenx-") as tmp:
        path = Path(tmp) / "filtered_feature_bc_matrix.h5"
        nnz = write_file(path, args.cells, args.per_cell, args.seed)
        result = {"cells": args.cells, "features": FEATURES, "nnz": nnz,
                  "file_mb": round(path.stat().st_size / 2**20)}
        for name in CHILD:
            result[name] = measure(name, path)
            print(name, result[name], flush=True)
    result["peak_rss_ratio_scanpy_over_neurokine"] = round(
        result["scanpy"]["peak_rss_mb"] / result["neurokine"]["peak_rss_mb"], 2)
    result["time_ratio_scanpy_over_neurokine"] = round(
        result["scanpy"]["seconds"] / result["neurokine"]["seconds"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
