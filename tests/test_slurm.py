"""SLURM: the workflow through ``--executor slurm`` (profiles/slurm) on a real single-node cluster
that scripts/slurm.sh installs (Debian's slurm-wlm + munge) and starts on 127.0.0.1.

* a tiny SynthCity run through SLURM writes the same ``recall.csv`` as the local run, byte for
  byte, every job submitted with sbatch;
* a job that exits 1 and a job SLURM kills at its time limit surface as failed Snakemake jobs
  that name their SLURM log;
* learned presets request a GPU (``gpu=1`` -> ``sbatch --gpus=1``), ``--resources gpu=0`` turns
  the request off (no cluster needed).

Skipped when SLURM cannot be installed or started here: not root and no sudo, no apt-get, or a
SLURM configuration of another cluster in /etc/slurm (VGRERANK_SKIP_SLURM=1 skips on purpose).
The script stops only daemons it started (pid files), and only when this module started them.
"""

import os
import re
import shutil
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from workflow_run import REPO, SNAKEFILE, SNAKEMAKE, TINY, job_counts, run

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "slurm.sh"
PROFILE = REPO / "profiles" / "slurm"
# first status check after 5 s (the plugin then adds 10 s per check until a job ends); the
# cluster's MinJobAge (300 s) is above 3x this, so the profile's squeue status command is kept
SLURM_FLAGS = ["--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "5"]

# the smallest SynthCity benchmark: one night split, one classical method, no figures
SMALL = {
    **TINY,
    "datasets": {
        "tinycity": {
            **TINY["datasets"]["tinycity"],
            "splits": ["night"],
            "synth": {
                **TINY["datasets"]["tinycity"]["synth"],
                "queries": {"night": TINY["datasets"]["tinycity"]["synth"]["queries"]["night"]},
            },
        }
    },
    "methods": ["sift+mnn+magsac"],
    "evaluation": {"k_sweep": [1, 5, 8], "bootstrap": 200},
    "report": {"num_queries": 1, "figures": False},
}

FAILING = textwrap.dedent(
    """\
    rule all:
        input:
            "fail.txt",
            "slow.txt",


    rule fail:
        output:
            "fail.txt",
        log:
            "logs/fail.log",
        threads: 1
        resources:
            mem_mb=100,
            runtime=5,
        shell:
            "echo 'failing on purpose' > {log}; exit 1"


    rule slow:
        output:
            "slow.txt",
        log:
            "logs/slow.log",
        threads: 1
        resources:
            mem_mb=100,
            runtime=1,
        shell:
            "echo started > {log}; sleep 600; touch {output}"
    """
)


def _skip_reason() -> str | None:
    if os.environ.get("VGRERANK_SKIP_SLURM"):
        return "VGRERANK_SKIP_SLURM is set"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -r requirements.txt)"
    root = os.geteuid() == 0
    sudo = (
        shutil.which("sudo") is not None
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    )
    if not (root or sudo):
        return "SLURM's daemons need root (or passwordless sudo)"
    installed = all(shutil.which(t, path="/usr/sbin:/usr/bin") for t in ("slurmctld", "munged"))
    if not installed and shutil.which("apt-get") is None:
        return "slurm-wlm is not installed and apt-get is not available to install it"
    # scripts/slurm.sh links /etc/slurm/slurm.conf to its state folder's; another file there is
    # a real cluster's
    state = os.environ.get("VGRERANK_SLURM_DIR") or os.path.join(
        os.environ.get("TMPDIR") or "/tmp", "vgrerank-slurm"
    )
    system_conf = Path("/etc/slurm/slurm.conf")
    if (system_conf.exists() or system_conf.is_symlink()) and not (
        system_conf.is_symlink() and os.readlink(system_conf) == f"{state}/slurm.conf"
    ):
        return f"{system_conf} belongs to another SLURM cluster on this machine"
    return None


def _script(cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), cmd], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def cluster():
    reason = _skip_reason()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")
    was_running = _script("status").returncode == 0
    proc = _script("start")
    if proc.returncode != 0:
        if not was_running:
            _script("stop")
        raise AssertionError(f"scripts/slurm.sh start failed:\n{proc.stdout}\n{proc.stderr}")
    conf = re.search(r"SLURM_CONF=(\S+)", proc.stdout).group(1)
    env = {**os.environ, "SLURM_CONF": conf, "OMP_NUM_THREADS": "1"}
    yield env
    if not was_running:
        stop = _script("stop")
        assert stop.returncode == 0, stop.stderr
        assert _script("status").returncode != 0


@pytest.fixture(scope="module")
def failing_run(cluster, tmp_path_factory):
    """The failing workflow, started in the background at once (its time-limit job takes a
    minute or two to be killed; the SynthCity runs go on meanwhile)."""
    work = tmp_path_factory.mktemp("slurm_fail")
    (work / "Snakefile").write_text(FAILING)
    cmd = [*SNAKEMAKE, "-s", str(work / "Snakefile"), "--directory", str(work)]
    cmd += [*SLURM_FLAGS, "--keep-going"]
    out = open(work / "snakemake.out", "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env=cluster)
    yield work, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)
    out.close()


