"""Provenance stamped into every result file: config hash, package versions, git commit, and
the CPU with the SIMD levels numpy and OpenCV dispatch to on it (floating-point kernels may round
differently per SIMD level, so results are tied to the machine that produced them)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "vgrerank",
    "numpy",
    "torch",
    "kornia",
    "opencv-contrib-python-headless",
    "faiss-cpu",
    "h5py",
)


def config_hash(conf) -> str:
    """Stable short hash of a JSON-serialisable config (key order does not matter)."""
    blob = json.dumps(conf, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@lru_cache(maxsize=1)
def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip() if out.returncode == 0 else ""
        if commit:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "absent"
    return out


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """CPU model name (``/proc/cpuinfo`` on Linux, else :mod:`platform`), or ``unknown``."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _numpy_simd() -> dict[str, str]:
    try:
        from numpy._core._multiarray_umath import (
            __cpu_baseline__,
            __cpu_dispatch__,
            __cpu_features__,
        )
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import (
                __cpu_baseline__,
                __cpu_dispatch__,
                __cpu_features__,
            )
        except ImportError:
            return {"numpy": "unknown"}
    active = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    return {
        "numpy_baseline": " ".join(__cpu_baseline__),
        "numpy_dispatch": " ".join(active),
        # the highest target numpy dispatches to here (the baseline when none is active)
        "numpy_level": active[-1] if active else (__cpu_baseline__[-1:] or ["none"])[0],
    }


def _opencv_simd() -> dict[str, str]:
    try:
        import cv2
    except ImportError:
        return {"opencv": "absent"}
    line = cv2.getCPUFeaturesLine()  # "SSE SSE2 *AVX2 ...": * dispatched, ? disabled
    on = [t.lstrip("*") for t in line.split() if not t.endswith("?")]
    return {"opencv_features": line, "opencv_level": on[-1] if on else "none"}


@lru_cache(maxsize=1)
def simd_info() -> dict[str, str]:
    """SIMD levels in use: numpy's baseline, active dispatch targets and highest level, and
    OpenCV's CPU features line (``*`` dispatched, ``?`` disabled) and highest level."""
    return {**_numpy_simd(), **_opencv_simd()}


def provenance(conf=None) -> dict:
    return {
        "config_hash": config_hash(conf) if conf is not None else "",
        "git_commit": git_commit(),
        "packages": package_versions(),
        "cpu": cpu_model(),
        "simd": simd_info(),
    }


def provenance_json(conf=None) -> str:
    return json.dumps(provenance(conf), sort_keys=True)
