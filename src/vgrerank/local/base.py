"""The small interfaces every local-feature component implements.

* An **extractor** maps an RGB uint8 image [H, W, 3] to :class:`Features`; keypoints are in the
  pixel coordinates of the image it was given (it may resize internally and must scale back).
* A **matcher** maps two :class:`Features` to index pairs [M, 2] (int64, row i0 in features 0,
  i1 in features 1). ``match_many`` matches one query against many candidates and may batch.
  A dense matcher that places its own points (LoFTR) returns :class:`PointMatches` instead;
  :func:`matched_points` gives the matched coordinates of either form.
* A **scorer** turns one pair's matches into a :class:`Score` (higher is better). It receives
  the matcher's output for the pair (``matches``, index pairs or :class:`PointMatches`) beside
  the matched coordinates and the two :class:`Features`, and never matches again.
* :class:`Features` (:mod:`vgrerank.features`) carries, beside the keypoint rows, named
  ``extras`` (own shape and dtype) for what a method's matcher or scorer needs per image.

Components are built from a conf dict (``{"type": ..., **params}``) by the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..features import Features

__all__ = ["Extractor", "Features", "Matcher", "PointMatches", "Score", "Scorer", "matched_points"]


@dataclass
class Score:
    score: float  # ranking score, higher is better
    inliers: int  # geometric inliers (or matches for scorers without geometry)
    num_matches: int
    model: np.ndarray | None = None  # fitted 3x3 model when the scorer fits one
    inlier_mask: np.ndarray | None = field(default=None, repr=False)


@dataclass
class PointMatches:
    """Matches of a matcher that places its own points (e.g. LoFTR's sub-pixel refinement):
    coordinates [M, 2] (x, y) in the pixels of each original image, and a confidence [M]."""

    kpts0: np.ndarray
    kpts1: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        self.kpts0 = np.asarray(self.kpts0, dtype=np.float32).reshape(-1, 2)
        self.kpts1 = np.asarray(self.kpts1, dtype=np.float32).reshape(-1, 2)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(len(self.kpts0))

    def __len__(self) -> int:
        return len(self.kpts0)


def matched_points(
    matches: np.ndarray | PointMatches, f0: Features, f1: Features
) -> tuple[np.ndarray, np.ndarray]:
    """Matched coordinates [M, 2] in image 0 and image 1 of index pairs or :class:`PointMatches`."""
    if isinstance(matches, PointMatches):
        return matches.kpts0, matches.kpts1
    m = np.asarray(matches, dtype=np.int64).reshape(-1, 2)
    return f0.keypoints[m[:, 0]], f1.keypoints[m[:, 1]]


class Extractor:
    """Base class: subclasses set ``default_conf`` and implement ``extract``."""

    default_conf: dict = {}

    def __init__(self, conf: dict | None = None) -> None:
        self.conf = {**self.default_conf, **(conf or {})}

    def extract(self, image: np.ndarray) -> Features:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> Features:
        return self.extract(image)


class Matcher:
    default_conf: dict = {}

    def __init__(self, conf: dict | None = None) -> None:
        self.conf = {**self.default_conf, **(conf or {})}

    def match(self, f0: Features, f1: Features) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def match_many(self, query: Features, candidates: list[Features]) -> list[np.ndarray]:
        """Match one query against many candidates; subclasses may batch this."""
        return [self.match(query, c) for c in candidates]


class Scorer:
    default_conf: dict = {}

    def __init__(self, conf: dict | None = None) -> None:
        self.conf = {**self.default_conf, **(conf or {})}

    def score(
        self,
        kpts0: np.ndarray,
        kpts1: np.ndarray,
        f0: Features,
        f1: Features,
        matches: np.ndarray | PointMatches | None = None,
    ) -> Score:  # pragma: no cover - interface
        """``kpts0``/``kpts1``: matched coordinates [M, 2] (query, candidate), i.e.
        :func:`matched_points` of ``matches``, the matcher's output for the pair (index pairs
        [M, 2] into ``f0`` / ``f1`` rows, or :class:`PointMatches`). The re-ranking core always
        passes ``matches``; a scorer that needs more than coordinates (e.g. which rows matched)
        reads them from there and never calls a matcher itself."""
        raise NotImplementedError
