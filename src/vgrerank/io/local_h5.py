"""Per-image local-feature cache in HDF5.

Layout of ``results/<dataset>/local/<extractor tag>/{database,queries_<split>}.h5``::

    /<image name with '/' replaced by '|'>/    one group per image
        keypoints    [n, 2] float32   (x, y) pixels of the original image
        descriptors  [n, d] float16
        scores       [n]    float32
        attrs: size = (width, height), time = extraction seconds, name = image name
    attrs: conf (JSON of the extractor preset), tag, provenance (JSON), complete = True

Written once by one job through a temporary file that is renamed when complete.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from ..errors import DataError
from ..imageio import load_image
from ..local.base import Features
from .atomic import atomic_path
from .h5util import open_h5
from .provenance import provenance_json


def key(name: str) -> str:
    return name.replace("/", "|")


def write_features(path: Path, items: Iterable[tuple[str, Features, float]], conf: dict) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, feats, seconds in items:
            g = f.create_group(key(name))
            g.create_dataset("keypoints", data=feats.keypoints.astype(np.float32))
            g.create_dataset("descriptors", data=feats.descriptors.astype(np.float16))
            g.create_dataset("scores", data=feats.scores.astype(np.float32))
            g.attrs["size"] = np.array(feats.size, dtype=np.int64)
            g.attrs["time"] = float(seconds)
            g.attrs["name"] = name
        f.attrs["conf"] = json.dumps(conf, sort_keys=True)
        f.attrs["tag"] = conf.get("tag", "")
        f.attrs["provenance"] = provenance_json(conf)
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


class FeatureStore:
    """Read access to a feature file; ``store[name] -> Features``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = open_h5(self.path, "feature")
        if not self.file.attrs.get("complete", False):
            raise DataError(f"{self.path}: feature file is incomplete (no 'complete' attribute)")
        self.conf = json.loads(self.file.attrs["conf"])

    def __contains__(self, name: str) -> bool:
        return key(name) in self.file

    def __getitem__(self, name: str) -> Features:
        k = key(name)
        if k not in self.file:
            raise DataError(f"{self.path}: no features for image {name!r}")
        g = self.file[k]
        return Features(
            g["keypoints"][()],
            g["descriptors"][()].astype(np.float32),
            g["scores"][()],
            tuple(g.attrs["size"]),
        )

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
