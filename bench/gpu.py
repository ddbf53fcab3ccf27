"""GPU throughput of the torch stages: global extraction, retrieval, learned re-ranking.

On a CUDA machine (``device: auto`` picks the GPU) it measures

(a) global extraction in images/s: CosPlace in the official layout (ResNet-50 + GeM + FC 512,
    random weights; :mod:`vgrerank.globaldesc.cosplace`) on 512x512 images, and VLAD (preset
    ``vlad-rootsift-64``: dense RootSIFT on the CPU, OpenCV + numpy, no torch);
(b) retrieval (:func:`vgrerank.retrieval.search`) of 1,000 queries over 1,000,000 512-D
    descriptors (seeded Gaussian rows; query i = database row ``truth[i]`` + noise, so
    ``recall@1`` checks the approximate indices), index ``flat`` and ``ivfpq`` when the
    retrieval module has it; faiss runs on the GPU when the retrieval module and the installed
    faiss do, else on the CPU (the header says which faiss is installed);
(c) ALIKED + LightGlue + MAGSAC re-ranking at K = 100 (registry presets ``aliked``,
    ``lightglue``, ``magsac``; :func:`vgrerank.rerank_core.score_candidates`), in seconds per
    query: extracting the query's features + matching and scoring its K candidates, whose
    features are cached beforehand as in the workflow (database extraction is reported
    separately in images/s). Images: the ``../shared`` place triplets (queries; same-place
    frames are candidates) and Pexels photos (the other candidates), longer side 640 px, or
    rendered SynthCity street views when ``../shared`` is absent. Also the non-adaptive,
    batched LightGlue variant (``adaptive: false``) for comparison. Goal: < 0.5 s per query on
    one H100/H200.

Without CUDA it runs the ``--smoke`` sizes on the CPU (and says so) and exits 0. ``--smoke``
(< 2 min on 2 CPU cores): 4 CosPlace images at 224 px, 3 VLAD images, 20,000 x 512 database
with 100 queries (a small IVF-PQ), 1 query x K = 3 with ``aliked-k512`` capped at 256
keypoints, 320 px.

Usage: .venv/bin/python bench/gpu.py [--smoke] [--device auto|cpu|cuda] [--k 100]
LAST line: ``gpu_rerank_s_per_query: X`` (the preset method, adaptive LightGlue).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from vgrerank.device import resolve_device
from vgrerank.errors import ConfigError
from vgrerank.globaldesc.registry import get_global_preset, make_global
from vgrerank.imageio import load_image, resize_max
from vgrerank.local.registry import build_method, parse_method
from vgrerank.rerank_core import score_candidates
from vgrerank.retrieval import search

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "real"

FULL = {
    "cos_n": 256, "cos_side": 512, "cos_batch": 32, "vlad_n": 16,
    "ret_n": 1_000_000, "ret_q": 1000, "ret_d": 512, "ret_k": 100,
    "queries": 10, "k": 100, "extractor": "aliked", "side": 640, "max_kpts": None,
    "ivfpq": {},
}  # fmt: skip
SMOKE = {
    "cos_n": 4, "cos_side": 224, "cos_batch": 2, "vlad_n": 3,
    "ret_n": 20_000, "ret_q": 100, "ret_d": 512, "ret_k": 100,
    "queries": 1, "k": 3, "extractor": "aliked-k512", "side": 320, "max_kpts": 256,
    "ivfpq": {"nlist": 64, "m": 32, "nbits": 6, "train_size": 4000},
}  # fmt: skip


def header(dev: torch.device) -> None:
    print(f"python {platform.python_version()}, torch {torch.__version__}", end="")
    print(f", built for CUDA {torch.version.cuda or 'none'}", end="")
    print(f", cuda available: {torch.cuda.is_available()}")
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        print(
            f"GPU: {torch.cuda.get_device_name(dev)} ({p.total_memory / 2**30:.0f} GiB, "
            f"compute {p.major}.{p.minor}), cuDNN {torch.backends.cudnn.version()}"
        )
    else:
        print("GPU: none (CPU run)")
    try:
        import faiss

        ngpu = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        print(f"faiss {faiss.__version__}, GPUs visible to faiss: {ngpu}")
    except ImportError:  # pragma: no cover
        print("faiss: not installed")
    print(f"CPU cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, device: {dev}")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def textured(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random RGB image (throughput of CNNs does not depend on content)."""
    import cv2

    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


