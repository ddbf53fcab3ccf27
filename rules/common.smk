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

from vgrerank.builder.stages import stage as builder_stage
from vgrerank.config import validate_config
from vgrerank.globaldesc.registry import get_global_preset
from vgrerank.local.registry import parse_method
from vgrerank.synth.config import DEFAULT_CONF as SYNTH_DEFAULT

validate_config(config, source="config")

# K: retrieval depth (candidates returned and evaluated); RK: candidates re-ranked (<= K)
K = config["retrieval"]["k"]
RK = config["rerank"]["k"] or K
NUM_BOOT = config["evaluation"]["bootstrap"]
PRESETS = config.get("presets", {})
DATASETS = {
    name: entry
    for name, entry in config["datasets"].items()
    if not config.get("run_datasets") or name in config["run_datasets"]
}
# a query split without images fails here, at DAG build, not inside a job; generated datasets
# are rendered later (their n >= 1 is checked by validate_config) and are skipped
from vgrerank.datasets import check_dataset

for _ds, _entry in DATASETS.items():
    check_dataset(_ds, _entry)
ENV = "../envs/vgrerank.yaml"


def ds_splits(ds):
    """Query splits of a dataset: the configured ones, then those the query-set builder makes
    (``build``: split -> builder conf, see rules/builder.smk)."""
    entry = DATASETS[ds]
    splits = entry.get("splits")
    base = [entry.get("split", "queries")] if splits is None else list(splits)
    return base + [s for s in built_splits(ds) if s not in base]


def built_splits(ds):
    return list(DATASETS[ds].get("build", {}))


def build_conf(ds, split):
    return DATASETS[ds]["build"][split]


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


def synth_ready(ds, splits):
    """Completion files of a generated dataset's database and of the query ``splits`` ([] for
    datasets read in place)."""
    if "synth" not in DATASETS[ds]:
        return []
    return [f"resources/{ds}/database.json"] + [
        f"resources/{ds}/queries_{s}.json" for s in splits
    ]


def database_ready(wildcards):
    """Input of database-level jobs: the database rendered (no query split)."""
    return synth_ready(wildcards.dataset, [])


def split_ready(wildcards):
    """Input of split-level jobs given ``ds_split_entry``: the database and their split (a
    built split: the builder's completion file, written after its query images)."""
    ds, split = wildcards.dataset, wildcards.split
    if split in built_splits(ds):
        return synth_ready(ds, []) + [f"resources/{ds}/built_{split}.json"]
    return synth_ready(ds, [split])


# dataset entry keys that describe query splits or the methods run on them; database-level jobs
# get a view without them so that adding a split or a method never changes their params
_SPLIT_KEYS = ("splits", "max_queries", "query_folder", "global", "methods", "build")


