# Config validation and the plan (vgrerank.plan: runs, targets, path templates, dataset views)
# shared by every stage; what is left here needs Snakemake (wildcards, checkpoints).
import os
import sys
from pathlib import Path

# the library lives in src/: importable here and in every script job (also in conda envs)
_SRC = str(Path(workflow.basedir).parent / "src")
sys.path.insert(0, _SRC)
# PYTHONPATH is optional: whatever the user has is kept after src/
_inherited = dict(os.environ).get("PYTHONPATH", "")
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, _inherited) if p))
# concurrent jobs share the cores: busy-waiting OpenMP threads (torch matmuls) would steal time
# from each other (measured: one mutual-NN match 42 ms -> 12 ms under load with PASSIVE)
if "OMP_WAIT_POLICY" not in dict(os.environ):
    os.environ.update(OMP_WAIT_POLICY="PASSIVE")

from vgrerank.config import validate_config
from vgrerank.datasets import check_dataset
from vgrerank.plan import COSPLACE_NAMES, Plan, canonical, fill

validate_config(config, source="config")
PLAN = Plan(config)
# a query split without images fails here, at DAG build, not inside a job; generated datasets
# are rendered later (their n >= 1 is checked by validate_config) and are skipped
for _ds, _entry in PLAN.datasets.items():
    check_dataset(_ds, _entry)

# K: retrieval depth (candidates returned and evaluated); RK: candidates re-ranked (<= K)
K, RK, NUM_BOOT = PLAN.k, PLAN.rk, PLAN.num_boot
DATASETS, GLOBAL, METHOD, EXTRACTOR = (
    PLAN.datasets,
    PLAN.globals,
    PLAN.methods,
    PLAN.extractors,
)
RUNS = [r.as_dict() for r in PLAN.runs]
ENV = "../envs/vgrerank.yaml"
# retrieval files are always read at depth K (re-ranking and evaluation use their top RK)
RETRIEVAL_K = fill("retrieval", k=K)


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.-]+",
    split=r"[A-Za-z0-9_.-]+",
    gtag=r"[^/+]+",
    etag=r"[^/+]+",
    method=r"[^/+]+\+[^/+]+\+[^/+]+",
    k=r"\d+",


# input and params functions: wildcards -> the plan's answer


def database_ready(wc):
    """Input of database-level jobs: the database rendered (no query split)."""
    return PLAN.synth_ready(wc.dataset, [])


def split_ready(wc):
    """Input of split-level jobs: the database and their split."""
    return PLAN.split_ready(wc.dataset, wc.split)


def db_entry(wc):
    return PLAN.db_entry(wc.dataset)


def split_entry(wc):
    return PLAN.split_entry(wc.dataset, wc.split)


def method_features(wc):
    return PLAN.method_features(wc.dataset, wc.split, wc.gtag, wc.k, wc.method)


def figure_inputs(wc):
    return PLAN.figure_inputs(wc.dataset, wc.split, wc.gtag)


def planned_shard_files(wc):
    """The shards the extraction plan of one retrieval file asks for (after the checkpoint)."""
    from vgrerank.local.plan import planned_shards, read_plan

    plan = checkpoints.local_plan.get(**wc).output[0]
    return [
        fill("local_shard", dataset=wc.dataset, etag=wc.etag, digest=d)
        for d in planned_shards(read_plan(plan))
    ]


# cluster resources (profiles/slurm): jobs that run a network request ``gpu=1``, which the SLURM
# executor turns into ``sbatch --gpus=1``; ``--resources gpu=0`` runs them without GPUs
# (vgrerank.plan.learned)


def gpu_extractor(wc):
    return PLAN.gpu_extractor(wc.etag)


def gpu_method(wc):
    return PLAN.gpu_method(wc.method)


def gpu_global(wc):
    return PLAN.gpu_global(wc.gtag)


# query-set builder (rules/builder.smk)


def stage_conf(name):
    """Params function: the built split's conf of stage ``name``."""
    return lambda wc: PLAN.stage_conf(wc.dataset, wc.split, name)


def builder_model(task):
    """Input function: the user's checkpoint, or the one builder_train makes."""
    return lambda wc: PLAN.builder_model(wc.dataset, wc.split, task)


def collection_input(wc):
    return PLAN.collection_input(wc.dataset, wc.split)


def existing_corrections(wc):
    return PLAN.existing_corrections(wc.dataset, wc.split)


def build_conf(wc):
    return canonical(PLAN.build_conf(wc.dataset, wc.split))


# CosPlace training (rules/cosplace.smk)


def trained_weights(wc):
    """Input of global_database: the checkpoint rules/cosplace.smk trains, if the preset uses it."""
    return PLAN.trained_weights(wc.gtag)
