"""What the workflow runs, planned from a validated config without Snakemake.

:class:`Plan` answers every question the rules ask of a config: the datasets to run, their query
splits (configured and built), the global descriptors and re-ranking methods of each, the runs
(dataset x split x descriptor x method), the target lists of ``rule all``, the per-job views of a
dataset entry that keep a job's params unchanged when an unrelated key is added, the GPU requests
and the CosPlace trainings. :data:`PATHS` holds the one path template of each artifact (wildcards
in braces, as Snakemake writes them); :func:`path` fills them, :func:`fill` fills some and leaves
the others as wildcards. ``workflow/rules/common.smk`` builds one ``Plan`` and hands its answers to
the rules; ``tests/test_plan.py`` checks it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .builder.stages import RESULTS as BUILDER_RESULTS
from .builder.stages import stage as builder_stage
from .datasets.formats import database_view
from .errors import ConfigError
from .globaldesc.registry import PARAMS as GLOBAL_PARAMS
from .globaldesc.registry import TRAINED_COSPLACE, TRAINED_EFFNET, get_global_preset
from .local.registry import PARAMS as LOCAL_PARAMS
from .local.registry import get_preset as local_preset
from .local.registry import parse_method
from .synth.config import DEFAULT_CONF as SYNTH_DEFAULT

# one template per artifact; {k} is the retrieval depth (K) or the re-ranked depth (RK)
PATHS = {
    "synth_database": "resources/{dataset}/database.json",
    "synth_queries": "resources/{dataset}/queries_{split}.json",
    "built": "resources/{dataset}/built_{split}.json",
    "global_database": "results/{dataset}/global/{gtag}/database.h5",
    "global_queries": "results/{dataset}/global/{gtag}/queries_{split}.h5",
    "retrieval": "results/{dataset}/{split}/retrieval/{gtag}-K{k}.h5",
    "local_plan": "results/{dataset}/local/{etag}/plan/{split}/{gtag}-K{k}.json",
    "local_shards": "results/{dataset}/local/{etag}/db",
    "local_todo": "results/{dataset}/local/{etag}/todo",
    "local_todo_file": "results/{dataset}/local/{etag}/todo/{digest}.txt",
    "local_shard": "results/{dataset}/local/{etag}/db/{digest}.h5",
    "local_database": "results/{dataset}/local/{etag}/database/{split}/{gtag}-K{k}.h5",
    "local_queries": "results/{dataset}/local/{etag}/queries_{split}.h5",
    "rerank": "results/{dataset}/{split}/rerank/{gtag}-K{k}/{method}.parquet",
    "recall_retrieval": "results/{dataset}/{split}/recall/{gtag}-K{k}/retrieval.csv",
    "recall_retrieval_queries": "results/{dataset}/{split}/recall/{gtag}-K{k}/retrieval.queries.csv",
    "recall_method": "results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.csv",
    "recall_method_sweep": "results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.sweep.csv",
    "recall_method_queries": "results/{dataset}/{split}/recall/{gtag}-K{k}/{method}.queries.csv",
    "figures": "results/figures/{dataset}/{split}/{gtag}-K{k}",
    "table": "results/tables/{name}",
    "plot": "results/plots/{name}.png",
    "builder_collection": "resources/{dataset}/builder/{split}/collection/collection.json",
    "builder_trainset": "resources/{dataset}/builder/train/collection.json",
    "builder_model": "results/{dataset}/builder/models/{task}.pt",
    "builder_split": BUILDER_RESULTS,
    "corrections": "corrections/{dataset}_{split}.csv",
    "cosplace_trainset": "resources/{key}/trainset.json",
    "cosplace_model": "results/cosplace/{name}.pth",
    "cosplace_summary": "results/cosplace/{name}.json",
}
TABLES = (
    "recall.csv",
    "recall.md",
    "paired.csv",
    "paired.md",
    "claims.md",
    "latency.csv",
    "latency.md",
    "recall_vs_k.csv",
)
PLOTS = ("recall_vs_time", "recall_vs_k", "recall_vs_severity")
# dataset entry keys that describe query splits or the methods run on them: database-level jobs
# get a view without them, so adding a split or a method never changes their params
SPLIT_KEYS = ("splits", "max_queries", "query_folder", "global", "methods", "build")
# checkpoint -> config key of its training; each key renders its own training city
COSPLACE_TRAININGS = {TRAINED_COSPLACE: "cosplace_train", TRAINED_EFFNET: "cosplace_finetune"}
COSPLACE_NAMES = {Path(ckpt).stem: key for ckpt, key in COSPLACE_TRAININGS.items()}
TRAINSET_KEYS = ("folder", "city", "city_seed", "headings", "conditions", "supersample")
_FIELD = re.compile(r"\{(\w+)\}")


def fill(artifact: str, **values) -> str:
    """The template of ``artifact`` with the fields in ``values`` filled and the others kept as
    wildcards (``fill("retrieval", k=100)``: a rule input at depth K)."""
    template = PATHS[artifact]
    unknown = set(values) - set(_FIELD.findall(template))
    if unknown:
        raise KeyError(f"path {artifact!r} ({template}) has no field {', '.join(sorted(unknown))}")
    return _FIELD.sub(lambda m: str(values.get(m.group(1), m.group(0))), template)


def path(artifact: str, **values) -> str:
    """The path of ``artifact`` with every field filled; KeyError naming a missing one."""
    out = fill(artifact, **values)
    left = _FIELD.findall(out)
    if left:
        raise KeyError(f"path {artifact!r}: no value for {', '.join(left)}")
    return out


def canonical(value):
    """Dicts with sorted keys, recursively: params that do not change when a config file lists
    the same keys in another order (Snakemake re-runs jobs whose params changed)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class Run:
    """One re-ranking run: a method on one split's top-RK of one global descriptor."""

    dataset: str
    split: str
    gdesc: str
    method: str
    extractor: str
    rk: int

    def _path(self, artifact: str) -> str:
        """The path of ``artifact`` with the run's values for the fields its template has."""
        values = dict(
            dataset=self.dataset,
            split=self.split,
            gtag=self.gdesc,
            k=self.rk,
            method=self.method,
            etag=self.extractor,
        )
        fields = set(_FIELD.findall(PATHS[artifact]))
        return path(artifact, **{k: v for k, v in values.items() if k in fields})

    @property
    def parquet(self) -> str:
        return self._path("rerank")

    @property
    def queries_features(self) -> str:
        return self._path("local_queries")

    @property
    def db_features(self) -> str:
        return self._path("local_database")

    def as_dict(self) -> dict:
        """The form the tables and figures scripts read (``params.runs``)."""
        return dict(
            dataset=self.dataset,
            split=self.split,
            gdesc=self.gdesc,
            method=self.method,
            extractor=self.extractor,
            parquet=self.parquet,
            queries_features=self.queries_features,
            db_features=self.db_features,
        )


