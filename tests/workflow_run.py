"""The repository's paths and the tiny SynthCity run of the workflow tests (imported by the test
modules as ``from workflow_run import ...``; not a test module itself).

The workflow's files are named here only: moving ``workflow/Snakefile``, ``workflow/rules/`` or ``.test/`` changes
these constants and no test module."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
RULES = REPO / "workflow" / "rules"
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# the workflow's small test case (.test/, the Snakemake standard layout's), as a dict
TINY = yaml.safe_load(TEST_CONFIG.read_text())


def tiny() -> dict:
    """A fresh copy of ``TINY``, for a test to change."""
    return copy.deepcopy(TINY)


def run(workdir: Path, configfile: Path, *extra: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        *SNAKEMAKE,
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(configfile),
        *extra,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        logs = (
            "\n".join(p.read_text()[-3000:] for p in (workdir / "logs").rglob("*.log"))
            if (workdir / "logs").exists()
            else ""
        )
        raise AssertionError(f"snakemake failed:\n{proc.stderr[-6000:]}\n--- job logs ---\n{logs}")
    return proc.stdout + proc.stderr


def job_counts(output: str) -> dict[str, int]:
    counts, on = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            on = True
            continue
        if on:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    break
                counts[parts[0]] = int(parts[1])
    return counts