def test_slurm_recall_equals_local(cluster, failing_run, tmp_path, monkeypatch):
    cfg = tmp_path / "small.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    target = "results/tables/recall.csv"
    local, slurm = tmp_path / "local", tmp_path / "slurm"
    monkeypatch.setenv("SLURM_CONF", cluster["SLURM_CONF"])  # run() passes os.environ on
    # both at once: the SLURM run mostly waits for its status checks ("--" ends --configfile)
    with ThreadPoolExecutor(2) as pool:
        on_slurm = pool.submit(run, slurm, cfg, *SLURM_FLAGS, "--resources", "gpu=0", "--", target)
        run(local, cfg, "--", target)
        out = on_slurm.result()

    assert (slurm / target).read_bytes() == (local / target).read_bytes()
    # every job was its own sbatch (none ran on this machine), rerank and tables among them
    jobs = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", out, re.M)
    submitted = re.findall(r"^Job \d+ has been submitted with SLURM jobid \d+", out, re.M)
    assert {"rerank", "tables"} <= set(jobs) and len(submitted) == len(jobs), out[-3000:]
    assert "localrule" not in out and "localcheckpoint" not in out
    assert set(job_counts(out)) <= set(jobs)
    assert not (local / ".snakemake/slurm_logs").exists()


def test_failures_surface_with_their_logs(failing_run):
    work, proc = failing_run
    proc.wait(timeout=600)
    out = (work / "snakemake.out").read_text()
    assert proc.returncode != 0, out
    errors = {
        m.group(1): m.group(2)
        for m in re.finditer(r"Error in rule (\w+):\n(.*?)(?=\n\[|\nError in rule|\Z)", out, re.S)
    }
    assert set(errors) == {"fail", "slow"}, out
    assert re.search(r"SLURM status is: 'FAILED'", errors["fail"]), errors["fail"]
    assert re.search(r"SLURM status is: 'TIMEOUT'", errors["slow"]), errors["slow"]
    for rule, text in errors.items():
        # the rule's log and the SLURM log of the job, which exists and tells what happened
        assert f"logs/{rule}.log" in text, text
        slurm_log = re.search(r"(\S+/\.snakemake/slurm_logs/rule_\w+/\S*?\d+\.log)", text)
        assert slurm_log, text
        assert Path(slurm_log.group(1)).is_file()
    fail_log = (work / "logs/fail.log").read_text()
    assert "failing on purpose" in fail_log
    slow_slurm = re.search(r"(\S+/slurm_logs/rule_slow/\S*?\d+\.log)", errors["slow"]).group(1)
    assert "DUE TO TIME LIMIT" in Path(slow_slurm).read_text()
    assert not (work / "fail.txt").exists() and not (work / "slow.txt").exists()


LEARNED = {
    **SMALL,
    "global": ["vlad-rootsift-64", "vlad-aliked-64"],
    "methods": ["sift+mnn+magsac", "xfeat-k1024+lightglue+magsac"],
}


def _dry_run_gpus(tmp_path, *extra) -> dict[tuple[str, str], int]:
    cfg = tmp_path / "learned.yaml"
    cfg.write_text(yaml.safe_dump(LEARNED))
    cmd = [*SNAKEMAKE, "-s", str(SNAKEFILE), "--directory", str(tmp_path)]
    cmd += ["--configfile", str(cfg), "-n", "--cores", "2", "--forceall", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    gpus = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", proc.stdout + proc.stderr):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        output = re.search(r"output: (\S+)", block)
        gpu = re.search(r"resources: .*\bgpu=(\d+)", block)
        if rule and output:
            gpus[rule.group(1), output.group(1).rstrip(",")] = int(gpu.group(1)) if gpu else 0
    return gpus


def test_learned_presets_request_a_gpu(tmp_path):
    gpus = _dry_run_gpus(tmp_path)

    def of(rule, *parts):
        hits = [g for (r, out), g in gpus.items() if r == rule and all(p in out for p in parts)]
        assert hits, (rule, parts, sorted(gpus))
        return set(hits)

    # networks: VLAD over ALIKED, XFeat extraction, LightGlue; classical: none (local_shard
    # jobs come after the local_plan checkpoint, so a dry run does not list them)
    assert of("global_database", "vlad-aliked") == {1}
    assert of("global_queries", "vlad-aliked") == {1}
    assert of("global_database", "vlad-dsift") == {0}
    assert of("local_queries", "xfeat") == {1}
    assert of("local_queries", "sift-n4096") == {0}
    assert of("rerank", "lightglue") == {1}
    assert of("rerank", "sift-n4096") == {0}
    assert set(of("synth_database", "")) | set(of("retrieve", "")) | set(of("tables", "")) == {0}
    # a cluster without GPUs: one flag caps every request
    capped = _dry_run_gpus(tmp_path, "--resources", "gpu=0")
    assert set(capped.values()) == {0} and capped.keys() == gpus.keys()
