"""Per-image local-feature cache in HDF5.

Layout of ``results/<dataset>/local/<extractor tag>/queries_<split>.h5`` and of the database
shards ``.../db/<digest>.h5``::

    /<image name with '/' replaced by '|'>/    one group per image
        keypoints    [n, 2] float32   (x, y) pixels of the original image
        descriptors  [n, d] float16
        scores       [n]    float32
        <extra>      the extractor's named extras, each in its own shape and dtype
        attrs: size = (width, height), time = extraction seconds, name = image name
    attrs: conf (JSON of the extractor preset), tag, provenance (JSON), complete = True,
           format_version (:data:`vgrerank.features.FORMAT_VERSION`)

The per-image group is :func:`vgrerank.features.write_group` / ``read_group``. A file of another
format version (version 1 had no attribute and packed global vectors and dense maps into keypoint
rows) is refused by :class:`FeatureStore` (a :class:`DataError` naming it: re-run) and, as a
shard, ignored and extracted again.

Written once by one job through a temporary file that is renamed when complete.

Database features are an append-only store (:func:`update_database`): immutable *shards*
``local/<extractor tag>/db/<digest>.h5`` with the layout above (each written once, atomically,
with ``complete``), and per retrieval file an *index* ``local/<extractor tag>/database/<split>/
<gdesc>-K<k>.h5`` whose per-image entries are HDF5 external links into the shards (h5py and
:class:`FeatureStore` resolve them transparently; the index has the same file attrs plus
``shards``, the linked shard files relative to the index). A job extracts only the candidates
that no complete shard of the same extractor conf holds yet, under a lock on the shard folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import h5py
from tqdm import tqdm

from ..errors import DataError
from ..features import Features, check_format, format_problem, read_group, stamp_format, write_group
from ..imageio import load_image
from .atomic import atomic_path
from .h5util import open_h5
from .provenance import provenance_json


def key(name: str) -> str:
    return name.replace("/", "|")


def write_features(path: Path, items: Iterable[tuple[str, Features, float]], conf: dict) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, feats, seconds in items:
            g = f.create_group(key(name))
            write_group(g, feats)
            g.attrs["time"] = float(seconds)
            g.attrs["name"] = name
        f.attrs["conf"] = json.dumps(conf, sort_keys=True)
        f.attrs["tag"] = conf.get("tag", "")
        f.attrs["provenance"] = provenance_json(conf)
        stamp_format(f.attrs)
        f.attrs["complete"] = True


def extract_features(
    extractor, conf: dict, root: Path, names: list[str], out: Path, desc: str = ""
) -> None:
    """Extract features of ``names`` (relative to ``root``) and write them to ``out``."""
    if not names:
        raise DataError(f"{out}: no images to extract features from")

    def gen():
        for name in tqdm(names, desc=desc or f"local {conf.get('tag', '')}", mininterval=2):
            image = load_image(root / name)
            t0 = time.perf_counter()
            feats = extractor(image)
            yield name, feats, time.perf_counter() - t0

    write_features(out, gen(), conf)


LOCK_NAME = ".lock"


def conf_json(conf: dict) -> str:
    return json.dumps(conf, sort_keys=True)


def shard_digest(conf: dict, names: Iterable[str]) -> str:
    """16 hex digits naming the shard of the images ``names`` made with extractor ``conf``."""
    text = "\n".join([conf_json(conf), *sorted(key(n) for n in names)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shard_problem(path: Path, conf: dict) -> tuple[str | None, list[str]]:
    """(reason the shard cannot be used or None, its image keys)."""
    try:
        with h5py.File(path, "r") as f:
            if not f.attrs.get("complete", False):
                return "incomplete (no 'complete' attribute)", []
            if f.attrs.get("conf") != conf_json(conf):
                return f"made with another extractor conf ({f.attrs.get('tag', '?')!r})", []
            if problem := format_problem(f.attrs):
                return problem, []
            return None, list(f.keys())
    except OSError as exc:
        return f"not a readable HDF5 file ({exc})", []


def list_shards(shard_dir: str | Path, conf: dict, log: Callable[[str], None] = print) -> dict:
    """Image key -> shard path over every complete shard in ``shard_dir`` made with ``conf``
    (sorted by file name; an image in two shards maps to the first). Incomplete, unreadable or
    foreign shards are reported through ``log`` and ignored (their images are extracted again)."""
    shard_dir = Path(shard_dir)
    out: dict[str, Path] = {}
    for path in sorted(shard_dir.glob("*.h5")) if shard_dir.is_dir() else []:
        problem, keys = _shard_problem(path, conf)
        if problem:
            log(f"ignoring shard {path}: {problem}")
            continue
        for k in keys:
            out.setdefault(k, path)
    return out


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Exclusive lock on ``folder`` (one extraction per shard folder at a time); without
    ``fcntl`` or on a file system without locks it degrades to no lock (concurrent jobs may then
    extract an image twice, into different shards, which is harmless)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / LOCK_NAME, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
        except OSError as exc:  # pragma: no cover - e.g. NFS without lockd
            print(f"warning: cannot lock {folder} ({exc}); continuing without a lock", flush=True)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh, fcntl.LOCK_UN)


def write_index(path: str | Path, shards: dict[str, Path], conf: dict) -> None:
    """Write the index ``path``: image name -> external link into its shard (``shards``)."""
    path = Path(path)
    rel = {s: os.path.relpath(s, path.parent) for s in set(shards.values())}
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, shard in shards.items():
            f[key(name)] = h5py.ExternalLink(rel[shard], "/" + key(name))
        f.attrs["conf"] = conf_json(conf)
        f.attrs["tag"] = conf.get("tag", "")
        f.attrs["provenance"] = provenance_json(conf)
        f.attrs["shards"] = json.dumps(sorted(rel.values()))
        stamp_format(f.attrs)
        f.attrs["complete"] = True


def update_database(
    get_extractor: Callable[[], Callable],
    conf: dict,
    root: str | Path,
    names: list[str],
    index: str | Path,
    shard_dir: str | Path,
    desc: str = "",
) -> dict:
    """Make ``index`` cover the database images ``names``: extract only those that no complete
    shard in ``shard_dir`` holds (``get_extractor()`` is called only then), append them as one
    new shard, then write the index of links. Returns ``candidates``, ``extracted``, ``shard``
    (the new shard or None)."""
    if not names:
        raise DataError(f"{index}: no images to extract features from")
    shard_dir, index = Path(shard_dir), Path(index)
    new_shard = None
    with _locked(shard_dir):
        have = list_shards(shard_dir, conf)
        missing = [n for n in names if key(n) not in have]
        print(
            f"{len(names) - len(missing)} of {len(names)} candidates already extracted "
            f"({len(set(have.values()))} shard(s) in {shard_dir}); extracting {len(missing)}",
            flush=True,
        )
        if missing:
            new_shard = shard_dir / f"{shard_digest(conf, missing)}.h5"
            extract_features(get_extractor(), conf, Path(root), missing, new_shard, desc=desc)
            have.update({key(n): new_shard for n in missing})
    write_index(index, {n: have[key(n)] for n in names}, conf)
    return {"candidates": len(names), "extracted": len(missing), "shard": new_shard}


class FeatureStore:
    """Read access to a feature file or a database index of shards; ``store[name] -> Features``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = open_h5(self.path, "feature")
        if not self.file.attrs.get("complete", False):
            raise DataError(f"{self.path}: feature file is incomplete (no 'complete' attribute)")
        try:
            check_format(self.file.attrs, self.path)
        except DataError:
            self.file.close()
            raise
        self.conf = json.loads(self.file.attrs["conf"])
        for rel in json.loads(self.file.attrs.get("shards", "[]")):
            if not (self.path.parent / rel).is_file():
                self.file.close()
                raise DataError(
                    f"{self.path}: its feature shard {self.path.parent / rel} is missing; "
                    "extract again (snakemake --forcerun local_database)"
                )

    def __contains__(self, name: str) -> bool:
        return key(name) in self.file

    def __getitem__(self, name: str) -> Features:
        k = key(name)
        if k not in self.file:
            raise DataError(f"{self.path}: no features for image {name!r}")
        try:
            g = self.file[k]
        except KeyError as exc:  # a link into a shard that cannot be opened
            raise DataError(f"{self.path}: features of image {name!r} unreadable ({exc})") from None
        return read_group(g)

    def time(self, name: str) -> float:
        return float(self.file[key(name)].attrs["time"])

    def names(self) -> list[str]:
        return [self.file[k].attrs["name"] for k in self.file]

    def close(self) -> None:
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
