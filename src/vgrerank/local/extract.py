"""Local-feature extraction stage: features are computed once per image and extractor preset,
only for the database images that appear in some query's top-K, and reused by every method that
shares the extractor. Database features go to an append-only store of shards
(:func:`vgrerank.io.local_h5.update_database`): a new retrieval file extracts only the candidates
no earlier job has extracted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io.local_h5 import extract_features, update_database
from .registry import PARAMS, make_extractor


def candidate_names(retrieval_files: Sequence[Path], k: int) -> list[str]:
    """Sorted union of database image names in the top-``k`` of any retrieval file."""
    from ..retrieval import read_retrieval

    names: set[str] = set()
    for path in retrieval_files:
        ret = read_retrieval(path)
        idx = np.unique(np.asarray(ret.indices)[:, :k])
        db = ret.db_names
        names.update(db[int(i)] for i in idx if i >= 0)
    if not names:
        raise DataError(f"no candidate database images in {', '.join(map(str, retrieval_files))}")
    return sorted(names)


def database_candidates(ds, retrieval_file: Path, k: int) -> list[str]:
    """:func:`candidate_names` of one retrieval file, each checked to be an image of the
    dataset ``ds`` (a :class:`~vgrerank.datasets.base.Dataset`); progress line printed."""
    names = candidate_names([retrieval_file], k)
    unknown = sorted(set(names) - set(ds.database.names))
    if unknown:
        raise DataError(
            f"{retrieval_file}: {len(unknown)} candidate(s) not in the database of "
            f"{ds.name!r}, e.g. {unknown[0]!r}"
        )
    print(f"{len(names)} of {len(ds.database)} database images are candidates", flush=True)
    return names


def build_extractor(conf: dict, device: str = "auto"):
    """The extractor of ``conf``; a torch extractor (one with a ``device`` parameter) runs on
    ``device`` (:func:`vgrerank.device.resolve_device`) unless its preset names one."""
    params = dict(conf)
    if "device" in PARAMS["extractor"].get(params.get("type"), {}):
        params.setdefault("device", device)
    return make_extractor(params)


def extract_images(
    conf: dict, root: Path, names: list[str], out: Path, device: str = "auto", desc: str = ""
) -> None:
    extract_features(build_extractor(conf, device), conf, Path(root), names, Path(out), desc=desc)


def extract_database(
    conf: dict,
    root: Path,
    names: list[str],
    index: Path,
    shard_dir: Path,
    device: str = "auto",
    desc: str = "database",
) -> dict:
    """Database features of ``names``: only images not in a shard of ``shard_dir`` are extracted
    (the extractor is built only then); ``index`` links every name to its shard."""
    return update_database(
        lambda: build_extractor(conf, device), conf, Path(root), names, index, shard_dir, desc=desc
    )
