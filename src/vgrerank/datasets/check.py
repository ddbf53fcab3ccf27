"""Checks run when the workflow builds its DAG, so that bad input fails there and not inside a
job: every configured query split of a dataset on disk holds at least one image."""

from __future__ import annotations

from pathlib import Path

from .formats import get_format


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
    return get_format(conf, name).query_counts(name, conf, base_dir, configured_splits(conf))
