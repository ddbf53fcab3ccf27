"""Restricted SIMD dispatch profiles: the environment that makes this CPU compute like a lower
one, for every library that computes something here (numpy ``NPY_DISABLE_CPU_FEATURES``, OpenCV
``OPENCV_CPU_DISABLE``, torch/ATen ``ATEN_CPU_CAPABILITY``, MKL, oneDNN, faiss
``FAISS_SIMD_LEVEL``, OpenBLAS ``OPENBLAS_CORETYPE``). Used by ``bench/cpu_digest.py``,
``bench/restricted_tests.py`` and the cross-CPU tests. The variables take effect when a library
loads, so a profile applies to a new process (``subprocess`` with ``{**os.environ, **env}``).

Profiles: ``native`` (nothing restricted), ``avx2`` (an AVX2 machine without AVX-512),
``baseline`` (x86-64-v2: every dispatched level off).
"""

from __future__ import annotations

PROFILES = ("native", "avx2", "baseline")


def numpy_targets() -> list[str]:
    """numpy's dispatch targets (above the build's baseline) active in this process."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


def opencv_targets() -> list[str]:
    """OpenCV's dispatched features (``*NAME`` in its features line) active in this process."""
    import cv2

    return [t[1:] for t in cv2.getCPUFeaturesLine().split() if t.startswith("*") and "?" not in t]


def is_avx512(name: str) -> bool:
    return "AVX512" in name.upper() or name.upper() == "X86_V4"


def profile_env(name: str) -> dict[str, str]:
    """Environment variables that restrict every computing library to the profile's level."""
    if name == "native":
        return {}
    np_all, cv_all = numpy_targets(), opencv_targets()
    if name == "avx2":
        return {
            "NPY_DISABLE_CPU_FEATURES": " ".join(f for f in np_all if is_avx512(f)),
            "OPENCV_CPU_DISABLE": ",".join(f for f in cv_all if is_avx512(f)),
            "ATEN_CPU_CAPABILITY": "avx2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
            "FAISS_SIMD_LEVEL": "AVX2",
            "OPENBLAS_CORETYPE": "Haswell",
        }
    if name == "baseline":
        return {
            "NPY_DISABLE_CPU_FEATURES": " ".join(np_all),
            "OPENCV_CPU_DISABLE": ",".join(cv_all),
            "ATEN_CPU_CAPABILITY": "default",
            "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
            "ONEDNN_MAX_CPU_ISA": "SSE41",
            "FAISS_SIMD_LEVEL": "NONE",
            "OPENBLAS_CORETYPE": "Nehalem",
        }
    raise ValueError(f"unknown SIMD profile {name!r} (one of {', '.join(PROFILES)})")