# ------------------------------------------------------------------ (a) global extraction
def bench_global(s: dict, dev: torch.device) -> None:
    rng = np.random.default_rng(0)
    side = s["cos_side"]
    images = [textured(rng, side, side) for _ in range(s["cos_n"])]
    conf = {
        "type": "cosplace", "backbone": "resnet50", "fc_output_dim": 512, "random_init": True,
        "batch_size": s["cos_batch"], "device": str(dev),
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights
        g = make_global(conf)
        g.describe(images[: s["cos_batch"]])  # warm-up (CUDA context, cuDNN plans)
    sync(dev)
    t = time.perf_counter()
    x = g.describe(images)
    sync(dev)
    dt = time.perf_counter() - t
    assert x.shape == (len(images), 512)
    print(
        f"cosplace_r50_512: {len(images) / dt:.1f} images/s ({len(images)} images {side}x{side}, "
        f"batch {s['cos_batch']}, {dev.type})"
    )
    vconf = get_global_preset("vlad-rootsift-64")
    v = make_global(vconf)
    vimgs = [textured(rng, 480, 640) for _ in range(s["vlad_n"])]
    v.fit(lambda i: vimgs[i], len(vimgs), seed=0)
    t = time.perf_counter()
    v.describe(vimgs)
    dt = time.perf_counter() - t
    print(
        f"vlad_rootsift_64: {len(vimgs) / dt:.1f} images/s ({len(vimgs)} images 640x480, "
        "CPU: dense SIFT + numpy)"
    )


# ------------------------------------------------------------------ (b) retrieval
def bench_retrieval(s: dict, dev: torch.device) -> None:
    n, q, d, k = s["ret_n"], s["ret_q"], s["ret_d"], s["ret_k"]
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    db = rng.standard_normal((n, d), dtype=np.float32)
    truth = rng.choice(n, q, replace=False)
    queries = db[truth] + 0.3 * rng.standard_normal((q, d), dtype=np.float32)
    print(f"retrieval data: {n:,} x {d} database, {q:,} queries ({time.perf_counter() - t:.1f} s)")
    faiss_dev = "cpu" if dev.type == "cpu" else "auto"  # auto: faiss-gpu when installed
    for index, opts in (("flat", {}), ("ivfpq", s["ivfpq"])):
        t = time.perf_counter()
        try:
            idx, _ = search(db, queries, k, index, device=faiss_dev, **opts)
        except ConfigError as exc:  # an index (or option) this version does not have
            print(f"retrieval_{index}: not available ({exc})")
            continue
        dt = time.perf_counter() - t
        r1 = float(np.mean(idx[:, 0] == truth))
        print(
            f"retrieval_{index}: {dt:.2f} s for {q:,} queries (index build included), "
            f"{q / dt:.0f} queries/s, recall@1 {r1:.3f} {opts or ''}"
        )


# ------------------------------------------------------------------ (c) re-ranking
def rerank_images(s: dict) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(queries, database) images, longer side ``s['side']``, and where they come from."""
    nq, k, side = s["queries"], s["k"], s["side"]

    def load(p: Path) -> np.ndarray:
        return resize_max(load_image(p), side)[0]

    trip = REAL / "place_triplets"
    if trip.is_dir():
        places = sorted(p for p in trip.iterdir() if p.is_dir())
        frames = [sorted(pl.glob("i*/*")) for pl in places]
        queries = [f[1] for f in frames][:nq]  # second frame of a place
        db = [p for f in frames for p in (f[0], f[2])][:k]  # first and third frames
        pexels = sorted((REAL / "daynight_pexels" / "train").glob("*/*"))
        db += pexels[: max(0, k - len(db))]
        if len(queries) == nq and len(db) == k:
            return [load(p) for p in queries], [load(p) for p in db], "../shared photos"
    from vgrerank.synth import Camera, make_city, render

    city = make_city({"blocks_x": 1, "blocks_y": 1, "texels_per_m": 8}, seed=0)
    rng = np.random.default_rng(0)

    def view(y: float, heading: float, seed: int) -> np.ndarray:
        cam = Camera(x=25.0, y=y, z=1.7, heading_deg=heading, width=side, height=side * 3 // 4)
        return render(city, cam, {"condition": "day"}, np.random.default_rng(seed))

    spots = [(-15.0 + 40.0 * i / max(nq, 1), (67.0 * i) % 360) for i in range(nq)]
    queries = [view(y, h, i) for i, (y, h) in enumerate(spots)]
    db = []
    for j in range(k):  # candidate j < nq: near query j; the others: random street views
        if j < nq:
            y, h = spots[j][0] + 0.8, spots[j][1] + 4.0
        else:
            y, h = float(rng.uniform(-15, 25)), float(rng.uniform(0, 360))
        db.append(view(y, h, 1000 + j))
    return queries, db, "SynthCity renders"


def bench_rerank(s: dict, dev: torch.device) -> float:
    method = parse_method(f"{s['extractor']}+lightglue+magsac")
    if s["max_kpts"]:
        method["extractor"]["max_keypoints"] = s["max_kpts"]
    t = time.perf_counter()
    queries, db, source = rerank_images(s)
    print(
        f"rerank images: {len(queries)} queries, {len(db)} candidates each, {source}, longer "
        f"side {s['side']} px ({time.perf_counter() - t:.1f} s to load)"
    )
    built = build_method(method, device=str(dev), seed=0, parts=("extractor", "scorer"))
    ext, scorer = built["extractor"], built["scorer"]
    ext(queries[0])  # warm-up
    sync(dev)
    t = time.perf_counter()
    cands = [ext(im) for im in db]
    sync(dev)
    dt = time.perf_counter() - t
    print(
        f"db_extract_{method['extractor']['tag']}: {len(db) / dt:.1f} images/s "
        f"(mean {np.mean([len(c) for c in cands]):.0f} keypoints)"
    )
    variants = [
        ("adaptive (preset)", {}),
        ("non-adaptive, batched", {"adaptive": False, "batch_size": 16}),
    ]
    result = float("nan")
    for label, extra in variants:
        variant = {**method, "matcher": {**method["matcher"], **extra}}
        matcher = build_method(variant, device=str(dev), parts=("matcher",))["matcher"]
        score_candidates(ext(queries[0]), cands[:1], matcher, scorer)  # warm-up
        t_ext = t_match = t_score = 0.0
        top = []
        sync(dev)
        t_all = time.perf_counter()
        for im in queries:
            t = time.perf_counter()
            qf = ext(im)
            t_ext += time.perf_counter() - t
            res = score_candidates(qf, cands, matcher, scorer)
            t_match += res["t_match"]
            t_score += res["t_score"]
            top.append(int(res["inliers"].max()))
        sync(dev)
        per_q = (time.perf_counter() - t_all) / len(queries)
        nq = len(queries)
        print(
            f"rerank {method['tag']} [{label}] K={len(cands)}: {per_q:.3f} s/query "
            f"(extract {t_ext / nq:.3f}, match {t_match / nq:.3f}, score {t_score / nq:.3f}; "
            f"median best inliers {np.median(top):.0f})"
        )
        if not extra:
            result = per_q
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="small sizes (< 2 min on a CPU)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--k", type=int, default=None, help="re-ranking K (default 100; smoke 4)")
    ap.add_argument("--queries", type=int, default=None, help="re-ranked queries")
    ap.add_argument(
        "--skip", default="", help="comma list of sections to skip: global,retrieval,rerank"
    )
    args = ap.parse_args()
    dev = resolve_device(args.device)
    header(dev)
    sizes = dict(SMOKE if args.smoke else FULL)
    if dev.type != "cuda" and not args.smoke:
        print(
            "CUDA is not available: running the --smoke sizes on the CPU instead; the figures "
            "below are CPU figures, not GPU ones"
        )
        sizes = dict(SMOKE)
    if args.k:
        sizes["k"] = args.k
    if args.queries:
        sizes["queries"] = args.queries
    skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    if "global" not in skip:
        bench_global(sizes, dev)
    if "retrieval" not in skip:
        bench_retrieval(sizes, dev)
    per_q = bench_rerank(sizes, dev) if "rerank" not in skip else float("nan")
    print(f"total bench time: {time.perf_counter() - t0:.1f} s")
    print(f"gpu_rerank_s_per_query: {per_q:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