def canonical(value):
    """Dicts with sorted keys, recursively: params that do not change when a config file lists
    the same keys in another order (Snakemake re-runs jobs whose params changed)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def synth_city_conf(ds):
    """SynthCity conf of the city and the database only (no query splits)."""
    return canonical({k: v for k, v in DATASETS[ds]["synth"].items() if k != "queries"})


def synth_split_conf(ds, split):
    """SynthCity conf of the city plus the one query split ``split``."""
    queries = DATASETS[ds]["synth"].get("queries", SYNTH_DEFAULT["queries"])
    return canonical(
        {
            **synth_city_conf(ds),
            "queries": {split: queries[split]} if split in queries else {},
        }
    )


def ds_db_entry(ds):
    """Database-only view of a dataset entry (``splits: []``, see vgrerank.datasets.load_dataset):
    the params of database-level jobs, unchanged when a query split is added."""
    entry = {k: v for k, v in DATASETS[ds].items() if k not in _SPLIT_KEYS}
    if DATASETS[ds].get("format", "vg") == "vg":
        entry["splits"] = []
    if "synth" in entry:
        entry["synth"] = synth_city_conf(ds)
    return canonical(entry)


def ds_split_entry(ds, split):
    """View of a dataset entry with the one query split ``split``: the params of split-level
    jobs, unchanged when another split is added."""
    entry = {
        k: v for k, v in DATASETS[ds].items() if k not in ("global", "methods", "build")
    }
    splits = entry.get("splits")
    if split in built_splits(ds):
        # written by the builder in the standard layout: <root>/images/test/queries_<split>
        splits = entry["splits"] = {split: f"images/test/queries_{split}"}
    if isinstance(splits, dict):
        entry["splits"] = {split: splits[split]} if split in splits else {}
    elif splits is not None:
        entry["splits"] = [split]
    if "synth" in entry:
        entry["synth"] = synth_split_conf(ds, split)
    return canonical(entry)


def db_features_file(ds, etag, split, gtag, k):
    """Database local features of one retrieval file's top-k candidates: an index of HDF5
    external links into the extractor's append-only shards (results/<ds>/local/<etag>/db/).
    """
    return f"results/{ds}/local/{etag}/database/{split}/{gtag}-K{k}.h5"


RUNS = [
    dict(
        dataset=ds,
        split=split,
        gdesc=g,
        method=m,
        extractor=METHOD[m]["extractor"]["tag"],
        parquet=f"results/{ds}/{split}/rerank/{g}-K{RK}/{m}.parquet",
        queries_features=f"results/{ds}/local/{METHOD[m]['extractor']['tag']}/queries_{split}.h5",
        db_features=db_features_file(ds, METHOD[m]["extractor"]["tag"], split, g, RK),
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
    f"results/{ds}/{split}/recall/{g}-K{RK}/retrieval.csv"
    for ds in DATASETS
    for split in ds_splits(ds)
    for g in gtags(ds)
] + [
    f"results/{r['dataset']}/{r['split']}/recall/{r['gdesc']}-K{RK}/{r['method']}.csv"
    for r in RUNS
]
QUERY_FILES = [f[: -len(".csv")] + ".queries.csv" for f in RECALL_FILES]
SWEEP_FILES = [
    f"results/{r['dataset']}/{r['split']}/recall/{r['gdesc']}-K{RK}/{r['method']}.sweep.csv"
    for r in RUNS
]
RERANK_FILES = [r["parquet"] for r in RUNS]
TABLES = expand(
    "results/tables/{name}",
    name=[
        "recall.csv",
        "recall.md",
        "paired.csv",
        "paired.md",
        "claims.md",
        "latency.csv",
        "latency.md",
        "recall_vs_k.csv",
    ],
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
        f"results/figures/{ds}/{split}/{g}-K{RK}"
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
        "database": db_features_file(wc.dataset, etag, wc.split, wc.gtag, wc.k),
    }


def figure_inputs(wc):
    runs = runs_of(wc.dataset, wc.split, wc.gtag)
    files = {
        "retrieval": f"results/{wc.dataset}/{wc.split}/retrieval/{wc.gtag}-K{K}.h5",
        "rerank": [r["parquet"] for r in runs],
        "features": sorted(
            {r["db_features"] for r in runs} | {r["queries_features"] for r in runs}
        ),
    }
    files["ready"] = split_ready(wc)
    return files


# query-set builder (rules/builder.smk)


def build_source(wc):
    return build_conf(wc.dataset, wc.split)["source"]


def stage_conf(name):
    """Params function: the built split's conf of stage ``name`` (its Stage.conf key)."""
    key = builder_stage(name).conf
    return lambda wc: canonical(build_conf(wc.dataset, wc.split)[key])


def collection_input(wc):
    """The SynthCity photo collection the embedded fake Flickr server serves ([] otherwise)."""
    if build_source(wc).get("embedded"):
        return [f"resources/{wc.dataset}/builder/{wc.split}/collection/collection.json"]
    return []


def builder_model(task):
    """Input function: the user's checkpoint, or the one train_<task> makes for the dataset."""

    def inner(wc):
        conf = build_conf(wc.dataset, wc.split)
        if conf[task]["model"]:
            return conf[task]["model"]
        if task == "daynight" and conf[task]["method"] == "brightness":
            return []
        return f"results/{wc.dataset}/builder/models/{task}.pt"

    return inner


def builder_train_conf(ds, task):
    """Training keys of ``task`` (shared by every built split of the dataset: the first one's)."""
    confs = [c[task].get("train", {}) for c in DATASETS[ds].get("build", {}).values()]
    return canonical(confs[0] if confs else {})


def corrections_file(wc):
    conf = build_conf(wc.dataset, wc.split)
    return conf["corrections"] or f"corrections/{wc.dataset}_{wc.split}.csv"


def existing_corrections(wc):
    """The reviewer's CSV when it exists: saving one makes the next run re-apply it (and rerun
    only the jobs downstream of the corrections)."""
    path = corrections_file(wc)
    return [path] if Path(path).is_file() else []


def first_gtag(ds):
    return gtags(ds)[0]


def builder_report_outputs():
    out = []
    for ds in DATASETS:
        for split in built_splits(ds):
            d = f"results/{ds}/builder/{split}"
            out += [f"{d}/funnel.md", f"{d}/map.png"]
            if build_conf(ds, split)["source"].get("embedded"):
                out.append(f"{d}/truth.md")
    return out


BUILDER_REPORTS = builder_report_outputs()


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.-]+",
    split=r"[A-Za-z0-9_.-]+",
    gtag=r"[^/+]+",
    etag=r"[^/+]+",
    method=r"[^/+]+\+[^/+]+\+[^/+]+",
    k=r"\d+",


def planned_shard_files(wc):
    """The shards the extraction plan of one retrieval file asks for (after the checkpoint)."""
    from vgrerank.local.plan import planned_shards, read_plan

    plan = checkpoints.local_plan.get(**wc).output[0]
    return [
        f"results/{wc.dataset}/local/{wc.etag}/db/{d}.h5"
        for d in planned_shards(read_plan(plan))
    ]


