"""Deterministic dense SIFT vs OpenCV's: ms per 480x360 image and agreement (one thread).

Renders N SynthCity images (day and night mixed), resizes them to 480x360 grayscale, and runs
``vlad.dense_rootsift`` (OpenCV SIFT on the dense grid) and ``dsift.dense_rootsift_det`` with
step 8 and patch widths 16, 24, 32. Prints ms/image for both, the mean cosine similarity of the
RootSIFT descriptors at the same keypoints, and last ``dsift_speed_ratio: X`` (det / OpenCV).

Usage: OMP_NUM_THREADS=1 python bench/dsift.py [N]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vgrerank.globaldesc.dsift import dense_rootsift_det  # noqa: E402
from vgrerank.globaldesc.vlad import dense_rootsift  # noqa: E402
from vgrerank.imageio import to_gray  # noqa: E402
from vgrerank.synth import Camera, make_city, render  # noqa: E402
from vgrerank.synth.writer import query_poses  # noqa: E402

STEP, SCALES = 8, [16, 24, 32]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    cv2.setNumThreads(1)
    city = make_city({}, seed=0)
    poses = query_poses(city, "bench", {"n": n}, seed=0)
    conds = [{"condition": "day"}, {"condition": "night", "ambient": 0.03}]
    grays = []
    for i, p in enumerate(poses):
        cam = Camera(p["x"], p["y"], p["z"], p["heading"], p["pitch"], 480, 360, 90.0)
        grays.append(
            np.ascontiguousarray(to_gray(render(city, cam, conds[i % 2], np.random.default_rng(i))))
        )
    sift = cv2.SIFT_create()
    dense_rootsift(grays[0], STEP, SCALES, sift)  # warm-up
    dense_rootsift_det(grays[0], STEP, SCALES)
    t_cv = t_det = 0.0
    cos = []
    for g in grays:
        t0 = time.perf_counter()
        a = dense_rootsift(g, STEP, SCALES, sift)
        t1 = time.perf_counter()
        b = dense_rootsift_det(g, STEP, SCALES)
        t2 = time.perf_counter()
        t_cv += t1 - t0
        t_det += t2 - t1
        assert a.shape == b.shape, (a.shape, b.shape)
        c = (a.astype(np.float64) * b.astype(np.float64)).sum(1)
        ok = (a.sum(1) > 0) & (b.sum(1) > 0)  # OpenCV and dsift both saw a gradient
        cos.append(c[ok])
    cos = np.concatenate(cos)
    print(f"images: {n} rendered SynthCity 480x360 (day/night), {len(cos)} descriptor pairs")
    print(f"opencv dense_rootsift: {1000 * t_cv / n:.1f} ms/image")
    print(f"dsift dense_rootsift_det: {1000 * t_det / n:.1f} ms/image")
    print(
        f"cosine agreement: mean {cos.mean():.4f}, median {np.median(cos):.4f}, "
        f"5th percentile {np.percentile(cos, 5):.4f}"
    )
    print(f"dsift_speed_ratio: {t_det / t_cv:.2f}")


if __name__ == "__main__":
    main()
