"""Geometric verification scorers: 8-DoF homography and 6-DoF affine with RANSAC variants.

Conf: ``method`` ('magsac' | 'ransac' | 'usac' | 'accurate' | 'prosac' | 'fast' | 'parallel' |
'lmeds'), ``threshold`` (reprojection threshold, pixels), ``confidence``, ``max_iters``,
``seed`` (``cv2.setRNGSeed`` before every estimate, so a score never depends on what ran before;
measured with OpenCV 5.0: RANSAC and the flag-selected USAC variants use fixed internal seeds, so
results are deterministic and the seed value changes nothing there)
and ``normalize`` (False: score = inliers; True: inliers / number of query keypoints, as
Patch-NetVLAD's reference code does).

Degenerate pairs score 0 and are returned as :class:`~vgrerank.local.scorers.DegenerateScore`
(with the reason), so the re-ranking stage counts them: fewer matches than the model needs,
collinear or coincident points (on either side), or no model found by the estimator. Anything
else (mismatched or non-finite coordinates, an OpenCV error) raises :class:`DataError`; the
re-ranking stage adds the query and candidate names.

'ransac' is OpenCV's classical RANSAC (``cv2.RANSAC``); 'usac' its USAC default; 'prosac'
assumes the matches are ordered by quality; 'parallel' runs threads and may not be
deterministic.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import ConfigError, DataError
from ..base import Features, Score, Scorer
from . import COLLINEAR, NO_MODEL, TOO_FEW_MATCHES, DegenerateScore
from .specs import SPECS

METHODS = {
    "magsac": cv2.USAC_MAGSAC,
    "ransac": cv2.RANSAC,
    "usac": cv2.USAC_DEFAULT,
    "accurate": cv2.USAC_ACCURATE,
    "prosac": cv2.USAC_PROSAC,
    "fast": cv2.USAC_FAST,
    "parallel": cv2.USAC_PARALLEL,
    "lmeds": cv2.LMEDS,
}
# cv2.RHO is left out: in OpenCV 5.0 it returned 4 inliers on clean synthetic data.


class _GeometricScorer(Scorer):
    min_matches = 4
    methods = METHODS

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        method = self.conf["method"]
        if method not in self.methods:
            raise ConfigError(
                f"scorer method: {method!r} is not one of {sorted(self.methods)} "
                f"for {type(self).__name__}"
            )
        self.flag = self.methods[method]
        if not float(self.conf["threshold"]) > 0:
            raise ConfigError(f"scorer threshold: expected > 0 px, got {self.conf['threshold']!r}")
        if not 0 < float(self.conf["confidence"]) < 1:
            raise ConfigError(
                f"scorer confidence: expected in (0, 1), got {self.conf['confidence']!r}"
            )

    def _fit(self, p0: np.ndarray, p1: np.ndarray):  # pragma: no cover - interface
        raise NotImplementedError

    def score(self, kpts0, kpts1, f0: Features, f1: Features, matches=None) -> Score:
        p0 = np.ascontiguousarray(kpts0, dtype=np.float32).reshape(-1, 2)
        p1 = np.ascontiguousarray(kpts1, dtype=np.float32).reshape(-1, 2)
        n = len(p0)
        if len(p1) != n:
            raise DataError(f"{type(self).__name__}: {n} query but {len(p1)} candidate points")
        if not (np.isfinite(p0).all() and np.isfinite(p1).all()):
            raise DataError(f"{type(self).__name__}: non-finite keypoint coordinates")
        if n < self.min_matches:
            return DegenerateScore(0.0, 0, n, reason=TOO_FEW_MATCHES)
        if _collinear(p0) or _collinear(p1):
            return DegenerateScore(0.0, 0, n, reason=COLLINEAR)
        cv2.setRNGSeed(int(self.conf["seed"]))
        try:
            model, mask = self._fit(p0, p1)
        except cv2.error as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            raise DataError(
                f"{type(self).__name__} ({self.conf['method']}) failed on {n} matches: {msg}"
            ) from exc
        if model is None or mask is None:
            return DegenerateScore(0.0, 0, n, reason=NO_MODEL)
        mask = mask.ravel().astype(bool)
        inliers = int(mask.sum())
        score = float(inliers)
        if self.conf["normalize"]:
            score = inliers / max(len(f0), 1)
        return Score(score, inliers, n, model=model, inlier_mask=mask)


def _collinear(p: np.ndarray) -> bool:
    """True when the points lie (numerically) on one line or coincide: no 2-D model fits."""
    c = p.astype(np.float64) - p.astype(np.float64).mean(axis=0)
    s = np.linalg.svd(c, compute_uv=False)
    return bool(s[-1] <= 1e-6 * max(s[0], 1.0))


class HomographyScorer(_GeometricScorer):
    """8-DoF homography mapping query keypoints to candidate keypoints."""

    default_conf = SPECS["ransac"].default_conf()

    min_matches = 4

    def _fit(self, p0, p1):
        return cv2.findHomography(
            p0,
            p1,
            self.flag,
            float(self.conf["threshold"]),
            maxIters=int(self.conf["max_iters"]),
            confidence=float(self.conf["confidence"]),
        )


class AffineScorer(_GeometricScorer):
    """6-DoF affine model (``cv2.estimateAffine2D``); the model is returned as 3x3."""

    default_conf = SPECS["affine"].default_conf()

    min_matches = 3
    methods = METHODS

    def _fit(self, p0, p1):
        model, mask = cv2.estimateAffine2D(
            p0,
            p1,
            method=self.flag,
            ransacReprojThreshold=float(self.conf["threshold"]),
            maxIters=int(self.conf["max_iters"]),
            confidence=float(self.conf["confidence"]),
        )
        if model is None:
            return None, None
        return np.vstack([model, [0.0, 0.0, 1.0]]), mask
