"""SynthCity writes the same bytes whatever SIMD level numpy, OpenCV and libjpeg dispatch to.

A small city (database, day, dusk and night queries) is written in subprocesses: once with the
default dispatch, then with numpy restricted (``NPY_DISABLE_CPU_FEATURES``: every dispatch
target above the build's baseline, then only the AVX-512 ones), with OpenCV restricted
(``OPENCV_CPU_DISABLE``: every dispatched feature, then only AVX-512). Every file (JPEGs and
JSON) must have the same md5. (JPEGs come from OpenCV's bundled libjpeg-turbo, integer "islow"
DCT, whose SIMD and C paths are bit-exact by design; that build ignores ``JSIMD_FORCENONE``, so
it cannot be restricted here.) Each run
reports the features that were really active, so a restriction that did not take effect fails
instead of passing vacuously; a restriction is skipped when this CPU lacks the features it would
disable (there is nothing to compare then).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from simd_env import NAMES, assert_took_effect, restrictions, subprocess_env

CONF = {
    "seed": 5,
    "blocks_x": 1,
    "blocks_y": 1,
    "texels_per_m": 12.0,
    "width": 640,
    "height": 480,
    "db_spacing_m": 30.0,
    "db_headings": 4,
    "queries": {
        "day": {"condition": "day", "n": 6},
        "dusk": {"condition": "dusk", "n": 2},
        "night": {"condition": "night", "n": 6, "ambient": 0.03},
    },
}

SCRIPT = r"""
import hashlib, json, sys, tempfile
from pathlib import Path
import cv2
import numpy as np
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
from vgrerank.synth import write_dataset

cv2.setNumThreads(1)
with tempfile.TemporaryDirectory() as d:
    write_dataset(json.loads(sys.argv[1]), d, progress=False)
    files = {
        str(f.relative_to(d)): hashlib.md5(f.read_bytes()).hexdigest()
        for f in sorted(Path(d).rglob("*"))
        if f.is_file()
    }
print(json.dumps({
    "numpy": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)],
    "opencv": cv2.getCPUFeaturesLine(),
    "files": files,
}))
"""


def _run(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(CONF)],
        env=subprocess_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reference() -> dict:
    return _run({})


@pytest.mark.parametrize("name", NAMES)
def test_files_identical_across_simd_levels(reference, name):
    env, lib, off = restrictions()[name]
    if not off:
        pytest.skip(f"this CPU has no {lib} SIMD features above the baseline to disable")
    got = _run(env)
    assert_took_effect(reference, got, lib, off, env)
    ref, files = reference["files"], got["files"]
    assert sorted(files) == sorted(ref)
    assert sum(n.endswith(".jpg") for n in ref) >= 10
    differ = sorted(n for n in ref if files[n] != ref[n])
    assert not differ, f"{len(differ)} of {len(ref)} files differ under {env}: {differ[:5]}"


def test_deterministic_helpers_match_numpy_and_opencv():
    import cv2
    import numpy as np

    from vgrerank.synth import conditions as cnd
    from vgrerank.synth.textures import resize_det

    x = np.linspace(-80, 10, 20001)
    np.testing.assert_allclose(cnd.exp_det(x), np.exp(x), rtol=3e-7)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(cnd.exp_det(x32), np.exp(x32.astype(np.float64)), rtol=5e-7)
    y = np.geomspace(1e-9, 1e9, 20001)
    np.testing.assert_allclose(cnd.log_det(y), np.log(y), rtol=0, atol=1e-11)
    t = np.linspace(-40, 40, 20001)
    np.testing.assert_allclose(cnd.atan_det(t), np.arctan(t), rtol=0, atol=1e-9)
    t32 = t.astype(np.float32)
    np.testing.assert_allclose(cnd.atan_det(t32), np.arctan(t32.astype(np.float64)), atol=5e-7)
    rng = np.random.default_rng(0)
    m = rng.random((40, 50), dtype=np.float32)
    mx = rng.uniform(-4, 54, 5000).astype(np.float32)
    my = rng.uniform(-4, 44, 5000).astype(np.float32)
    ref = cv2.remap(m, mx[None], my[None], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(cnd.bilinear(m, mx, my), ref[0], atol=2e-3)
    g = rng.random((6, 9), dtype=np.float32)
    for cubic, flag in ((True, cv2.INTER_CUBIC), (False, cv2.INTER_LINEAR)):
        ref = cv2.resize(g, (70, 33), interpolation=flag)
        np.testing.assert_allclose(resize_det(g, 70, 33, cubic=cubic), ref, atol=1e-5)
