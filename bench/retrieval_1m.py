"""Retrieval and evaluation at SF-XL scale with bounded memory: 1 M x 512 generated descriptors.

Methods, each in its own subprocess so that its peak memory (``ru_maxrss``) is its own:

* ``exact``: exact search with the database streamed in chunks (``retrieval.search`` with
  ``db_chunk``), the generator producing one chunk at a time, so the 2 GiB matrix is never in
  memory; its top-100 is the reference for the recall of the others.
* ``ivfpq``: ``IndexIVFPQ`` (``retrieval.search(index='ivfpq')``), trained on a seeded sample,
  filled chunk by chunk; optionally with an exact re-ranking of its shortlist (``refine``).
* ``eval``: ground-truth positives (KD-tree, 25 m) and Recall@N for 1,000 queries against
  1 M database UTM positions (SF-XL-like street grid, 12 headings per place), showing that
  positives and evaluation stay linear in the number of queries (no queries x database matrix).

Descriptor generator (``StructuredDescriptors``): not iid Gaussian (where every point is about
equally far from every other and ANN is meaningless) but shaped like real global descriptors
(NetVLAD / CosPlace PCA spectra decay fast, images of one place cluster): ``clusters`` places
(default 20,000, ~50 images each, like nearby views of one street segment) grouped in areas
of 20 places (nearby places look alike: place centre = area centre + 0.5 x an offset) whose
centres lie in a ``rank``-dimensional latent space (default 64) with a power-law spectrum
(variance of latent axis j ~ (1 + j)^-0.8), embedded in 512-D by a fixed random orthonormal
map; each image = its
centre + a within-place latent offset (scale 0.45 of the centre spread, same spectrum) + 512-D
isotropic noise (0.02 per dim); rows are L2-normalised by the retrieval. Queries are noisy
copies of random database rows (latent offset 0.35 and 512-D noise 0.02: another view of the
same place), so their exact neighbours are the image they copy and its place, the situation of
a real query. Rows come in blocks of 65,536 seeded by (seed, block), so any row range is
generated deterministically without the rest of the matrix.

Usage: OMP_WAIT_POLICY=PASSIVE python bench/retrieval_1m.py [--n 1000000] [--d 512] [--q 1000]
       [--k 100] [--methods exact,ivfpq,ivfpq-refine,eval] [--nlist 2048] [--m 64]
       [--nprobe 16,32,64] (swept on one index per method)
Last line: ``ivfpq_refine_recall100: <recall@100 vs exact of the refined IVF-PQ>``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK = 65536


class StructuredDescriptors:
    """Deterministic clustered low-rank descriptors [n, d], generated block by block."""

    def __init__(self, n=1_000_000, d=512, clusters=20_000, rank=64, seed=0):
        self.n, self.d, self.clusters, self.rank, self.seed = n, d, clusters, rank, seed
        self.shape = (n, d)
        self.dtype = np.dtype(np.float32)
        rng = np.random.default_rng([seed, 0])
        self.spectrum = ((1.0 + np.arange(rank)) ** -0.4).astype(np.float32)  # std, var^-0.8
        q, _ = np.linalg.qr(rng.standard_normal((d, rank)))
        self.basis = q.T.astype(np.float32)  # [rank, d] orthonormal rows
        areas = max(1, clusters // 20)
        area = rng.standard_normal((areas, rank)) * self.spectrum
        place = 0.5 * rng.standard_normal((clusters, rank)) * self.spectrum
        self.centres = (area[np.arange(clusters) % areas] + place).astype(np.float32)

    def __len__(self) -> int:
        return self.n

    def _block(self, b: int) -> np.ndarray:
        s, e = b * BLOCK, min(self.n, (b + 1) * BLOCK)
        rng = np.random.default_rng([self.seed, 1, b])
        lab = rng.integers(0, self.clusters, e - s)
        z = self.centres[lab] + 0.45 * self.spectrum * rng.standard_normal(
            (e - s, self.rank), dtype=np.float32
        )
        x = z @ self.basis
        x += 0.02 * rng.standard_normal((e - s, self.d), dtype=np.float32)
        return x

    def __getitem__(self, sl) -> np.ndarray:
        if not isinstance(sl, slice):
            raise TypeError("StructuredDescriptors supports row slices only")
        start, stop, step = sl.indices(self.n)
        if step != 1:
            raise TypeError("StructuredDescriptors supports contiguous row slices only")
        parts = []
        for b in range(start // BLOCK, (max(stop, start + 1) - 1) // BLOCK + 1):
            bs = b * BLOCK
            blk = self._block(b)
            parts.append(blk[max(start, bs) - bs : min(stop, bs + len(blk)) - bs])
        return np.concatenate(parts) if parts else np.zeros((0, self.d), np.float32)

    def queries(self, q: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``q`` noisy copies of random database rows (and those rows' indices)."""
        rng = np.random.default_rng([self.seed, 2, seed])
        src = np.sort(rng.choice(self.n, q, replace=False))
        rows = []
        for b in np.unique(src // BLOCK):
            blk = self._block(int(b))
            rows.append(blk[src[src // BLOCK == b] - b * BLOCK])
        x = np.concatenate(rows)
        lat = 0.35 * self.spectrum * rng.standard_normal((q, self.rank), dtype=np.float32)
        x += lat @ self.basis + 0.02 * rng.standard_normal((q, self.d), dtype=np.float32)
        return x.astype(np.float32), src


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_exact(args, out: Path) -> dict:
    from vgrerank.retrieval import search

    gen = StructuredDescriptors(args.n, args.d, seed=args.seed)
    qs, src = gen.queries(args.q)
    t0 = time.perf_counter()
    idx, dist = search(gen, qs, args.k, db_chunk=args.db_chunk)
    dt = time.perf_counter() - t0
    np.save(out / "exact_idx.npy", idx)
    # time of generating the database alone (part of dt, estimated from two blocks), to report
    # the search cost
    t1 = time.perf_counter()
    gen[0 : 2 * BLOCK]
    gen_s = (time.perf_counter() - t1) * args.n / (2 * BLOCK)
    return {
        "method": f"exact (db_chunk {args.db_chunk})",
        "build_s": 0.0,
        "search_s": dt,
        "gen_s": gen_s,
        "ms_per_query": 1000 * (dt - gen_s) / args.q,
        "peak_mib": _peak_mib(),
        "recall100": 1.0,
        "top1_is_source": float(np.mean(idx[:, 0] == src)),
    }


def run_ivfpq(args, out: Path, refine: bool) -> list[dict]:
    from vgrerank._faiss import import_faiss
    from vgrerank.retrieval import build_ivfpq

    faiss = import_faiss()
    gen = StructuredDescriptors(args.n, args.d, seed=args.seed)
    qs, src = gen.queries(args.q)
    opts = dict(
        nlist=args.nlist,
        m=args.m,
        nbits=8,
        nprobe=int(args.nprobe.split(",")[0]),
        train_size=args.train_size,
        db_chunk=args.db_chunk,
        refine=refine,
        refine_k_factor=args.refine_k_factor,
        opq=args.opq,
    )
    t0 = time.perf_counter()
    index = build_ivfpq(gen, **opts)
    build_s = time.perf_counter() - t0
    qn = qs.copy()
    faiss.normalize_L2(qn)
    exact = np.load(out / "exact_idx.npy") if (out / "exact_idx.npy").is_file() else None
    name = "ivfpq" + ("+opq" if args.opq else "") + ("+refine" if refine else "")
    rows = []
    variants = [(name, index)]
    if refine and args.plain_too:
        variants.insert(0, (name.replace("+refine", "") + " [index of the refine run]", None))
    for (vname, vindex), nprobe in [
        (v, int(npb)) for v in variants for npb in args.nprobe.split(",")
    ]:
        index.ivf.nprobe = nprobe
        if vindex is None:  # the PQ index alone, without the exact re-ranking
            vindex = type(index)(index.index, index.ivf, {**index.params, "refine": False}, None)
        vindex.search(qn[:10], args.k)  # warm-up
        t0 = time.perf_counter()
        _, idx = vindex.search(qn, args.k)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(min(100, args.q)):  # one query at a time: latency, not throughput
            vindex.search(qn[i : i + 1], args.k)
        single = (time.perf_counter() - t0) / min(100, args.q)
        rec = rec1 = float("nan")
        if exact is not None:
            pairs = zip(idx, exact, strict=True)
            rec = float(np.mean([len(set(a) & set(b)) / len(b) for a, b in pairs]))
            rec1 = float(np.mean(idx[:, 0] == exact[:, 0]))
        rows.append(
            {
                "method": f"{vname} (nlist {index.params['nlist']}, m {args.m}, nprobe {nprobe})",
                "build_s": build_s,
                "search_s": dt,
                "ms_per_query": 1000 * dt / args.q,
                "ms_single_query": 1000 * single,
                "peak_mib": _peak_mib(),
                "recall100": rec,
                "recall1": rec1,
                "top1_is_source": float(np.mean(idx[:, 0] == src)),
            }
        )
    return rows


def sfxl_like_positions(n: int, headings: int = 12, spacing: float = 2.0, seed: int = 0):
    """UTM positions of ``n`` database images on a square street grid (blocks of 100 m,
    panoramas every ``spacing`` m, ``headings`` crops each), like SF-XL's database."""
    places = -(-n // headings)
    per_line = 1
    while 2 * per_line * (per_line * 100 / spacing) < places:
        per_line += 1
    length = per_line * 100.0
    t = np.arange(0.0, length, spacing)
    lines = np.arange(per_line + 1) * 100.0
    xs = np.concatenate([np.repeat(lines, len(t)), np.tile(t, len(lines))])
    ys = np.concatenate([np.tile(t, len(lines)), np.repeat(lines, len(t))])
    pos = np.stack([xs, ys], 1)[:places] + np.array([550000.0, 4180000.0])
    return np.repeat(pos, headings, axis=0)[:n]


def run_eval(args, out: Path) -> dict:
    from vgrerank.datasets.positives import positives_within
    from vgrerank.evaluate import chance_recall, recall_at_n

    rng = np.random.default_rng(args.seed)
    db = sfxl_like_positions(args.n)
    src = rng.choice(len(db), args.q, replace=False)
    q_utm = db[src] + rng.normal(0, 8.0, (args.q, 2))
    # predictions: a top-100 list per query, the true place at a random rank or missing
    pred = rng.integers(0, len(db), (args.q, args.k))
    rank = rng.integers(0, 2 * args.k, args.q)
    hit = rank < args.k
    pred[np.nonzero(hit)[0], rank[hit]] = src[hit]
    base = _peak_mib()
    t0 = time.perf_counter()
    pos = positives_within(db, q_utm, 25.0)
    t_pos = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec = recall_at_n(pred, pos)
    chance = chance_recall(len(db), pos)
    t_rec = time.perf_counter() - t0
    return {
        "method": f"eval: positives (KD-tree 25 m) + recall, {args.q} queries x {len(db)} db",
        "positives_s": t_pos,
        "recall_s": t_rec,
        "peak_mib": _peak_mib(),
        "peak_over_data_mib": _peak_mib() - base,
        "mean_positives": float(np.mean([len(p) for p in pos])),
        "recall": rec,
        "chance_r100": chance[100],
        "qxn_matrix_mib": args.q * len(db) * 8 / 2**20,
    }


def child(args) -> None:
    out = Path(args.out)
    if args.method == "exact":
        res = run_exact(args, out)
    elif args.method in ("ivfpq", "ivfpq-refine"):
        res = run_ivfpq(args, out, refine=args.method == "ivfpq-refine")
    elif args.method == "eval":
        res = run_eval(args, out)
    else:
        raise SystemExit(f"unknown method {args.method}")
    for r in res if isinstance(res, list) else [res]:
        print("RESULT " + json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--q", type=int, default=1000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db-chunk", type=int, default=65536)
    ap.add_argument("--nlist", type=int, default=2048)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--nprobe", default="16,32,64", help="comma list, swept on one index")
    ap.add_argument("--train-size", type=int, default=100_000)
    ap.add_argument("--refine-k-factor", type=float, default=4)
    ap.add_argument("--opq", action="store_true")
    ap.add_argument(
        "--plain-too",
        action="store_true",
        help="also time the refine run's PQ index without re-ranking (peak memory then "
        "includes the float32 store; run method ivfpq for its own)",
    )
    ap.add_argument("--methods", default="exact,ivfpq,ivfpq-refine,eval")
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.method:
        child(args)
        return
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            cmd = [sys.executable, __file__, *sys.argv[1:], "--method", method, "--out", tmp]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if p.returncode or not lines:
                print(p.stdout[-2000:], p.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"{method} failed (rc {p.returncode})")
            for ln in lines:
                res = json.loads(ln[7:])
                res["wall_s"] = time.perf_counter() - t0
                results.append(res)
                print(json.dumps(res), flush=True)
    import faiss

    print(
        f"\n{args.n} x {args.d} database, {args.q} queries, k {args.k}, "
        f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| method | build/train s | ms/query (batch) | ms/query (single) | peak MiB | R@100 vs exact |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        if r["method"].startswith("eval"):
            continue
        print(
            f"| {r['method']} | {r['build_s']:.1f} | {r['ms_per_query']:.3f} | "
            f"{r.get('ms_single_query', float('nan')):.3f} | {r['peak_mib']:.0f} | "
            f"{r['recall100']:.4f} |"
        )
    for r in results:
        if r["method"].startswith("eval"):
            print(
                f"{r['method']}: positives {r['positives_s']:.2f} s, recall+chance "
                f"{r['recall_s']:.2f} s, peak {r['peak_mib']:.0f} MiB (+{r['peak_over_data_mib']:.0f}"
                f" over the inputs; a Q x N float64 matrix would be {r['qxn_matrix_mib']:.0f} MiB), "
                f"{r['mean_positives']:.0f} positives per query"
            )
    refined = [r for r in results if "refine" in r["method"]]
    if refined:
        best = max(refined, key=lambda r: r["recall100"])
        print(f"ivfpq_refine_recall100: {best['recall100']:.4f}")
    else:
        print(f"methods_run: {len(results)}")


if __name__ == "__main__":
    main()
