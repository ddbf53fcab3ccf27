"""The table of dataset formats: the one place that knows what a config entry's ``format``
(``vg``, ``manifest``, ``frames``) means.

Each :class:`DatasetFormat` says which config keys the format requires, which keys are passed
to its reader, whether SynthCity can generate it and the query-set builder can write splits into
it, how to load it, its database-only view and how the DAG-time check counts its query images.
:func:`get_format` looks an entry's format up (default ``vg``); nothing else compares format
names (``tests/test_dataset_formats.py`` checks that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from .base import Dataset
from .readers import (
    list_images,
    read_frames_dataset,
    read_manifest,
    read_vg_dataset,
    read_vg_folder,
)

DEFAULT_FORMAT = "vg"
# keys of every format, passed to every reader when set
COMMON_KEYS = ("threshold_m", "heading_deg")


@dataclass(frozen=True)
class DatasetFormat:
    """One dataset format (a row of :data:`FORMATS`).

    ``required``: config keys ``validate_config`` requires, in the order they are checked.
    ``options``: config keys passed (when set) to the reader as keyword arguments.
    ``synth`` / ``buildable``: SynthCity can generate a dataset of this format / the query-set
    builder can write splits into one.
    ``load(name, conf, base_dir)``: the :class:`Dataset` of a config entry.
    ``database_view(entry)``: the database-only view of an entry (the params of database-level
    workflow jobs, unchanged when a query split is added).
    ``count_queries(fmt, name, conf, base_dir, splits)``: images per configured query split, or
    ``None`` when the data is not on disk (yet); see :func:`vgrerank.datasets.check_dataset`.
    ``source_key``: the config key of the file or folder the data is read from.
    ``missing_source``: ``None`` when a missing source is fine at DAG time (the workflow writes
    it, or a job reports it), else the :class:`DataError` wording (``{name}``, ``{source}``).
    ``empty_split``: what a query split without images is called (``{split}``).
    """

    name: str
    required: tuple[str, ...]
    options: tuple[str, ...]
    synth: bool
    buildable: bool
    load: Callable[[str, dict, Path], Dataset]
    database_view: Callable[[dict], dict]
    count_queries: Callable[..., dict[str, int] | None]
    source_key: str
    missing_source: str | None
    empty_split: str

    def reader_options(self, conf: dict) -> dict:
        return {k: conf[k] for k in self.options if k in conf}

    def query_counts(
        self, name: str, conf: dict, base_dir: Path, splits: list[str]
    ) -> dict[str, int] | None:
        """``count_queries`` of this format for the entry ``conf`` of dataset ``name``."""
        return self.count_queries(self, name, conf, base_dir, splits)


def _rel(base_dir: str | Path, p: str | Path) -> Path:
    p = Path(p)
    return p if p.is_absolute() else Path(base_dir) / p


def _common(conf: dict) -> dict:
    return {k: conf[k] for k in COMMON_KEYS if conf.get(k) is not None}


def _require(name: str, conf: dict, key: str, fmt: str) -> None:
    if key not in conf:
        raise ConfigError(f"datasets.{name}.{key}: required for format {fmt!r}")


# --- vg: the @UTM folder layout -------------------------------------------------------------


def _load_vg(name: str, conf: dict, base_dir: str | Path) -> Dataset:
    _require(name, conf, "root", "vg")
    opts = VG.reader_options(conf)
    kw = _common(conf)
    splits = conf.get("splits")
    if splits is not None and len(splits) == 0:
        # ``splits: []``: the database-only view (workflow jobs that do not depend on the splits)
        root = _rel(base_dir, conf["root"])
        if not root.is_dir():
            raise DataError(f"dataset {name!r}: root folder {root} not found")
        db = read_vg_folder(root, root / opts.get("database", "images/test/database"))
        return Dataset(name, root, db, {}, **kw)
    return read_vg_dataset(name, _rel(base_dir, conf["root"]), splits, **opts, **kw)


def _vg_database_view(entry: dict) -> dict:
    return {**entry, "splits": []}


def _count_vg(
    fmt: DatasetFormat, name: str, conf: dict, base_dir: Path, splits: list[str]
) -> dict[str, int] | None:
    """Images of each query folder, read without parsing names (the database is not needed)."""
    if "root" not in conf or not _rel(base_dir, conf["root"]).is_dir():
        return None
    root = _rel(base_dir, conf["root"])
    folders = conf.get("splits")
    if not isinstance(folders, dict):
        pattern = conf.get("query_folder", "images/test/queries_{split}")
        folders = {s: pattern.format(split=s) for s in splits}
    counts: dict[str, int] = {}
    for split in splits:
        try:
            counts[split] = len(list_images(root / folders[split]))
        except DataError as exc:
            raise DataError(f"dataset {name!r}, query split {split!r}: {exc}") from None
    return counts


# --- manifest and frames: counted by loading the dataset -------------------------------------


def _load_manifest(name: str, conf: dict, base_dir: str | Path) -> Dataset:
    _require(name, conf, "manifest", "manifest")
    root = _rel(base_dir, conf["root"]) if conf.get("root") else None
    return read_manifest(name, _rel(base_dir, conf["manifest"]), root, **_common(conf))


def _load_frames(name: str, conf: dict, base_dir: str | Path) -> Dataset:
    opts = FRAMES.reader_options(conf)
    return read_frames_dataset(name, _rel(base_dir, conf["root"]), **opts, **_common(conf))


def _unchanged(entry: dict) -> dict:
    return dict(entry)


def _count_loaded(
    fmt: DatasetFormat, name: str, conf: dict, base_dir: Path, splits: list[str]
) -> dict[str, int] | None:
    """Queries of each split of the loaded dataset; a split with none raises DataError."""
    if fmt.source_key == "root":
        source = _rel(base_dir, conf.get("root", "."))
        present = source.is_dir()
    else:
        source = _rel(base_dir, conf[fmt.source_key])
        present = source.exists()
    if not present and fmt.missing_source is not None:
        raise DataError(fmt.missing_source.format(name=name, source=source))
    if not source.exists():
        return None
    ds = fmt.load(name, conf, base_dir)
    counts: dict[str, int] = {}
    for split in splits:
        n = len(ds.queries[split]) if split in ds.queries else 0
        if n == 0:
            raise DataError(
                f"{source}: dataset {name!r}, query split {split!r}: "
                f"{fmt.empty_split.format(split=split)} "
                f"(splits found: {', '.join(sorted(ds.queries)) or 'none'})"
            )
        counts[split] = n
    return counts


VG = DatasetFormat(
    name="vg",
    required=("root", "splits"),
    options=("database", "query_folder"),
    synth=True,
    buildable=True,
    load=_load_vg,
    database_view=_vg_database_view,
    count_queries=_count_vg,
    source_key="root",
    missing_source=None,  # written by SynthCity or the builder, or reported by the job
    empty_split="no images",
)
MANIFEST = DatasetFormat(
    name="manifest",
    required=("manifest",),
    options=(),  # root (optional) and manifest are paths, resolved against base_dir
    synth=False,
    buildable=False,
    load=_load_manifest,
    database_view=_unchanged,
    count_queries=_count_loaded,
    source_key="manifest",
    missing_source=None,
    empty_split="no rows with condition {split!r}",
)
FRAMES = DatasetFormat(
    name="frames",
    required=("root",),
    options=("database", "queries", "ground_truth", "split"),
    synth=False,
    buildable=False,
    load=_load_frames,
    database_view=_unchanged,
    count_queries=_count_loaded,
    source_key="root",
    # nothing in the workflow writes a frames dataset: its folder must be there already
    missing_source="dataset {name!r} (format frames): root folder {source} not found "
    "(datasets.{name}.root)",
    empty_split="no images",
)

FORMATS: dict[str, DatasetFormat] = {f.name: f for f in (VG, MANIFEST, FRAMES)}


def get_format(conf: dict, name: str | None = None) -> DatasetFormat:
    """The format of the dataset config entry ``conf`` (default ``vg``); an unknown one raises
    :class:`ConfigError` naming it (and the key ``datasets.<name>.format`` when ``name`` is
    given) and the valid ones."""
    fmt = conf.get("format", DEFAULT_FORMAT)
    if fmt not in FORMATS:
        key = f"datasets.{name}.format" if name is not None else "format"
        raise ConfigError(f"{key}: {fmt!r} is not one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def formats_where(attr: str) -> str:
    """The formats whose flag ``attr`` is set, quoted, for messages: ``'vg'``."""
    return " or ".join(repr(f.name) for f in FORMATS.values() if getattr(f, attr))


def database_view(entry: dict) -> dict:
    """The database-only view of the dataset config entry ``entry``: ``splits: []`` for ``vg``
    (see :func:`vgrerank.datasets.load_dataset`), other formats unchanged. A new dict; the
    workflow's database-level jobs use it as their params."""
    return get_format(entry).database_view(entry)
