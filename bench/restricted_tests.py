"""Run the test suite (or part of it) with every computing library restricted to a lower SIMD
level, as on another CPU: numpy (``NPY_DISABLE_CPU_FEATURES``), OpenCV
(``OPENCV_CPU_DISABLE``), torch/ATen (``ATEN_CPU_CAPABILITY``), MKL and oneDNN, faiss
(``FAISS_SIMD_LEVEL``) and OpenBLAS (``OPENBLAS_CORETYPE``); the profiles are those of
``bench/cpu_digest.py`` (``avx2``: an AVX2 machine without AVX-512; ``baseline``: x86-64-v2).

A test that passes natively but fails under a profile asserts something the CPU decides
(float ties, SIMD rounding): fix the assertion, not the profile. Prints what really ran, then
pytest's own output; LAST line: ``restricted_tests_<profile>_exit: N`` (pytest's exit code).

Usage: nice -n 10 .venv/bin/python bench/restricted_tests.py --profile avx2 [-- pytest args]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from vgrerank.simd import profile_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_digest import _active  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="avx2", choices=["avx2", "baseline"])
    ap.add_argument("pytest_args", nargs="*", help="after --: passed to pytest (default: -q -rs)")
    args = ap.parse_args()
    env = profile_env(args.profile)
    print(f"{args.profile}: {env}\nactive: {_active(env)}", flush=True)
    cmd = [sys.executable, "-m", "pytest", *(args.pytest_args or ["-q", "-rs"])]
    rc = subprocess.run(cmd, env={**os.environ, **env}).returncode
    print(f"restricted_tests_{args.profile}_exit: {rc}")


if __name__ == "__main__":
    main()
