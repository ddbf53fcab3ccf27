"""Rapid spatial scoring (Hausler et al., Patch-NetVLAD, CVPR 2021).

For the mutual matches, take the displacements ``d_k = p1_k - p0_k`` (x and y separately), their
residuals from the mean displacement ``r_k = |d_k - mean(d)|`` and score

    score = sum_k (x_anchor - r_k,x)^2 + (y_anchor - r_k,y)^2   [/ number of query keypoints]

where the anchors are the largest coordinates of the (query) image. Matches that agree on one
translation score high; scattered ones low. No model is fitted, so ``inliers`` = matches.

Patch-NetVLAD resizes every image to one size and uses patch-grid indices; to keep that meaning
for images of different sizes, candidate coordinates are first scaled into the query image's
frame (``x * W0 / W1``, ``y * H0 / H1``); the anchors are ``W0 - 1`` and ``H0 - 1``. Conf
``normalize`` (default True, as the reference divides by the number of query patches).
"""

from __future__ import annotations

import numpy as np

from ..base import Features, Score, Scorer
from .specs import SPECS


class RapidSpatialScorer(Scorer):
    default_conf = SPECS["rapid"].default_conf()

    def score(self, kpts0, kpts1, f0: Features, f1: Features, matches=None) -> Score:
        p0 = np.asarray(kpts0, dtype=np.float64).reshape(-1, 2)
        p1 = np.asarray(kpts1, dtype=np.float64).reshape(-1, 2)
        n = len(p0)
        if n == 0:
            return Score(0.0, 0, 0)
        (w0, h0), (w1, h1) = f0.size, f1.size
        p1 = p1 * np.array([w0 / w1, h0 / h1])
        disp = p1 - p0
        resid = np.abs(disp - disp.mean(axis=0))
        anchor = np.array([w0 - 1.0, h0 - 1.0])
        total = float(((anchor - resid) ** 2).sum())
        if self.conf["normalize"]:
            total /= max(len(f0), 1)
        return Score(total, n, n)