# cluster resources (profiles/slurm): jobs that run a network (learned extractor, LightGlue,
# CosPlace, VLAD over learned local features) request ``gpu=1``; the SLURM executor turns it into
# ``sbatch --gpus=1``. Snakemake caps every job's request at ``--resources gpu=N``, so
# ``--resources gpu=0`` runs them on a cluster without GPUs. A preset is learned when its type
# takes ``weights`` (the registries' parameter schemas).
from vgrerank.globaldesc.registry import PARAMS as _GLOBAL_PARAMS
from vgrerank.local.registry import PARAMS as _LOCAL_PARAMS
from vgrerank.local.registry import get_preset as _local_preset


def learned(kind, conf):
    """Whether a resolved preset ``conf`` of ``kind`` ('extractor', 'matcher', 'scorer' or
    'global') runs a network with weights."""
    if kind == "global":
        if "weights" in _GLOBAL_PARAMS.get(conf["type"], {}):
            return True
        local = conf.get("local")
        if conf["type"] != "vlad" or local in (
            None,
            "rootsift-dense",
            "rootsift-dense-det",
        ):
            return False
        # VLAD over a local extractor (resolved like vgrerank.globaldesc.vlad does)
        extractor = (
            dict(local)
            if isinstance(local, dict)
            else _local_preset("extractor", local)
        )
        return learned("extractor", extractor)
    return "weights" in _LOCAL_PARAMS[kind].get(conf["type"], {})


def gpu_extractor(wildcards):
    """``gpu`` resource of local-feature jobs (wildcard ``etag``)."""
    return int(learned("extractor", EXTRACTOR[wildcards.etag]))


def gpu_method(wildcards):
    """``gpu`` resource of re-ranking jobs (wildcard ``method``): learned matchers; a learned
    extractor alone does not need one (its features are cached)."""
    return int(learned("matcher", METHOD[wildcards.method]["matcher"]))


def gpu_global(wildcards):
    """``gpu`` resource of global-descriptor jobs (wildcard ``gtag``)."""
    return int(learned("global", GLOBAL[wildcards.gtag]))


# CosPlace training (rules/cosplace.smk): the presets cosplace-trained (config key
# cosplace_train) and effnet-lite0-cosplace (cosplace_finetune) and their checkpoints
from vgrerank.errors import ConfigError as _ConfigError
from vgrerank.globaldesc.registry import TRAINED_COSPLACE, TRAINED_EFFNET

# checkpoint -> config key of its training; each key renders its own training city
COSPLACE_TRAININGS = {
    TRAINED_COSPLACE: "cosplace_train",
    TRAINED_EFFNET: "cosplace_finetune",
}
COSPLACE_NAMES = {Path(ckpt).stem: key for ckpt, key in COSPLACE_TRAININGS.items()}
_TRAINSET_KEYS = (
    "folder",
    "city",
    "city_seed",
    "headings",
    "conditions",
    "supersample",
)


def cosplace_trainset(key):
    """Completion file of the training city that config key ``key`` renders."""
    return f"resources/{key}/trainset.json"


def cosplace_city_seed(key="cosplace_train"):
    seed = config[key]["city_seed"]
    seed = config["seed"] + 7919 if seed is None else seed
    if seed == config["seed"]:
        raise _ConfigError(
            f"{key}.city_seed: {seed} is the test city's seed (config 'seed'); "
            "the training city must be another city"
        )
    return seed


def cosplace_train_conf(key="cosplace_train"):
    """Training keys (vgrerank.globaldesc.cosplace_train.check_conf) with the seed resolved."""
    conf = {k: v for k, v in config[key].items() if k not in _TRAINSET_KEYS}
    conf["seed"] = config["seed"] if conf["seed"] is None else conf["seed"]
    return canonical(conf)


def cosplace_gtags():
    """Tags of the global presets whose weights are a trained checkpoint; each must match the
    trained network (else loading it would fail inside a job)."""
    tags = []
    for tag, conf in GLOBAL.items():
        key = COSPLACE_TRAININGS.get(conf.get("weights"))
        if conf.get("type") != "cosplace" or key is None:
            continue
        want = {
            "backbone": config[key]["backbone"],
            "fc_output_dim": config[key]["fc_dim"],
            "resize_max": max(config[key]["image_size"]),
        }
        for name, value in want.items():
            if conf.get(name) != value:
                raise _ConfigError(
                    f"global preset with tag {tag!r}: {name}={conf.get(name)!r} but "
                    f"{key} trains {value!r} (set presets.global.<name>.{name})"
                )
        tags.append(tag)
    return sorted(tags)


def cosplace_root(key="cosplace_train"):
    return config[key]["folder"] or str(Path(cosplace_trainset(key)).parent / "images")


def trained_weights(wc):
    """Input function of global_database: the checkpoint rules/cosplace.smk trains, for the
    presets that use it (so naming one in `global:` trains it first)."""
    return [GLOBAL[wc.gtag]["weights"]] if wc.gtag in cosplace_gtags() else []
