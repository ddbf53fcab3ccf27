"""Per-image local features and their layout in an HDF5 group (the ground floor: imports
nothing of vg-rerank but its errors, so that both ``vgrerank.io`` and ``vgrerank.local`` build
on it).

:class:`Features` holds the three arrays every matcher reads (``keypoints``, ``descriptors``,
``scores``, one row per keypoint), the original image's ``size`` and named ``extras``: further
arrays, each with its own shape and dtype, that a method's matcher or scorer needs beside the
keypoint rows, e.g. DELG's per-image global vector ``global`` (float32 [2048]) and feature
scales ``scale`` for the Reranking Transformer, or CVNet's dense maps ``map_0.25`` ..
``map_1`` (float16 [256, h, w]).

HDF5 layout of one image (hloc-style: one group per image, one dataset per array)::

    /<group>/
        keypoints    [n, 2] float32
        descriptors  [n, d] float16   (read back as float32)
        scores       [n]    float32
        <extra>      any shape, stored and read back in the extra's own dtype
        attrs: size = (width, height)

The file that holds such groups records :data:`FORMAT_VERSION` in its attribute
``format_version`` (:func:`check_format` refuses any other: version 1, the layout before named
extras, packed global vectors and dense maps into keypoint rows and had no attribute).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

FORMAT_VERSION = 2  # 2: named extras as datasets of their own (1: packed sentinel rows)
FORMAT_ATTR = "format_version"
ROW_ARRAYS = ("keypoints", "descriptors", "scores")


def check_extra_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in ROW_ARRAYS:
        raise DataError(
            f"Features: extra name {name!r} must be a non-empty string without '/' and not one "
            f"of {list(ROW_ARRAYS)}"
        )
    return name


@dataclass
class Features:
    keypoints: np.ndarray  # [n, 2] float32, (x, y) pixels of the original image
    descriptors: np.ndarray  # [n, d] float32 (stored as float16 in the cache)
    scores: np.ndarray  # [n] float32 detection scores (ones when the detector has none)
    size: tuple[int, int]  # (width, height) of the original image
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # name -> array (own dtype)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, 2)
        n = len(self.keypoints)
        desc = np.asarray(self.descriptors, dtype=np.float32)
        self.descriptors = desc if desc.ndim == 2 and len(desc) == n else desc.reshape(n, -1)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(n)
        self.size = (int(self.size[0]), int(self.size[1]))
        self.extras = {check_extra_name(k): np.asarray(v) for k, v in (self.extras or {}).items()}

    def __len__(self) -> int:
        return len(self.keypoints)

    def extra(self, name: str, what: str = "") -> np.ndarray:
        """The extra ``name``; :class:`DataError` saying which extractor makes it (``what``)
        when these features lack it."""
        if name not in self.extras:
            have = sorted(self.extras) or "none"
            raise DataError(
                f"features ({len(self)} keypoints, extras {have}) have no extra {name!r}"
                + (f": {what}" if what else "")
            )
        return self.extras[name]


def write_group(group, feats: Features) -> None:
    """Write ``feats`` into the (empty) h5py group ``group`` in the layout above."""
    group.create_dataset("keypoints", data=feats.keypoints.astype(np.float32))
    group.create_dataset("descriptors", data=feats.descriptors.astype(np.float16))
    group.create_dataset("scores", data=feats.scores.astype(np.float32))
    for name, value in feats.extras.items():
        group.create_dataset(name, data=value)
    group.attrs["size"] = np.array(feats.size, dtype=np.int64)


def read_group(group) -> Features:
    """The :class:`Features` of an h5py group written by :func:`write_group`."""
    extras = {k: group[k][()] for k in group if k not in ROW_ARRAYS}
    return Features(
        group["keypoints"][()],
        group["descriptors"][()].astype(np.float32),
        group["scores"][()],
        tuple(group.attrs["size"]),
        {k: np.asarray(v) for k, v in extras.items()},
    )


def stamp_format(attrs: Mapping) -> None:
    """Record :data:`FORMAT_VERSION` in a file's ``attrs`` (an h5py AttributeManager)."""
    attrs[FORMAT_ATTR] = FORMAT_VERSION


def format_problem(attrs: Mapping) -> str | None:
    """Why a features file with these attrs cannot be read (None: its format is current)."""
    version = int(attrs.get(FORMAT_ATTR, 1))
    if version == FORMAT_VERSION:
        return None
    return (
        f"feature cache format {version}, this vg-rerank reads format {FORMAT_VERSION} "
        + ("(an older cache with packed keypoint rows)" if version < FORMAT_VERSION else "")
    ).strip()


def check_format(attrs: Mapping, path: str | Path) -> None:
    """:class:`DataError` naming ``path`` when its format is not :data:`FORMAT_VERSION`."""
    problem = format_problem(attrs)
    if problem:
        raise DataError(
            f"{path}: {problem}; re-run the extraction (delete the file, or its folder "
            "results/<dataset>/local/<extractor>/, and run the workflow again)"
        )
