"""Helpers for the tests that compare results across restricted SIMD dispatch (imported by the
test modules as ``from simd_env import ...``; not a test module itself)."""

from __future__ import annotations

import os

# the restrictions the cross-SIMD tests run, in order
NAMES = ["numpy-baseline", "numpy-no-avx512", "opencv-baseline", "opencv-no-avx512"]

# printed by a subprocess after its work: the features that were really active
REPORT = r"""
import cv2 as _cv2
from numpy._core._multiarray_umath import __cpu_dispatch__ as _d, __cpu_features__ as _f
_active = {"numpy": [f for f in _d if _f.get(f)], "opencv": _cv2.getCPUFeaturesLine()}
"""


def restrictions() -> dict[str, tuple[dict[str, str], str, list[str]]]:
    """name -> (environment, library, features it must turn off) for the names in ``NAMES``."""
    from vgrerank.simd import is_avx512, numpy_targets, opencv_targets

    np_all = numpy_targets()
    np_512 = [f for f in np_all if is_avx512(f)]
    cv_all = opencv_targets()
    cv_512 = [f for f in cv_all if is_avx512(f)]
    return {
        "numpy-baseline": ({"NPY_DISABLE_CPU_FEATURES": " ".join(np_all)}, "numpy", np_all),
        "numpy-no-avx512": ({"NPY_DISABLE_CPU_FEATURES": " ".join(np_512)}, "numpy", np_512),
        "opencv-baseline": ({"OPENCV_CPU_DISABLE": ",".join(cv_all)}, "opencv", cv_all),
        "opencv-no-avx512": ({"OPENCV_CPU_DISABLE": ",".join(cv_512)}, "opencv", cv_512),
    }


def subprocess_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of a subprocess under restriction ``env``: one thread, and no restriction
    inherited from the parent beyond ``env``."""
    full = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    for k in ("NPY_DISABLE_CPU_FEATURES", "OPENCV_CPU_DISABLE"):
        if k not in env:
            full.pop(k, None)
    return full


def assert_took_effect(reference: dict, got: dict, lib: str, off: list[str], env: dict) -> None:
    """``reference``/``got``: dicts with the ``numpy`` (active targets) and ``opencv`` (features
    line) a subprocess reported; fails when the restriction did not turn ``off`` off."""
    if lib == "numpy":
        assert not set(off) & set(got["numpy"]), (env, got["numpy"])
        assert set(off) <= set(reference["numpy"])
    elif lib == "opencv":
        for f in off:
            assert f"*{f}?" in got["opencv"].split(), (env, got["opencv"])
    else:
        raise ValueError(lib)
