"""LightGlue on CPU: full depth vs adaptive depth / point pruning vs batched pairs, on the demo.

LightGlue (ALIKED, 512 keypoints) costs about 20-30 GFLOP per pair at full depth, compute-bound
on 2 cores. kornia's LightGlue can stop early (``depth_confidence``: stop after layer i when that
share of the points is confident) and prune points that are confidently unmatchable
(``width_confidence``); the ``lightglue`` preset keeps kornia's defaults for ALIKED (0.95 / 0.99,
both on). This script matches the demo's night queries against their retrieval top-K with:

- ``full``: ``lightglue-full`` (``adaptive: false``): all 9 layers, no pruning, one pair at a time;
- ``adaptive``: ``lightglue`` (depth 0.95, width 0.99), one pair at a time;
- ``batched``: ``lightglue-full`` with ``batch: true`` through ``match_many``: a query's
  candidates in batches of 16 (padded, with attention masks when their lengths differ), the same
  matches as ``full`` one pair at a time;
- optional (``--modes``): ``depth`` (0.95, no pruning), ``width`` (0.99, no early stop) and
  ``d<x>-w<y>`` (any pair of confidences, -1 = off).

Adaptive depth and pruning are decisions per pair (kornia runs a batch that prunes one pair at a
time), so they do not combine with batching. Every pair is scored with MAGSAC 3 px (seed 0) and
each query's candidates re-ranked; the script counts the queries whose top-1 differs from
``full``'s and the R@1 of each mode (positive within 25 m, from the ``@UTM`` image names).

Modes run interleaved per query (the order rotates) so that machine load hits all of them alike;
per-pair time = matching time of the query's K candidates / K.

Data: the demo's cached ALIKED features (``aliked-n16-k512-r480``) and retrieval of the night
split under ``--results`` (default ``results`` of the checkout, i.e. after ``make demo``); when
they are absent, a small SynthCity (1x1 blocks, night queries) is rendered in a temporary folder,
its features extracted with the same preset and each query's K nearest database views used as
its shortlist.

Measured (16 demo night queries x 20 candidates, 512 keypoints, loaded 2-core machine; per pair
/ speedup over full / top-1s changed of 16; R@1 56.2 % in every mode): full 1339 ms;
adaptive 755 ms / 1.77x / 2; depth only 1128 ms / 1.19x / 2; width only 968 ms / 1.38x / 2;
d0.9-w0.95 418 ms / 3.21x / 5; batched (batch 16, padded) 2283 ms / 0.59x / 0 (same matches as
full). Hence ``batch: auto`` batches on GPUs only.

Usage: ``.venv/bin/python bench/lightglue_adaptive.py [--queries 10] [--k 20]
[--modes full,adaptive,batched] [--results results]``. ~3 matcher passes of K pairs per query:
about 0.3-0.5 s per pair and mode on an idle 2-core machine.
Last line: ``adaptive_speedup: X`` (full per-pair time / adaptive per-pair time).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench/rerank_cache.py

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vgrerank.datasets.names import parse_name  # noqa: E402
from vgrerank.local.registry import build_method, get_preset  # noqa: E402
from vgrerank.rerank_core import rerank_order  # noqa: E402

EXTRACTOR = "aliked-k512"
GTAG_RE = re.compile(r"(?P<gtag>.+)-K(?P<k>\d+)\.h5$")


def matcher_conf(mode: str) -> tuple[dict, bool]:
    """Matcher conf of a mode and whether it matches through ``match_many`` (batched)."""
    base = {"features": "aliked", "device": "cpu"}
    if mode == "full":
        return {**get_preset("matcher", "lightglue-full"), **base, "batch_size": 1}, False
    if mode == "batched":
        return {**get_preset("matcher", "lightglue-full"), **base, "batch": True}, True
    if mode == "adaptive":
        return {**get_preset("matcher", "lightglue"), **base}, False
    if mode == "depth":
        return {"type": "lightglue", **base, "width_confidence": -1}, False
    if mode == "width":
        return {"type": "lightglue", **base, "depth_confidence": -1}, False
    m = re.fullmatch(r"d(-1|[0-9.]+)-w(-1|[0-9.]+)", mode)
    if m:
        d, w = float(m.group(1)), float(m.group(2))
        conf = {"type": "lightglue", **base, "depth_confidence": d, "width_confidence": w}
        return conf, False
    raise SystemExit(f"--modes: unknown mode {mode!r}")


def _utm(name: str) -> np.ndarray:
    info = parse_name(name)
    return np.array([info.utm_east, info.utm_north])


def demo_data(results: Path, split: str, k: int, n_queries: int):
    """(source, query features, per-query candidate features, per-query positive flags)."""
    from vgrerank.io.local_h5 import FeatureStore
    from vgrerank.retrieval import read_retrieval

    ds = results / "synthcity"
    index_dir = ds / "local" / "aliked-n16-k512-r480" / "database" / split
    indexes = sorted(index_dir.glob("*-K*.h5")) if index_dir.is_dir() else []
    cands = [(GTAG_RE.search(p.name), p) for p in indexes]
    cands = [(m["gtag"], int(m["k"]), p) for m, p in cands if m and int(m["k"]) >= k]
    if not cands:
        return None
    gtag, _, index = cands[0]
    rets = sorted((ds / split / "retrieval").glob(f"{gtag}-K*.h5"))
    qfile = ds / "local" / "aliked-n16-k512-r480" / f"queries_{split}.h5"
    if not rets or not qfile.is_file():
        return None
    ret = read_retrieval(rets[0])
    queries, shortlists, positives = [], [], []
    with FeatureStore(qfile) as qs, FeatureStore(index) as db:
        for i, qname in enumerate(ret.query_names[:n_queries]):
            names = [ret.db_names[j] for j in ret.indices[i, :k] if j >= 0]
            queries.append(qs[qname])
            shortlists.append([db[n] for n in names])
            q_utm = _utm(qname)
            positives.append(
                np.array([np.linalg.norm(_utm(n) - q_utm) <= 25.0 for n in names], dtype=bool)
            )
    src = f"demo {ds} ({split}, {gtag} top-{k}, cached ALIKED k512 features)"
    return src, queries, shortlists, positives


def rendered_data(k: int, n_queries: int, tmp: Path):
    from vgrerank.datasets.readers import read_vg_dataset
    from vgrerank.imageio import load_image
    from vgrerank.synth import write_dataset

    conf = {
        "blocks_x": 1,
        "blocks_y": 1,
        "db_spacing_m": 5.0,
        "db_headings": 4,
        "seed": 0,
        "queries": {"night": {"condition": "night", "n": n_queries, "ambient": 0.03}},
    }
    print(f"demo results absent: rendering a small SynthCity in {tmp} ...", flush=True)
    write_dataset(conf, tmp, progress=False)
    ds = read_vg_dataset("synthcity", tmp, ["night"])
    db, qs = ds.database, ds.queries["night"]
    ext = build_method(
        {"extractor": get_preset("extractor", EXTRACTOR)}, device="cpu", parts=("extractor",)
    )["extractor"]
    feats: dict[int, object] = {}
    queries, shortlists, positives = [], [], []
    for qi in range(len(qs)):
        d = np.linalg.norm(db.utm - qs.utm[qi], axis=1)
        near = np.argsort(d, kind="stable")[:k]
        for j in near:
            if j not in feats:
                feats[j] = ext(load_image(tmp / db.names[j]))
        queries.append(ext(load_image(tmp / qs.names[qi])))
        shortlists.append([feats[j] for j in near])
        positives.append(d[near] <= 25.0)
    return "rendered SynthCity (1x1 blocks, K nearest views)", queries, shortlists, positives


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--split", default="night")
    ap.add_argument("--modes", default="full,adaptive,batched")
    ap.add_argument("--results", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    args = ap.parse_args()
    modes = args.modes.split(",")
    if "full" not in modes or "adaptive" not in modes:
        raise SystemExit("--modes must include 'full' and 'adaptive'")

    with tempfile.TemporaryDirectory() as tmp:
        data = demo_data(args.results, args.split, args.k, args.queries)
        if data is None:
            data = rendered_data(args.k, args.queries, Path(tmp))
    source, queries, shortlists, positives = data
    n_pairs = sum(len(s) for s in shortlists)
    print(f"data: {source}; {len(queries)} queries, {n_pairs} pairs")
    print(
        f"keypoints: query {np.mean([len(q) for q in queries]):.0f}, candidate "
        f"{np.mean([len(c) for s in shortlists for c in s]):.0f} (mean); torch threads "
        f"{torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    matchers = {}
    for mode in modes:
        conf, batched = matcher_conf(mode)
        m = build_method({"matcher": conf}, parts=("matcher",))["matcher"]
        kc = m.net.conf
        print(
            f"  {mode}: depth_confidence {kc.depth_confidence}, width_confidence "
            f"{kc.width_confidence}, {'match_many, batch ' + str(m.conf['batch_size']) if batched else 'one pair at a time'}"
        )
        matchers[mode] = (m, batched)
    scorer = build_method({"scorer": get_preset("scorer", "magsac")}, seed=0, parts=("scorer",))[
        "scorer"
    ]
    m0, _ = matchers["full"]
    m0.match(queries[0], shortlists[0][0])  # warm-up

    t_match = dict.fromkeys(modes, 0.0)
    top1 = {mode: [] for mode in modes}
    hits = {mode: [] for mode in modes}
    same_matches = dict.fromkeys(modes, 0)
    t_start = time.perf_counter()
    for qi, (q, cands, pos) in enumerate(zip(queries, shortlists, positives, strict=True)):
        order = modes[qi % len(modes) :] + modes[: qi % len(modes)]
        matches = {}
        for mode in order:
            m, batched = matchers[mode]
            t0 = time.perf_counter()
            if batched:
                res = m.match_many(q, cands)
            else:
                res = [m.match(q, c) for c in cands]
            t_match[mode] += time.perf_counter() - t0
            matches[mode] = res
        for mode in modes:
            res = matches[mode]
            same_matches[mode] += sum(
                np.array_equal(a, b) for a, b in zip(res, matches["full"], strict=True)
            )
            scores = np.array(
                [
                    scorer.score(
                        q.keypoints[mm[:, 0]], c.keypoints[mm[:, 1]], q, c, matches=mm
                    ).score
                    for c, mm in zip(cands, res, strict=True)
                ]
            )
            best = int(rerank_order(scores)[0])
            top1[mode].append(best)
            hits[mode].append(bool(pos[best]))
        done = qi + 1
        el = time.perf_counter() - t_start
        print(
            f"  query {done}/{len(queries)}: "
            + ", ".join(
                f"{md} {t_match[md] / sum(len(s) for s in shortlists[:done]) * 1e3:.0f}"
                for md in modes
            )
            + f" ms/pair ({el:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    n = len(queries)
    per_pair = {mode: t_match[mode] / n_pairs for mode in modes}
    print(
        f"{'mode':<10} {'ms/pair':>8} {'vs full':>8} {'top-1 changed':>14} {'R@1':>6} {'same matches':>13}"
    )
    for mode in modes:
        changed = sum(a != b for a, b in zip(top1[mode], top1["full"], strict=True))
        print(
            f"{mode:<10} {per_pair[mode] * 1e3:8.0f} {per_pair['full'] / per_pair[mode]:8.2f} "
            f"{changed:>9d} / {n:<3d} {100 * np.mean(hits[mode]):6.1f} "
            f"{same_matches[mode]:>6d} / {n_pairs}"
        )
    for mode in modes:
        if mode not in ("full", "adaptive"):
            print(f"{mode.replace('-', '_')}_speedup: {per_pair['full'] / per_pair[mode]:.2f}")
    for mode in modes:
        diff = [i for i in range(n) if top1[mode][i] != top1["full"][i]]
        if diff and mode != "full":
            kinds = [
                f"{'+' if hits['full'][i] else '-'}>{'+' if hits[mode][i] else '-'}" for i in diff
            ]
            print(f"{mode}: changed top-1s (full -> {mode}, + positive / - negative): {kinds}")
    changed = sum(a != b for a, b in zip(top1["adaptive"], top1["full"], strict=True))
    print(f"adaptive_top1_changed: {changed} of {n}")
    print(f"adaptive_speedup: {per_pair['full'] / per_pair['adaptive']:.2f}")


if __name__ == "__main__":
    main()
