"""Patch-NetVLAD's multi-scale scores (Hausler et al., CVPR 2021): RANSAC and rapid spatial
scoring per patch scale, combined by the scale weights.

Per scale ``s`` (patches of one size, see ``vgrerank.local.extractors.patchnetvlad``) with the
mutual nearest-neighbour matches of that scale (``vgrerank.local.matchers.patchnetvlad``):

* ``pnv-ransac``: with more than 3 matches, a homography from candidate to query patch centres
  (OpenCV's classical RANSAC, its default 2000 iterations and confidence 0.995) with the
  reprojection threshold ``threshold`` x the spacing of the query's patch centres (the
  reference: 1.5 x 16 px x stride); ``score_s = inliers / query patches of s``, else 0.
* ``pnv-rapid``: patch-grid positions (column, row) of the matches, displacements
  ``d = g1 - g0``, residuals ``r = |d - mean(d)|`` and
  ``score_s = sum((x_max - r_x)^2 + (y_max - r_y)^2) / query patches of s`` with ``x_max``,
  ``y_max`` the largest column and row of the query's grid; 0 without matches.

The pair's score is ``sum_s w_s * score_s`` (the reference's two-image score, sign flipped back
so higher is better); ``weights`` maps patch size -> ``w_s`` (None: equal weights summing to
1; the authors' performance setting ``{2: 0.45, 5: 0.15, 8: 0.4}``; sizes not in the features are
ignored, a size of the features without a weight is an error). The reference's dataset evaluation z-normalises each scale's scores over a query's
candidates before weighting; that needs all candidates at once and is not done here.

The scorer reads the matcher's index pairs ``matches`` ([M, 2] rows, which the re-ranking core
passes to every scorer; scale membership is not recoverable from matched coordinates alone,
since centres of different scales coincide) and never matches again; without them it raises
:class:`~vgrerank.errors.DataError`. ``inliers`` / ``num_matches`` are sums over the scales.
Conf: ``weights``, ``threshold``, ``device`` (accepted, unused: the matcher runs on the
device), ``seed`` (unused: OpenCV's RANSAC is seeded internally).
"""

from __future__ import annotations

import cv2
import numpy as np

from ...device import resolve_device
from ...errors import DataError
from ..base import Features, PointMatches, Score, Scorer
from ..matchers.patchnetvlad import patch_sizes, scale_blocks
from . import TOO_FEW_MATCHES, DegenerateScore
from .specs import SPECS


def _grid(f: Features, rows: np.ndarray) -> np.ndarray:
    """(column, row) patch-grid positions [n, 2] of ``rows`` (all of one scale) of ``f``."""
    kp = f.keypoints[rows]
    return np.stack([np.unique(kp[:, a], return_inverse=True)[1] for a in (0, 1)], 1)


def _spacing(f: Features, rows: np.ndarray) -> float:
    """Distance between neighbouring patch centres of one scale (geometric mean of x and y)."""
    steps = [np.diff(np.unique(f.keypoints[rows, a])) for a in (0, 1)]
    steps = [float(s.min()) for s in steps if len(s)]
    return float(np.prod(steps)) ** (1 / len(steps)) if steps else 1.0


class _PatchScorer(Scorer):
    min_matches = 0  # a pair with fewer matches in every scale is degenerate (0: never)

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self.device = resolve_device(self.conf["device"])

    def _scale(self, f0, f1, rows0, i0, i1) -> tuple[float, int]:  # pragma: no cover
        raise NotImplementedError

    def score(self, kpts0, kpts1, f0: Features, f1: Features, matches=None) -> Score:
        if matches is None or isinstance(matches, PointMatches):
            raise DataError(
                f"{type(self).__name__}: needs the matcher's index pairs (matches [M, 2] of a "
                "'pnv-*' matcher), got " + ("none" if matches is None else "PointMatches")
            )
        blocks0 = scale_blocks(f0)
        m = np.asarray(matches, np.int64).reshape(-1, 2)
        row_scale = patch_sizes(f0)[m[:, 0]]
        per_scale = []
        for s in blocks0:  # the matcher's order: scale after scale, by ascending candidate row
            ms = m[row_scale == s]
            ms = ms[np.argsort(ms[:, 1], kind="stable")]
            per_scale.append((s, ms[:, 0], ms[:, 1]))
        weights = self.conf["weights"]
        if weights is None:
            weights = {sid: 1.0 / len(blocks0) for sid in blocks0}
        weights = {float(k): float(v) for k, v in weights.items()}
        missing = [int(sid) for sid in blocks0 if sid not in weights]
        if missing:
            raise DataError(
                f"{type(self).__name__}: no weight for patch size(s) {missing} "
                f"(weights are given for {sorted(weights)})"
            )
        total, inliers, num = 0.0, 0, 0
        for sid, i0, i1 in per_scale:
            s, k = self._scale(f0, f1, blocks0[sid], i0, i1)
            total += weights[sid] * s
            inliers, num = inliers + k, num + len(i0)
        if self.min_matches and all(len(i0) < self.min_matches for _, i0, _ in per_scale):
            return DegenerateScore(0.0, 0, num, reason=TOO_FEW_MATCHES)
        return Score(total, inliers, num)


class PatchRansacScorer(_PatchScorer):
    default_conf = SPECS["pnv-ransac"].default_conf()
    min_matches = 4

    def _scale(self, f0, f1, rows0, i0, i1):
        if len(i0) <= 3:
            return 0.0, 0
        src = np.ascontiguousarray(f1.keypoints[i1], np.float32)
        dst = np.ascontiguousarray(f0.keypoints[i0], np.float32)
        thr = float(self.conf["threshold"]) * _spacing(f0, rows0)
        try:
            _, mask = cv2.findHomography(src, dst, cv2.RANSAC, ransacReprojThreshold=thr)
        except cv2.error as exc:
            raise DataError(f"Patch-NetVLAD RANSAC failed on {len(i0)} matches: {exc}") from exc
        k = 0 if mask is None else int(mask.ravel().astype(bool).sum())
        return k / len(rows0), k


class PatchRapidScorer(_PatchScorer):
    default_conf = SPECS["pnv-rapid"].default_conf()

    def _scale(self, f0, f1, rows0, i0, i1):
        if not len(i0):
            return 0.0, 0
        g0 = _grid(f0, rows0)
        pos0 = np.searchsorted(rows0, i0)
        rows1 = scale_blocks(f1)[float(patch_sizes(f1)[i1[0]])]
        pos1 = np.searchsorted(rows1, i1)
        disp = (_grid(f1, rows1)[pos1] - g0[pos0]).astype(np.float64)
        resid = np.abs(disp - disp.mean(axis=0))
        xmax, ymax = g0.max(axis=0)
        total = float(((xmax - resid[:, 0]) ** 2 + (ymax - resid[:, 1]) ** 2).sum())
        return total / len(rows0), len(i0)
