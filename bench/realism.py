"""Does SynthCity night rank re-ranking methods as real night photos do?

For each method (library presets ``extractor+matcher+scorer``):

(a) real night: with ``--real-recall`` (e.g. the ``results/tables/recall.csv`` of
    ``config/gardens_point.yaml``), the workflow's R@1 of each method on the 200 Gardens Point
    night queries (``--real-dataset``, default ``gp_night_left``: night_right vs day_left, +-2
    frames; ``--real-split`` night); else the 6-place sample: each grey Gardens Point night frame of ``../shared/data/real/place_triplets``
    (p0-p3, p8, p9; the frame with zero colour saturation) against the two colour day frames of
    all 6 places; a place scores the best of its frames; credit 1 when its own place is first
    (1/t when t places tie for first);
(b) SynthCity night: a small generated city (``vgrerank.synth.write_dataset``: day database,
    ``--queries`` night queries), each query against its 2 nearest database views within 25 m and
    45 degrees of heading (its own "place") plus ``--distractors`` database views more than 50 m
    away (each its own place, drawn from a fixed seeded pool); same credit.

Prints both per-method tables (fraction of queries with their own place first), the margin of
learned over classical (OpenCV) features in both, the mean absolute difference, then, as the
last line, ``rank_agreement: X``, the Spearman rank correlation of the two method orders
(``scipy.stats.spearmanr``, ties get average ranks). Seeded and deterministic.

Usage: python bench/realism.py [--queries 16] [--distractors 4] [--seed 0] [--methods a,b]
       [--no-sensor] (night without the sensor effects of vgrerank.synth.sensor: the old look)
       [--keep DIR] (render there and keep the images; reused when its conf is the same:
       delete it after changing the renderer) [--night JSON] (extra night parameters)
       [--recall results/tables/recall.csv [--split night]] (SynthCity side = the workflow's own
       R@1 of each method re-ranking the retrieval top-K, e.g. of ``make demo``)
       [--real-recall GP_RECALL.csv [--real-dataset gp_night_left] [--real-split night]] (real
       side = the Gardens Point table's R@1, 200 night queries, instead of the 6-place sample)
Only methods present in every table used are compared (matched by their result tags).
CPU cost: most of it is ALIKED / XFeat + LightGlue on CPU; ``--queries 24 --distractors 6``
took about 30 CPU-minutes on a loaded 2-core machine; the defaults do about half the matching.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from vgrerank.datasets.positives import heading_difference  # noqa: E402
from vgrerank.datasets.readers import read_vg_dataset  # noqa: E402
from vgrerank.errors import ConfigError  # noqa: E402
from vgrerank.imageio import load_image  # noqa: E402
from vgrerank.local.registry import (  # noqa: E402
    build_method,
    parse_method,
)
from vgrerank.rerank_core import score_candidates  # noqa: E402
from vgrerank.synth import resolve_conf, write_dataset  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
TRIPLETS = SHARED / "data" / "real" / "place_triplets"
GARDENS_POINT = ("p0", "p1", "p2", "p3", "p8", "p9")
METHODS = (
    "sift+mnn+magsac",
    "rootsift+mnn+magsac",
    "orb+mnn+magsac",
    "akaze+mnn+magsac",
    "aliked-k512+mnn+magsac",
    "aliked-k512+lightglue+magsac",
    "xfeat-k1024+lightglue+magsac",
)
CLASSICAL = ("sift", "rootsift", "orb", "akaze")
SYNTH_CONF = {  # the demo's city (config/config.yaml synthcity), night queries only
    "blocks_x": 2,
    "blocks_y": 2,
    "db_spacing_m": 5.0,
    "db_headings": 4,
}


class Models:
    """Extractors / matchers / scorers built once per preset; features cached per image."""

    def __init__(self) -> None:
        self.objs: dict = {}
        self.feats: dict = {}

    def _get(self, kind: str, conf: dict):
        key = (kind, repr(sorted(conf.items())))
        if key not in self.objs:
            device = None if kind == "scorer" else "cpu"
            self.objs[key] = build_method({kind: conf}, device=device, parts=(kind,))[kind]
        return self.objs[key]

    def method(self, name: str):
        m = parse_method(name)
        return (
            m["extractor"],
            self._get("extractor", m["extractor"]),
            self._get("matcher", m["matcher"]),
            self._get("scorer", m["scorer"]),
        )

    def features(self, ext_conf: dict, ext, key: str, image_fn):
        k = (ext_conf["tag"], key)
        if k not in self.feats:
            self.feats[k] = ext(image_fn())
        return self.feats[k]


def own_place_credit(scores: np.ndarray, places: np.ndarray, own: int) -> float:
    """1/t when ``own`` is among the t places with the highest score (a place scores the best of
    its images), else 0."""
    best = {int(p): float(scores[places == p].max()) for p in np.unique(places)}
    top = max(best.values())
    tied = [p for p, s in best.items() if s == top]
    return 1.0 / len(tied) if own in tied else 0.0


def rank_query(models: Models, method: str, query, candidates, places, own) -> float:
    """``query`` / ``candidates``: (key, image loader) pairs."""
    ext_conf, ext, matcher, scorer = models.method(method)
    fq = models.features(ext_conf, ext, *query)
    fc = [models.features(ext_conf, ext, *c) for c in candidates]
    out = score_candidates(fq, fc, matcher, scorer)
    return own_place_credit(out["score"], np.asarray(places), own)


def _loader(path: Path):
    return lambda: load_image(path)


def real_night(models: Models, methods) -> dict[str, float]:
    """Fraction of the 6 Gardens Point night frames whose own place ranks first."""
    day, night = [], []
    for pid, p in enumerate(GARDENS_POINT):
        for f in sorted((TRIPLETS / p).glob("i*/*")):
            img = cv2.imread(str(f))
            sat = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 1]
            (night if int(sat.max()) == 0 else day).append((pid, f))
    if len(night) != len(GARDENS_POINT) or len(day) != 2 * len(GARDENS_POINT):
        raise SystemExit(f"{TRIPLETS}: expected 6 grey night and 12 colour day frames")
    cands = [(f"real/{f.relative_to(TRIPLETS)}", _loader(f)) for _, f in day]
    places = [pid for pid, _ in day]
    res = {}
    for method in methods:
        credit = [
            rank_query(
                models, method, (f"real/{f.relative_to(TRIPLETS)}", _loader(f)), cands, places, pid
            )
            for pid, f in night
        ]
        res[method] = float(np.mean(credit))
        print(f"  real  {method:32s} {res[method]:.3f}", flush=True)
    return res


def synth_night(models: Models, methods, args, root: Path) -> dict[str, float]:
    night = {"condition": "night", "n": args.queries, "ambient": 0.03, **json.loads(args.night)}
    if args.no_sensor:
        from vgrerank.synth import sensor

        night.update(dict.fromkeys(sensor.KEYS, 0.0))
    conf = {**SYNTH_CONF, "seed": args.seed, "queries": {"night": night}}
    meta = root / "meta.json"
    if meta.is_file() and json.loads(meta.read_text())["conf"] == json.loads(
        json.dumps(resolve_conf(conf))
    ):
        print(f"  reusing the images in {root} (same conf)", flush=True)
    else:
        t0 = time.perf_counter()
        write_dataset(conf, root, progress=False)
        n_img = sum(1 for _ in (root / "images").rglob("*.jpg"))
        print(f"  rendered {n_img} images in {time.perf_counter() - t0:.1f} s", flush=True)
    ds = read_vg_dataset("synthcity", root, ["night"])
    db, qs = ds.database, ds.queries["night"]
    rng = np.random.default_rng([args.seed, 7])
    pool = rng.choice(len(db), size=min(len(db), 8 * args.distractors), replace=False)
    tasks = []
    for qi in range(len(qs)):
        d = np.linalg.norm(db.utm - qs.utm[qi], axis=1)
        hd = heading_difference(db.heading, np.full(len(db), qs.heading[qi]))
        pos = np.flatnonzero((d <= 25.0) & (hd <= 45.0))
        pos = pos[np.argsort(d[pos], kind="stable")][:2]
        far = pool[d[pool] > 50.0]
        if len(pos) == 0 or len(far) < args.distractors:
            continue
        neg = rng.choice(far, size=args.distractors, replace=False)
        tasks.append((qi, list(pos) + list(neg), [0] * len(pos) + list(range(1, 1 + len(neg)))))
    print(f"  {len(tasks)} of {len(qs)} queries with 1-2 positives", flush=True)

    def item(s, i):
        return (f"synth/{s.names[i]}", _loader(root / s.names[i]))

    res = {}
    for method in methods:
        credit = [
            rank_query(models, method, item(qs, qi), [item(db, i) for i in c], p, 0)
            for qi, c, p in tasks
        ]
        res[method] = float(np.mean(credit))
        print(f"  synth {method:32s} {res[method]:.3f}", flush=True)
    return res


def table(title: str, res: dict[str, float], what: str = "own place first") -> None:
    print(f"\n{title}")
    print(f"| method | {what} |")
    print("|---|---|")
    for m, v in res.items():
        print(f"| {m} | {v:.3f} |")


def recall_r1(path: Path, split: str, dataset: str | None = None) -> dict[str, float]:
    """R@1 per method tag of one split of a workflow recall table (``dataset``, default the
    first; first global descriptor)."""
    import pandas as pd

    if not path.is_file():
        raise SystemExit(f"{path}: recall table not found")
    df = pd.read_csv(path)
    df = df[(df["split"] == split) & ~df["method"].isin(["retrieval", "chance"])]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    if not len(df):
        where = f"dataset {dataset!r}, " if dataset is not None else ""
        raise SystemExit(f"{path}: no re-ranking rows for {where}split {split!r}")
    first = df.iloc[0]
    df = df[(df["dataset"] == first["dataset"]) & (df["gdesc"] == first["gdesc"])]
    return dict(zip(df["method"], df["R@1"].astype(float), strict=True))


def method_tag(name: str) -> str:
    """Result tag of a method preset name; a name that is already a tag is returned as is."""
    try:
        return parse_method(name)["tag"]
    except ConfigError:  # a result tag, not a preset name
        return name


def extractor_type(name: str) -> str:
    """Extractor type of a method preset name or result tag (``sift-n4096+mnn+...`` -> sift)."""
    try:
        return parse_method(name)["extractor"]["type"]
    except ConfigError:  # a result tag, not a preset name
        return name.split("+")[0].split("-")[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=16)
    ap.add_argument("--distractors", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--no-sensor", action="store_true")
    ap.add_argument("--skip-real", action="store_true", help="synth only (calibration runs)")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--night", default="{}", help="extra night condition parameters (JSON)")
    ap.add_argument(
        "--recall",
        type=Path,
        default=None,
        help="take the SynthCity side from a workflow recall table (e.g. the demo's "
        "results/tables/recall.csv): R@1 of each method re-ranking the retrieval top-K of "
        "--split, instead of the own-place check (b)",
    )
    ap.add_argument("--split", default="night", help="split of --recall (default night)")
    ap.add_argument(
        "--real-recall",
        type=Path,
        default=None,
        help="take the real side from the Gardens Point workflow table (config/gardens_point.yaml"
        "'s results/tables/recall.csv): R@1 of each method over the 200 night queries, instead "
        "of the 6-place sample (a)",
    )
    ap.add_argument("--real-dataset", default="gp_night_left", help="dataset of --real-recall")
    ap.add_argument("--real-split", default="night", help="split of --real-recall")
    args = ap.parse_args()
    if args.real_recall is None and not TRIPLETS.is_dir():
        print(f"skipped: {TRIPLETS} not found (../shared real data absent)")
        print("rank_agreement: nan")
        return
    methods = args.methods.split(",")
    cv2.setNumThreads(2)
    cv2.setRNGSeed(0)
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    tables = []
    if args.real_recall is not None:
        real_r1 = recall_r1(args.real_recall, args.real_split, args.real_dataset)
        tables.append((args.real_recall, real_r1))
    if args.recall is not None:
        synth_r1 = recall_r1(args.recall, args.split)
        tables.append((args.recall, synth_r1))
    if len(tables) == 2 and args.methods == ",".join(METHODS):
        # both sides are workflow tables: every method (result tag) the two have in common
        methods = [t for t in real_r1 if t in synth_r1]
    for path, r1 in tables:
        methods = [m for m in methods if method_tag(m) in r1]
        if len(methods) < 2:
            print(f"skipped: fewer than two of the methods are in {path}")
            print("rank_agreement: nan")
            return
    models = Models()
    t0 = time.perf_counter()
    if args.skip_real:
        real = {}
    elif args.real_recall is not None:
        real = {m: real_r1[method_tag(m)] for m in methods}
    else:
        real = real_night(models, methods)
    t1 = time.perf_counter()
    if args.recall is not None:
        synth = {m: synth_r1[method_tag(m)] for m in methods}
    elif args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        synth = synth_night(models, methods, args, args.keep)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            synth = synth_night(models, methods, args, Path(tmp))
    t2 = time.perf_counter()
    if real and args.real_recall is not None:
        table(
            f"real {args.real_split}: Gardens Point R@1 ({args.real_dataset}, {args.real_recall})",
            real,
            "R@1",
        )
    elif real:
        table(f"real night (Gardens Point, 6 night frames, {t1 - t0:.0f} s)", real)
    title = (
        f"SynthCity {args.split}: R@1 re-ranking the retrieval top-K ({args.recall})"
        if args.recall is not None
        else f"SynthCity night ({t2 - t1:.0f} s)"
    )
    table(title, synth, "R@1" if args.recall is not None else "own place first")
    if not real:
        print("rank_agreement: nan")
        return
    learned = [m for m in methods if extractor_type(m) not in CLASSICAL]
    classical = [m for m in methods if m not in learned]
    if learned and classical:
        for name, res in (("real", real), ("synth", synth)):
            gap = np.mean([res[m] for m in learned]) - np.mean([res[m] for m in classical])
            print(f"learned minus classical ({name}): {gap:+.3f}")
    mad = np.mean([abs(real[m] - synth[m]) for m in methods])
    print(f"mean |real - synth|: {mad:.3f}")
    rho = spearmanr([real[m] for m in methods], [synth[m] for m in methods]).statistic
    print(f"rank_agreement: {float(rho):.3f}")


if __name__ == "__main__":
    sys.exit(main())
