"""SynthCity render speed on one thread: images per second at 640x480 (day and night mixed).

Usage: OMP_NUM_THREADS=1 python bench/render.py [N]. Last line: ``render_img_per_s: X``.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vgrerank.synth import Camera, make_city, render  # noqa: E402
from vgrerank.synth.writer import query_poses  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    t0 = time.perf_counter()
    city = make_city({}, seed=0)
    t_city = time.perf_counter() - t0
    poses = query_poses(city, "bench", {"n": n}, seed=0)
    conds = [{"condition": "day"}, {"condition": "night", "ambient": 0.03}]
    render(city, Camera(0, 0, 2.5, 0), conds[0], np.random.default_rng(0))  # warm caches
    t0 = time.perf_counter()
    for i, p in enumerate(poses):
        cam = Camera(p["x"], p["y"], p["z"], p["heading"], p["pitch"], 640, 480, 90.0)
        render(city, cam, conds[i % 2], np.random.default_rng(i))
    dt = time.perf_counter() - t0
    from vgrerank.io.provenance import simd_info

    simd = simd_info()
    print(f"simd: numpy {simd.get('numpy_level')}, opencv {simd.get('opencv_level')}")
    print(f"city build: {t_city:.2f} s")
    print(f"rendered {n} images in {dt:.2f} s ({1000 * dt / n:.1f} ms/image)")
    print(f"render_img_per_s: {n / dt:.2f}")


if __name__ == "__main__":
    main()
