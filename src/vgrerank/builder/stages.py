"""The query-set builder's stages as data: one :class:`Stage` each, :data:`STAGES` in order.

A built split runs its :data:`SOURCE` (``builder_fetch``: Flickr, the fake Flickr or a folder ->
``photos.parquet``), then every filter of :data:`STAGES` in turn: each reads the photos the
previous one kept (the first: the downloaded photos) and writes one table keyed by ``photo_id``
with ``keep`` and ``reason`` (``results/<ds>/builder/<split>/<table>.parquet``). The last
stage's kept photos, at the positions of the ``corrections`` stage, are the built split.

Everything that names a stage derives from this list: the paths ``workflow/rules/builder.smk`` wires
(:func:`stage_table`, :func:`previous_table`, :func:`stage_log`, :func:`stage_benchmark`), the
funnel's steps (``workflow/scripts/builder_report.py``), the stage scores against the SynthCity
truth (:data:`.truth.SCORERS`, one entry per stage) and which classifiers rule ``builder_train``
trains. ``tests/test_builder_stages.py`` checks that each stage has its rule, script and scorer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import schema_default

# where a built split's conf sits in the config (datasets.<name>.build.<split>)
BUILD_KEY = "datasets.*.build.*"
RESULTS = "results/{dataset}/builder/{split}"
LOGS = "logs/builder/{dataset}/{split}"
BENCHMARKS = "benchmarks/builder/{dataset}/{split}"


@dataclass(frozen=True)
class Stage:
    """One stage of a built split.

    ``name``: the rule is ``builder_<name>``, its script ``workflow/scripts/builder_<name>.py``,
    its log and benchmark ``<name>.log`` / ``<name>.tsv``; ``table``: the stem of the table it
    writes; ``funnel``: its step in the funnel (``'<funnel> dropped'``); ``conf``: the key of the
    built split's conf it reads (``None``: none); ``trained``: it runs a classifier that rule
    ``builder_train`` trains (``results/<ds>/builder/models/<name>.pt``) unless the conf names
    one.
    """

    name: str
    table: str
    funnel: str
    conf: str | None = None
    trained: bool = False

    @property
    def rule(self) -> str:
        return f"builder_{self.name}"

    @property
    def script(self) -> str:
        """The rule's script, relative to the repository root."""
        return f"workflow/scripts/builder_{self.name}.py"


SOURCE = Stage("fetch", "photos", "source", conf="source")
STAGES: tuple[Stage, ...] = (
    Stage("indoor", "indoor", "indoor", conf="indoor", trained=True),
    Stage("daynight", "daynight", "day", conf="daynight", trained=True),
    Stage("dedup", "dedup", "duplicates", conf="dedup"),
    Stage("corrections", "corrected", "rejected", conf="corrections"),
    Stage("geotag", "geotag", "no-positive", conf="geotag"),
)
BY_NAME = {s.name: s for s in (SOURCE, *STAGES)}
if len(BY_NAME) != len(STAGES) + 1 or len({s.table for s in BY_NAME.values()}) != len(BY_NAME):
    raise AssertionError("builder stages: names and tables must be unique")


def stage(name: str | Stage) -> Stage:
    """The stage called ``name`` (the source is ``fetch``); KeyError naming the known ones."""
    if isinstance(name, Stage):
        return name
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no builder stage {name!r} (stages: {', '.join(BY_NAME)})") from None


def previous(name: str | Stage) -> Stage:
    """The stage whose kept photos ``name`` reads: the one before it, or the source."""
    st = stage(name)
    if st is SOURCE:
        raise KeyError("the source stage reads no earlier stage")
    i = STAGES.index(st)
    return STAGES[i - 1] if i else SOURCE


def model_stages() -> list[str]:
    """Names of the stages that run a trained classifier (rule builder_train's tasks)."""
    return [s.name for s in STAGES if s.trained]


def build_default(key: str):
    """The schema's default of a built split's conf key (e.g. ``daynight.night_threshold``)."""
    return schema_default(f"{BUILD_KEY}.{key}")


def split_dir(dataset: str = "{dataset}", split: str = "{split}") -> str:
    """The folder of a built split's tables (wildcard patterns by default)."""
    return RESULTS.format(dataset=dataset, split=split)


def stage_table(name: str | Stage, dataset: str = "{dataset}", split: str = "{split}") -> str:
    """The table stage ``name`` writes (wildcard patterns by default)."""
    return f"{split_dir(dataset, split)}/{stage(name).table}.parquet"


def previous_table(name: str | Stage, dataset: str = "{dataset}", split: str = "{split}") -> str:
    """The table whose kept photos stage ``name`` reads."""
    return stage_table(previous(name), dataset, split)


def stage_tables(dataset: str = "{dataset}", split: str = "{split}") -> list[str]:
    """The tables of every filter stage, in order (the source's not included)."""
    return [stage_table(s, dataset, split) for s in STAGES]


def stage_log(name: str | Stage, dataset: str = "{dataset}", split: str = "{split}") -> str:
    return f"{LOGS.format(dataset=dataset, split=split)}/{stage(name).name}.log"


def stage_benchmark(name: str | Stage, dataset: str = "{dataset}", split: str = "{split}") -> str:
    return f"{BENCHMARKS.format(dataset=dataset, split=split)}/{stage(name).name}.tsv"
