"""Deterministic dense SIFT (``vgrerank.globaldesc.dsift``): bit-identical across SIMD levels,
close to OpenCV's SIFT at the same keypoints, exact under a shift by one grid step, clean errors.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from simd_env import NAMES, REPORT, assert_took_effect, restrictions, subprocess_env

from vgrerank.errors import DataError
from vgrerank.globaldesc.dsift import dense_rootsift_det, dsift

STEP, SCALES = 8, [16, 24, 32]

SCRIPT = (
    r"""
import hashlib, json, sys
import numpy as np
from vgrerank.globaldesc.dsift import dsift, dense_rootsift_det, resize_max_det, to_gray_det
g = np.load(sys.argv[1])
d, k = dsift(g, 8, [16, 24, 32])
r = dense_rootsift_det(g, 8, [16, 24, 32])
small = resize_max_det(to_gray_det(np.load(sys.argv[2])), 200)  # the VLAD preset's image path
"""
    + REPORT
    + r"""
print(json.dumps({**_active, "n": len(d), "md5": [hashlib.md5(a.tobytes()).hexdigest()
                  for a in (d, k, r, small)]}))
"""
)


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """A rendered SynthCity street image (day), RGB uint8 240 x 320."""
    from vgrerank.synth import Camera, make_city, render

    city = make_city({"blocks_x": 1, "blocks_y": 1}, seed=3)
    cam = Camera(10.0, 0.0, 2.5, heading_deg=30.0, pitch_deg=2.0, width=320, height=240)
    return render(city, cam, {"condition": "day"}, np.random.default_rng(1))


@pytest.fixture(scope="module")
def gray(rgb) -> np.ndarray:
    from vgrerank.imageio import to_gray

    return np.ascontiguousarray(to_gray(rgb))


@pytest.fixture(scope="module")
def image_file(gray, rgb, tmp_path_factory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("dsift")
    np.save(d / "gray.npy", gray)
    np.save(d / "rgb.npy", rgb)
    return str(d / "gray.npy"), str(d / "rgb.npy")


def _run(paths: tuple[str, str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *paths],
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reference(image_file) -> dict:
    return _run(image_file, {})


@pytest.mark.parametrize("name", NAMES)
def test_bit_identical_across_simd_levels(reference, image_file, name):
    env, lib, off = restrictions()[name]
    if not off:
        pytest.skip(f"this CPU has no {lib} SIMD features above the baseline to disable")
    got = _run(image_file, env)
    assert_took_effect(reference, got, lib, off, env)
    assert reference["n"] > 1000
    assert got["md5"] == reference["md5"], f"dsift output differs under {env}"


def test_agrees_with_opencv_sift_at_the_same_keypoints(gray):
    import cv2

    desc, kps = dsift(gray, STEP, SCALES)
    cv_kps = [cv2.KeyPoint(float(x), float(y), float(w) / 6.0) for x, y, w in kps]
    cv_kps, ref = cv2.SIFT_create().compute(gray, cv_kps)
    assert len(cv_kps) == len(kps)  # OpenCV kept every keypoint: rows correspond
    ref = ref.astype(np.float64)
    ref = np.sqrt(ref / np.maximum(ref.sum(1, keepdims=True), 1e-12))
    ours = dense_rootsift_det(gray, STEP, SCALES).astype(np.float64)
    cos = (ref * ours).sum(1)
    # measured 0.97-0.98 on rendered SynthCity images (bench/dsift.py); different
    # implementations (flat vs Gaussian window, smoothing, OpenCV's 1-degree keypoint angle)
    assert cos.mean() > 0.9, cos.mean()
    assert np.median(cos) > 0.9


def test_shift_by_one_step_shifts_the_grid_exactly(gray):
    d, k = dsift(gray, STEP, [16])
    d2, k2 = dsift(np.ascontiguousarray(gray[:, STEP:]), STEP, [16])
    xs, ys = np.unique(k[:, 0]), np.unique(k[:, 1])
    xs2 = np.unique(k2[:, 0])
    assert len(xs2) == len(xs) - 1
    a = d.reshape(len(ys), len(xs), 128)[:, 1:]  # original, from the second column
    b = d2.reshape(len(ys), len(xs2), 128)
    # columns away from the borders (the replicated border reaches ~2.5 bins + the smoothing)
    inner = slice(2, len(xs2) - 2)
    assert np.array_equal(a[:, inner], b[:, inner])
    assert a[:, inner].any()
    # and not vacuously: a different column does differ
    assert not np.array_equal(a[:, 3:-2], b[:, 2:-3])


def test_descriptor_properties(gray):
    d, k = dsift(gray, STEP, SCALES)
    assert d.dtype == np.uint8 and d.shape[1] == 128 and k.shape == (len(d), 3)
    h, w = gray.shape
    for s in SCALES:
        sel = k[:, 2] == s
        assert sel.any()
        assert k[sel, 0].min() >= s / 2 and k[sel, 0].max() <= w - s / 2
        assert k[sel, 1].min() >= s / 2 and k[sel, 1].max() <= h - s / 2
    r = dense_rootsift_det(gray, STEP, SCALES)
    nz = d.astype(np.int64).sum(1) > 0
    np.testing.assert_allclose((r[nz].astype(np.float64) ** 2).sum(1), 1.0, atol=1e-5)
    # a flat image has no gradient: all-zero descriptors, no NaN
    z, _ = dsift(np.full((64, 64), 128, np.uint8), STEP, SCALES)
    assert len(z) > 0 and not z.any()
    assert not np.isnan(dense_rootsift_det(np.full((64, 64), 7, np.uint8), 8, [16])).any()


def test_edge_cases():
    d, k = dsift(np.zeros((10, 40), np.uint8), STEP, SCALES)
    assert d.shape == (0, 128) and d.dtype == np.uint8 and k.shape == (0, 3)
    assert dense_rootsift_det(np.zeros((10, 40), np.uint8), STEP, SCALES).shape == (0, 128)
    with pytest.raises(DataError, match="uint8"):
        dsift(np.zeros((64, 64), np.float32), STEP, SCALES)
    with pytest.raises(DataError, match="2-D"):
        dsift(np.zeros((64, 64, 3), np.uint8), STEP, SCALES)
    with pytest.raises(DataError, match="numpy array"):
        dsift([[0] * 64] * 64, STEP, SCALES)
    with pytest.raises(DataError, match="step"):
        dsift(np.zeros((64, 64), np.uint8), 0, SCALES)


def test_grey_conversion_is_opencvs_integer_formula(rgb):
    """``to_gray_det`` is BT.601 in 14-bit fixed point; OpenCV's uint8 RGB2GRAY uses the same
    integer weights, so the two agree to within one grey level (they are equal on x86 today)."""
    import cv2

    from vgrerank.globaldesc.dsift import to_gray_det

    g = to_gray_det(rgb)
    r, gg, b = (int(v) for v in rgb[7, 11])
    assert g[7, 11] == (4899 * r + 9617 * gg + 1868 * b + 8192) >> 14
    ref = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.abs(g.astype(int) - ref).max() <= 1
    assert to_gray_det(g) is g
    with pytest.raises(DataError, match="RGB uint8"):
        to_gray_det(rgb.astype(np.float32))


def test_area_resize(gray):
    """Area downscaling: the output size of ``imageio.resize_max``; an integer factor averages
    whole blocks exactly; any factor stays within one grey level of OpenCV's INTER_AREA; a
    constant image stays constant; no upscaling."""
    from vgrerank.globaldesc.dsift import resize_max_det
    from vgrerank.imageio import resize_max

    half = resize_max_det(gray, 160)
    blocks = gray.reshape(120, 2, 160, 2).astype(np.float64).mean(axis=(1, 3))
    assert np.array_equal(half, np.rint(blocks).astype(np.uint8))
    for side in (200, 111):
        got = resize_max_det(gray, side)
        ref, _ = resize_max(gray, side)
        assert got.shape == ref.shape and max(got.shape) == side
        assert np.abs(got.astype(int) - ref).max() <= 1
    const = np.full((97, 131), 77, np.uint8)
    assert np.all(resize_max_det(const, 50) == 77)
    assert resize_max_det(gray, 400) is gray and resize_max_det(gray, None) is gray
