# Config validation, preset resolution and target lists shared by every stage.
import os
import sys
from pathlib import Path

# the library lives in src/: importable here and in every script job (also in conda envs)
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
# PYTHONPATH is optional: whatever the user has is kept after src/
_inherited = dict(os.environ).get("PYTHONPATH", "")
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, _inherited) if p))
# concurrent jobs share the cores: busy-waiting OpenMP threads (torch matmuls) would steal time
# from each other (measured: one mutual-NN match 42 ms -> 12 ms under load with PASSIVE)
if "OMP_WAIT_POLICY" not in dict(os.environ):
    os.environ.update(OMP_WAIT_POLICY="PASSIVE")

from vgrerank.config import validate_config
from vgrerank.globaldesc.registry import get_global_preset
from vgrerank.local.registry import parse_method

validate_config(config, source="config")

K = config["retrieval"]["k"]
PRESETS = config.get("presets", {})
DATASETS = {
    name: entry
    for name, entry in config["datasets"].items()
    if not config.get("run_datasets") or name in config["run_datasets"]
}
ENV = "../envs/vgrerank.yaml"


def ds_splits(ds):
    entry = DATASETS[ds]
    splits = entry.get("splits")
    if splits is None:
        return [entry.get("split", "queries")]
    return list(splits)


def ds_globals(ds):
    return DATASETS[ds].get("global", config["global"])


def ds_methods(ds):
    return DATASETS[ds].get("methods", config["methods"])


GLOBAL = {}
for _ds in DATASETS:
    for _g in ds_globals(_ds):
        _conf = get_global_preset(_g, PRESETS.get("global"))
        GLOBAL[_conf["tag"]] = _conf
METHOD = {}
EXTRACTOR = {}
for _ds in DATASETS:
    for _m in ds_methods(_ds):
        _parsed = parse_method(_m, PRESETS)
        METHOD[_parsed["tag"]] = _parsed
        EXTRACTOR[_parsed["extractor"]["tag"]] = _parsed["extractor"]


def gtags(ds):
    return [get_global_preset(g, PRESETS.get("global"))["tag"] for g in ds_globals(ds)]


def mtags(ds):
    return [parse_method(m, PRESETS)["tag"] for m in ds_methods(ds)]


def dataset_ready(wildcards):
    """Generated datasets must be rendered first; others are read in place."""
    if "synth" in DATASETS[wildcards.dataset]:
        return f"resources/{wildcards.dataset}/meta.json"
    return []


def retrieval_files(ds):
    return [
        f"results/{ds}/{split}/retrieval/{g}-K{K}.h5"
        for split in ds_splits(ds)
        for g in gtags(ds)
    ]


RUNS = [
    dict(
        dataset=ds,
        split=split,
        gdesc=g,
        method=m,
        extractor=METHOD[m]["extractor"]["tag"],
        parquet=f"results/{ds}/{split}/rerank/{g}-K{K}/{m}.parquet",
        queries_features=f"results/{ds}/local/{METHOD[m]['extractor']['tag']}/queries_{split}.h5",
        db_features=f"results/{ds}/local/{METHOD[m]['extractor']['tag']}/database.h5",
    )
    for ds in DATASETS
    for split in ds_splits(ds)
    for g in gtags(ds)
    for m in mtags(ds)
]


def runs_of(dataset, split, gdesc):
    return [
        r
        for r in RUNS
        if (r["dataset"], r["split"], r["gdesc"]) == (dataset, split, gdesc)
    ]


RECALL_FILES = [
    f"results/{ds}/{split}/recall/{g}-K{K}/retrieval.csv"
    for ds in DATASETS
    for split in ds_splits(ds)
    for g in gtags(ds)
] + [
    f"results/{r['dataset']}/{r['split']}/recall/{r['gdesc']}-K{K}/{r['method']}.csv"
    for r in RUNS
]
SWEEP_FILES = [
    f"results/{r['dataset']}/{r['split']}/recall/{r['gdesc']}-K{K}/{r['method']}.sweep.csv"
    for r in RUNS
]
RERANK_FILES = [r["parquet"] for r in RUNS]
TABLES = expand(
    "results/tables/{name}",
    name=["recall.csv", "recall.md", "latency.csv", "latency.md", "recall_vs_k.csv"],
)
PLOTS = [
    "results/plots/recall_vs_time.png",
    "results/plots/recall_vs_k.png",
    "results/plots/recall_vs_severity.png",
]


def severity_levels():
    """Night ambient level of each generated night split: the x axis of the domain-shift curve."""
    out = []
    for ds, entry in DATASETS.items():
        for split, q in entry.get("synth", {}).get("queries", {}).items():
            if (
                q.get("condition") == "night"
                and "ambient" in q
                and split in ds_splits(ds)
            ):
                out.append([ds, split, float(q["ambient"])])
    return out


FIGURES = (
    [
        f"results/figures/{ds}/{split}/{g}-K{K}"
        for ds in DATASETS
        for split in ds_splits(ds)
        for g in gtags(ds)
        if ds_methods(ds)
    ]
    if config["report"].get("figures", True)
    else []
)


def method_features(wc):
    etag = METHOD[wc.method]["extractor"]["tag"]
    return {
        "queries": f"results/{wc.dataset}/local/{etag}/queries_{wc.split}.h5",
        "database": f"results/{wc.dataset}/local/{etag}/database.h5",
    }


def figure_inputs(wc):
    runs = runs_of(wc.dataset, wc.split, wc.gtag)
    files = {
        "retrieval": f"results/{wc.dataset}/{wc.split}/retrieval/{wc.gtag}-K{wc.k}.h5",
        "rerank": [r["parquet"] for r in runs],
        "features": sorted(
            {r["db_features"] for r in runs} | {r["queries_features"] for r in runs}
        ),
    }
    if "synth" in DATASETS[wc.dataset]:
        files["ready"] = f"resources/{wc.dataset}/meta.json"
    return files


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.-]+",
    split=r"[A-Za-z0-9_.-]+",
    gtag=r"[^/+]+",
    etag=r"[^/+]+",
    method=r"[^/+]+\+[^/+]+\+[^/+]+",
    k=r"\d+",
