"""Overhead of the retrieval step (vgrerank.retrieval.retrieve: HDF5 read of both descriptor
files, normalisation, chunked faiss search, HDF5 write) over bare faiss (IndexFlatL2 add +
search on in-memory arrays), on the same random L2-normalised descriptors.

Usage: python bench/retrieval.py [--n 20000] [--q 2000] [--d 2048] [--k 100] [--repeat 3]
Last line: ``retrieval_overhead: <retrieve time / bare faiss time>`` (best of ``repeat``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from vgrerank.io.global_h5 import write_global
from vgrerank.retrieval import read_retrieval, retrieve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--q", type=int, default=2000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    db = rng.standard_normal((args.n, args.d)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    qs = rng.standard_normal((args.q, args.d)).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    conf = {"type": "bench", "tag": "bench"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_global(tmp / "db.h5", [f"db/{i}.jpg" for i in range(args.n)], db, conf)
        write_global(tmp / "q.h5", [f"q/{i}.jpg" for i in range(args.q)], qs, conf, role="queries")
        t_ours, t_bare = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            index = faiss.IndexFlatL2(args.d)
            index.add(db)
            _, bare = index.search(qs, args.k)
            t_bare.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            retrieve(tmp / "db.h5", tmp / "q.h5", tmp / "r.h5", k=args.k)
            t_ours.append(time.perf_counter() - t0)
        ours = read_retrieval(tmp / "r.h5").indices
    agree = float(np.mean(ours == bare))
    print(
        f"db {args.n} x {args.d}, queries {args.q}, k {args.k}, faiss threads {faiss.omp_get_max_threads()}"
    )
    print(f"bare_faiss_s: {min(t_bare):.3f}")
    print(f"retrieve_s: {min(t_ours):.3f}")
    print(f"same_indices: {agree:.4f}")
    print(f"retrieval_overhead: {min(t_ours) / min(t_bare):.3f}")


if __name__ == "__main__":
    main()