def learned(kind: str, conf: dict) -> bool:
    """Whether a resolved preset ``conf`` of ``kind`` ('extractor', 'matcher', 'scorer' or
    'global') runs a network with weights (its type takes ``weights``): such jobs request
    ``gpu=1`` on a cluster. VLAD over a learned local extractor is learned."""
    if kind != "global":
        return "weights" in LOCAL_PARAMS[kind].get(conf["type"], {})
    if "weights" in GLOBAL_PARAMS.get(conf["type"], {}):
        return True
    local = conf.get("local")
    if conf["type"] != "vlad" or local in (None, "rootsift-dense", "rootsift-dense-det"):
        return False
    extractor = dict(local) if isinstance(local, dict) else local_preset("extractor", local)
    return learned("extractor", extractor)


class Plan:
    """Everything the workflow derives from one validated ``config``."""

    def __init__(self, config: dict):
        self.config = config
        self.k = config["retrieval"]["k"]
        self.rk = config["rerank"]["k"] or self.k
        self.num_boot = config["evaluation"]["bootstrap"]
        self.presets = config.get("presets", {})
        wanted = config.get("run_datasets")
        self.datasets = {
            name: entry
            for name, entry in config["datasets"].items()
            if not wanted or name in wanted
        }
        self.globals = {}
        self.methods = {}
        self.extractors = {}
        # per dataset, the tags of its global descriptors and methods (presets resolved once)
        self._gtags: dict[str, list[str]] = {}
        self._mtags: dict[str, list[str]] = {}
        for ds in self.datasets:
            self._gtags[ds], self._mtags[ds] = [], []
            for g in self.globals_of(ds):
                conf = get_global_preset(g, self.presets.get("global"))
                self.globals[conf["tag"]] = conf
                self._gtags[ds].append(conf["tag"])
            for m in self.methods_of(ds):
                parsed = parse_method(m, self.presets)
                self.methods[parsed["tag"]] = parsed
                self.extractors[parsed["extractor"]["tag"]] = parsed["extractor"]
                self._mtags[ds].append(parsed["tag"])
        self.runs = [
            Run(ds, split, g, m, self.methods[m]["extractor"]["tag"], self.rk)
            for ds in self.datasets
            for split in self.splits(ds)
            for g in self.gtags(ds)
            for m in self.mtags(ds)
        ]

    # -- datasets, splits, descriptors, methods

    def splits(self, ds: str) -> list[str]:
        """Query splits of a dataset: the configured ones, then those the query-set builder makes
        (``build``: split -> builder conf)."""
        entry = self.datasets[ds]
        splits = entry.get("splits")
        base = [entry.get("split", "queries")] if splits is None else list(splits)
        return base + [s for s in self.built_splits(ds) if s not in base]

    def built_splits(self, ds: str) -> list[str]:
        return list(self.datasets[ds].get("build", {}))

    def build_conf(self, ds: str, split: str) -> dict:
        return self.datasets[ds]["build"][split]

    def globals_of(self, ds: str) -> list:
        return self.datasets[ds].get("global", self.config["global"])

    def methods_of(self, ds: str) -> list:
        return self.datasets[ds].get("methods", self.config["methods"])

    def gtags(self, ds: str) -> list[str]:
        return list(self._gtags[ds])

    def mtags(self, ds: str) -> list[str]:
        return list(self._mtags[ds])

    def _runs_of(self, ds: str, split: str, gdesc: str) -> list[Run]:
        return [r for r in self.runs if (r.dataset, r.split, r.gdesc) == (ds, split, gdesc)]

    def runs_of(self, ds: str, split: str, gdesc: str) -> list[dict]:
        return [r.as_dict() for r in self._runs_of(ds, split, gdesc)]

    # -- completion files

    def synth_ready(self, ds: str, splits: list[str]) -> list[str]:
        """Completion files of a generated dataset's database and of the query ``splits`` ([] for
        datasets read in place)."""
        if "synth" not in self.datasets[ds]:
            return []
        return [path("synth_database", dataset=ds)] + [
            path("synth_queries", dataset=ds, split=s) for s in splits
        ]

    def split_ready(self, ds: str, split: str) -> list[str]:
        """Input of split-level jobs: the database and their split (a built split: the builder's
        completion file, written after its query images)."""
        if split in self.built_splits(ds):
            return self.synth_ready(ds, []) + [path("built", dataset=ds, split=split)]
        return self.synth_ready(ds, [split])

    # -- views of a dataset entry (job params)

    def synth_city_conf(self, ds: str) -> dict:
        """SynthCity conf of the city and the database only (no query splits)."""
        return canonical({k: v for k, v in self.datasets[ds]["synth"].items() if k != "queries"})

    def synth_split_conf(self, ds: str, split: str) -> dict:
        """SynthCity conf of the city plus the one query split ``split``."""
        queries = self.datasets[ds]["synth"].get("queries", SYNTH_DEFAULT["queries"])
        return canonical(
            {
                **self.synth_city_conf(ds),
                "queries": {split: queries[split]} if split in queries else {},
            }
        )

    def db_entry(self, ds: str) -> dict:
        """Database-only view of a dataset entry: the params of database-level jobs, unchanged
        when a query split or a method is added."""
        entry = database_view({k: v for k, v in self.datasets[ds].items() if k not in SPLIT_KEYS})
        if "synth" in entry:
            entry["synth"] = self.synth_city_conf(ds)
        return canonical(entry)

    def split_entry(self, ds: str, split: str) -> dict:
        """View of a dataset entry with the one query split ``split``: the params of split-level
        jobs, unchanged when another split is added."""
        entry = {
            k: v for k, v in self.datasets[ds].items() if k not in ("global", "methods", "build")
        }
        splits = entry.get("splits")
        if split in self.built_splits(ds):
            # written by the builder in the standard layout: <root>/images/test/queries_<split>
            splits = entry["splits"] = {split: f"images/test/queries_{split}"}
        if isinstance(splits, dict):
            entry["splits"] = {split: splits[split]} if split in splits else {}
        elif splits is not None:
            entry["splits"] = [split]
        if "synth" in entry:
            entry["synth"] = self.synth_split_conf(ds, split)
        return canonical(entry)

    # -- targets of rule all

    def _split_gtags(self):
        for ds in self.datasets:
            for split in self.splits(ds):
                for g in self.gtags(ds):
                    yield ds, split, g

    def _evaluation_files(self, retrieval: str, method: str) -> list[str]:
        """The files ``retrieval`` names for each split and descriptor, then those ``method``
        names for each run (templates of :data:`PATHS`)."""
        return [
            path(retrieval, dataset=ds, split=split, gtag=g, k=self.rk)
            for ds, split, g in self._split_gtags()
        ] + [r._path(method) for r in self.runs]

    def recall_files(self) -> list[str]:
        return self._evaluation_files("recall_retrieval", "recall_method")

    def query_files(self) -> list[str]:
        return self._evaluation_files("recall_retrieval_queries", "recall_method_queries")

    def sweep_files(self) -> list[str]:
        return [r._path("recall_method_sweep") for r in self.runs]

    def rerank_files(self) -> list[str]:
        return [r.parquet for r in self.runs]

    def db_feature_files(self) -> list[str]:
        return sorted({r.db_features for r in self.runs})

    def tables(self) -> list[str]:
        return [path("table", name=n) for n in TABLES]

    def plots(self) -> list[str]:
        return [path("plot", name=n) for n in PLOTS]

    def figures(self) -> list[str]:
        if not self.config["report"].get("figures", True):
            return []
        return [
            path("figures", dataset=ds, split=split, gtag=g, k=self.rk)
            for ds, split, g in self._split_gtags()
            if self.methods_of(ds)
        ]

    def builder_reports(self) -> list[str]:
        out = []
        for ds in self.datasets:
            for split in self.built_splits(ds):
                d = path("builder_split", dataset=ds, split=split)
                out += [f"{d}/funnel.md", f"{d}/map.png"]
                if self.build_conf(ds, split)["source"].get("embedded"):
                    out.append(f"{d}/truth.md")
        return out

    def targets(self) -> list[str]:
        return self.tables() + self.plots() + self.figures() + self.builder_reports()

    def severity_levels(self) -> list[list]:
        """Night ambient level of each generated night split: the x axis of the domain-shift
        curve."""
        out = []
        for ds, entry in self.datasets.items():
            for split, q in entry.get("synth", {}).get("queries", {}).items():
                if q.get("condition") == "night" and "ambient" in q and split in self.splits(ds):
                    out.append([ds, split, float(q["ambient"])])
        return out

    # -- per-job inputs

    def method_features(self, ds: str, split: str, gtag: str, k, method: str) -> dict:
        etag = self.methods[method]["extractor"]["tag"]
        return {
            "queries": path("local_queries", dataset=ds, etag=etag, split=split),
            "database": path("local_database", dataset=ds, etag=etag, split=split, gtag=gtag, k=k),
        }

    def figure_inputs(self, ds: str, split: str, gtag: str) -> dict:
        runs = self._runs_of(ds, split, gtag)
        return {
            "retrieval": path("retrieval", dataset=ds, split=split, gtag=gtag, k=self.k),
            "rerank": [r.parquet for r in runs],
            "features": sorted({r.db_features for r in runs} | {r.queries_features for r in runs}),
            "ready": self.split_ready(ds, split),
        }

    # -- GPU requests (profiles/slurm turns gpu=1 into sbatch --gpus=1)

    def gpu_extractor(self, etag: str) -> int:
        return int(learned("extractor", self.extractors[etag]))

    def gpu_method(self, method: str) -> int:
        """Learned matchers; a learned extractor alone does not need one (features are cached)."""
        return int(learned("matcher", self.methods[method]["matcher"]))

    def gpu_global(self, gtag: str) -> int:
        return int(learned("global", self.globals[gtag]))

    # -- query-set builder

    def stage_conf(self, ds: str, split: str, name: str) -> dict:
        """The built split's conf of stage ``name`` (its Stage.conf key)."""
        return canonical(self.build_conf(ds, split)[builder_stage(name).conf])

    def collection_input(self, ds: str, split: str) -> list[str]:
        """The SynthCity photo collection the embedded fake Flickr server serves ([] otherwise)."""
        if self.build_conf(ds, split)["source"].get("embedded"):
            return [path("builder_collection", dataset=ds, split=split)]
        return []

    def builder_model(self, ds: str, split: str, task: str) -> str | list:
        """The user's checkpoint, or the one builder_train makes for the dataset ([]: none)."""
        conf = self.build_conf(ds, split)[task]
        if conf["model"]:
            return conf["model"]
        if task == "daynight" and conf["method"] == "brightness":
            return []
        return path("builder_model", dataset=ds, task=task)

    def builder_train_conf(self, ds: str, task: str) -> dict:
        """Training keys of ``task``, shared by every built split of the dataset (the first
        one's)."""
        confs = [c[task].get("train", {}) for c in self.datasets[ds].get("build", {}).values()]
        return canonical(confs[0] if confs else {})

    def corrections_file(self, ds: str, split: str) -> str:
        conf = self.build_conf(ds, split)
        return conf["corrections"] or path("corrections", dataset=ds, split=split)

    def existing_corrections(self, ds: str, split: str) -> list[str]:
        """The reviewer's CSV when it exists: saving one makes the next run re-apply it."""
        p = self.corrections_file(ds, split)
        return [p] if Path(p).is_file() else []

    def first_gtag(self, ds: str) -> str:
        return self.gtags(ds)[0]

    # -- CosPlace trainings (config keys cosplace_train, cosplace_finetune)

    def cosplace_city_seed(self, key: str = "cosplace_train") -> int:
        seed = self.config[key]["city_seed"]
        seed = self.config["seed"] + 7919 if seed is None else seed
        if seed == self.config["seed"]:
            raise ConfigError(
                f"{key}.city_seed: {seed} is the test city's seed (config 'seed'); "
                "the training city must be another city"
            )
        return seed

    def cosplace_train_conf(self, key: str = "cosplace_train") -> dict:
        """Training keys (vgrerank.globaldesc.cosplace_train.check_conf) with the seed resolved."""
        conf = {k: v for k, v in self.config[key].items() if k not in TRAINSET_KEYS}
        conf["seed"] = self.config["seed"] if conf["seed"] is None else conf["seed"]
        return canonical(conf)

    def cosplace_gtags(self) -> list[str]:
        """Tags of the global presets whose weights are a trained checkpoint; each must match the
        trained network (else loading it would fail inside a job)."""
        tags = []
        for tag, conf in self.globals.items():
            key = COSPLACE_TRAININGS.get(conf.get("weights"))
            if conf.get("type") != "cosplace" or key is None:
                continue
            train = self.config[key]
            want = {
                "backbone": train["backbone"],
                "fc_output_dim": train["fc_dim"],
                "resize_max": max(train["image_size"]),
            }
            for name, value in want.items():
                if conf.get(name) != value:
                    raise ConfigError(
                        f"global preset with tag {tag!r}: {name}={conf.get(name)!r} but "
                        f"{key} trains {value!r} (set presets.global.<name>.{name})"
                    )
            tags.append(tag)
        return sorted(tags)

    def cosplace_root(self, key: str = "cosplace_train") -> str:
        folder = self.config[key]["folder"]
        return folder or str(Path(path("cosplace_trainset", key=key)).parent / "images")

    def cosplace_trainset_input(self, name: str) -> list | str:
        key = COSPLACE_NAMES[name]
        return [] if self.config[key]["folder"] else path("cosplace_trainset", key=key)

    def trained_weights(self, gtag: str) -> list[str]:
        """Input of global_database: the checkpoint cosplace_train trains, for the presets that
        use it (so naming one in `global:` trains it first)."""
        return [self.globals[gtag]["weights"]] if gtag in self.cosplace_gtags() else []
