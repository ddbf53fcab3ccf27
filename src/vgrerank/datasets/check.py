"""Checks run when the workflow builds its DAG, so that bad input fails there and not inside a
job: every configured query split of a dataset on disk holds at least one image."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .readers import list_images
from .registry import load_dataset


def configured_splits(conf: dict) -> list[str]:
    """The query splits a dataset entry asks for (``splits`` list or mapping keys, else
    ``split``, default ``queries``), as the workflow enumerates them."""
    splits = conf.get("splits")
    if splits is None:
        return [conf.get("split", "queries")]
    return list(splits)


def check_dataset(name: str, conf: dict, base_dir: str | Path = ".") -> dict[str, int] | None:
    """Number of images of each configured query split of dataset ``name``; a split with none
    (an empty or missing query folder, a manifest without rows of that condition) raises
    :class:`DataError` naming the dataset, the split and the folder or file.

    Returns ``None`` (nothing checked) for generated datasets (``synth``: rendered later, their
    sizes are checked by :func:`vgrerank.config.validate_config`) and for datasets whose root or
    manifest is not on disk (yet): the jobs that read them report that. A ``frames`` dataset
    is never written by the workflow: a missing root raises :class:`DataError` naming it.
    """
    if "synth" in conf:
        return None
    base_dir = Path(base_dir)

    def rel(p: str | Path) -> Path:
        p = Path(p)
        return p if p.is_absolute() else base_dir / p

    fmt = conf.get("format", "vg")
    splits = configured_splits(conf)
    counts: dict[str, int] = {}
    if fmt == "vg":
        if "root" not in conf or not rel(conf["root"]).is_dir():
            return None
        root = rel(conf["root"])
        folders = conf.get("splits")
        if not isinstance(folders, dict):
            pattern = conf.get("query_folder", "images/test/queries_{split}")
            folders = {s: pattern.format(split=s) for s in splits}
        for split in splits:
            try:
                counts[split] = len(list_images(root / folders[split]))
            except DataError as exc:
                raise DataError(f"dataset {name!r}, query split {split!r}: {exc}") from None
        return counts
    source = rel(conf["manifest"]) if fmt == "manifest" else rel(conf.get("root", "."))
    if fmt == "frames" and not source.is_dir():
        # nothing in the workflow writes a frames dataset: its folder must be there already
        raise DataError(
            f"dataset {name!r} (format frames): root folder {source} not found "
            f"(datasets.{name}.root)"
        )
    if not source.exists():
        return None
    ds = load_dataset(name, conf, base_dir)
    for split in splits:
        n = len(ds.queries[split]) if split in ds.queries else 0
        if n == 0:
            what = f"no rows with condition {split!r}" if fmt == "manifest" else "no images"
            raise DataError(
                f"{source}: dataset {name!r}, query split {split!r}: {what} "
                f"(splits found: {', '.join(sorted(ds.queries)) or 'none'})"
            )
        counts[split] = n
    return counts
