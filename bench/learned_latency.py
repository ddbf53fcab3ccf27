"""Per-pair latency of the learned local features (extraction of both images + matching).

Runs on graf1/graf3 from ../shared (or a synthetic pair when it is absent), on the default
device ('auto'). For each method prints extraction s/image, matching s/pair and s/pair total
(2 extractions + 1 match, the cost of re-ranking one candidate without a feature cache), plus
LightGlue's batched (non-adaptive) match_many against one-by-one. LAST line:
``learned_pair_s: X`` for ALIKED+LightGlue.

Usage: .venv/bin/python bench/learned_latency.py [--repeats 2] [--methods aliked,disk,...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from vgrerank.imageio import load_image
from vgrerank.local.registry import make_extractor, make_matcher

SHARED = Path(__file__).resolve().parents[2] / "shared"
W = SHARED / "weights"

METHODS = {
    "aliked": ({"type": "aliked", "model": "aliked-n16", "max_keypoints": 2048}, "lightglue"),
    "disk": ({"type": "disk", "max_keypoints": 2048}, "lightglue"),
    "xfeat": ({"type": "xfeat", "max_keypoints": 4096}, "lightglue"),
    "alike": (
        {
            "type": "alike",
            "model": "alike-t",
            "max_keypoints": 2048,
            "weights": str(W / "alike/alike-t.pth"),
        },
        "mnn",
    ),
    "r2d2": (
        {"type": "r2d2", "max_keypoints": 5000, "weights": str(W / "r2d2/r2d2_WASF_N16.pt")},
        "mnn",
    ),
}


def _images():
    g = SHARED / "data/real/graf_homography"
    if g.is_dir():
        return load_image(g / "graf1.png"), load_image(g / "graf3.png")
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (640, 800, 3), dtype=np.uint8), (5, 5), 0)
    H = np.array([[0.9, 0.1, 20], [-0.1, 0.95, 10], [0, 0, 1.0]])
    return img, cv2.warpPerspective(img, H, (800, 640))


def _time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    im0, im1 = _images()
    results = {}
    for name in args.methods.split(","):
        ext_conf, mtype = METHODS[name]
        if "weights" in ext_conf and not Path(ext_conf["weights"]).is_file():
            print(f"{name}: weights missing, skipped")
            continue
        ext = make_extractor(ext_conf)
        mconf = (
            {"type": mtype, "features": ext_conf["type"]}
            if mtype == "lightglue"
            else {"type": "mnn"}
        )
        matcher = make_matcher(mconf)
        ext(im0)  # warm-up
        t_ext0, f0 = _time(lambda e=ext: e(im0), args.repeats)
        t_ext1, f1 = _time(lambda e=ext: e(im1), args.repeats)
        matcher.match(f0, f1)
        t_match, m = _time(lambda m_=matcher, a=f0, b=f1: m_.match(a, b), args.repeats)
        pair = t_ext0 + t_ext1 + t_match
        results[name] = pair
        print(
            f"{name}+{mtype}: extract {0.5 * (t_ext0 + t_ext1):.3f} s/image ({len(f0)} kpts), "
            f"match {t_match:.3f} s/pair ({len(m)} matches), pair {pair:.3f} s"
        )
        if mtype == "lightglue":
            nb = make_matcher({**mconf, "adaptive": False, "batch": True, "batch_size": 4})
            cands = [f1, f0, f1, f0]
            t_one, _ = _time(lambda nb=nb, q=f0, cs=cands: [nb.match(q, c) for c in cs], 1)
            t_bat, _ = _time(lambda nb=nb, q=f0, cs=cands: nb.match_many(q, cs), 1)
            print(
                f"  non-adaptive 4 candidates: one-by-one {t_one:.3f} s, batched {t_bat:.3f} s, "
                f"ratio {t_one / t_bat:.2f}"
            )
    print(f"learned_pair_s: {results.get('aliked', float('nan')):.3f}")


if __name__ == "__main__":
    main()
