"""Kill/resume: a workflow killed with SIGKILL while a ``local_shard`` or ``rerank`` job runs
leaves no partial output under a final name, and ``--unlock`` + ``--rerun-incomplete`` finishes
it with a recall table identical, byte for byte, to that of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import pytest
import yaml
from workflow_run import REPO, SNAKEFILE, SNAKEMAKE, run, tiny

pytestmark = pytest.mark.slow

TARGET = "results/tables/recall.csv"
# the jobs to kill: their log file appears when the job's script starts its work
KILL_LOGS = ("logs/local/*/*/db/*.log", "logs/rerank/**/*.log")


def small_config() -> dict:
    """TINY cut to one split, one method and the recall table (about 30 s per run)."""
    conf = tiny()
    city = conf["datasets"]["tinycity"]
    city["splits"] = ["night"]
    city["synth"]["queries"] = {"night": {"condition": "night", "n": 4, "ambient": 0.05}}
    conf["methods"] = ["sift+mnn+magsac"]
    conf["retrieval"] = {"k": 6}
    conf["evaluation"] = {"k_sweep": [1, 6]}
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    if "bootstrap" in schema["properties"]["evaluation"]["properties"]:
        conf["evaluation"]["bootstrap"] = 100  # the minimum: seconds, not minutes
    city["synth"]["db_headings"] = 1
    conf["report"] = {"figures": False}
    return conf


def check_outputs_complete(work: Path) -> list[Path]:
    """Every file under a final name in results/ is complete; returns the temporary files
    (``.tmp-*``, left by a killed job and never read)."""
    from vgrerank.rerank import read_rerank

    temps = []
    for p in sorted((work / "results").rglob("*")):
        if not p.is_file():
            continue
        if p.name.startswith(".tmp-"):
            temps.append(p)
            continue
        if p.suffix == ".h5":
            with h5py.File(p, "r") as f:
                assert f.attrs.get("complete", False), f"{p}: partial HDF5 under its final name"
        elif p.suffix == ".parquet":
            assert len(read_rerank(p)) > 0, p
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".csv":
            assert p.read_text().count("\n") >= 2, f"{p}: empty table"
    return temps


def start(work: Path, cfg: Path) -> subprocess.Popen:
    cmd = [*SNAKEMAKE, "-s", str(SNAKEFILE), "--directory", str(work), "--cores", "2"]
    cmd += ["--configfile", str(cfg), "--", TARGET]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # its own process group: SIGKILL reaches every job
    )


def test_kill_and_resume_gives_identical_recall(tmp_path):
    cfg = tmp_path / "small.yaml"
    cfg.write_text(yaml.safe_dump(small_config()))
    ref = tmp_path / "ref"
    run(ref, cfg, "--", TARGET)  # "--": --configfile takes several values
    expected = (ref / TARGET).read_bytes()

    work = tmp_path / "killed"
    proc = start(work, cfg)
    killed_at = None
    try:
        deadline, started = time.monotonic() + 240, None
        while time.monotonic() < deadline and proc.poll() is None:
            if started is None:
                hits = [p for pat in KILL_LOGS for p in work.glob(pat)]
                started = (hits[0].relative_to(work), time.monotonic()) if hits else None
            if started is not None:
                # best: kill while the job writes its temporary; else soon after it started
                temps = list((work / "results").rglob(".tmp-*"))
                if temps or time.monotonic() - started[1] > 5:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed_at = temps[0].relative_to(work) if temps else started[0]
                    break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and killed_at is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed_at is not None, "the workflow ended before a local_shard/rerank job started"
    time.sleep(0.5)  # let the killed group go
    assert not (work / TARGET).exists()
    check_outputs_complete(work)  # nothing partial under a final name right after the kill

    run(work, cfg, "--unlock")
    run(work, cfg, "--rerun-incomplete", "--", TARGET)
    assert (work / TARGET).read_bytes() == expected, f"killed at {killed_at}"
    temps = check_outputs_complete(work)
    print(f"killed when {killed_at} appeared; temporaries left: {temps}")
    # a leftover temporary is never mistaken for an output: its final name exists and is complete
    for t in temps:
        final = t.with_name(t.name[len(".tmp-") :].rsplit(".", 1)[0])
        assert final.is_file(), f"{t}: temporary without a completed output"
