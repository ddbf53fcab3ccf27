"""The matcher of the CVNet methods (``cvnet+cvnet+cvnet``).

CVNet's verification scores a pair from its dense correlations and needs no correspondences;
this matcher checks that both images carry CVNet features
(:func:`vgrerank.local.extractors.cvnet.cvnet_inputs`) and returns the mutual nearest
neighbours (cosine) among the scale-1 cells (the keypoint rows; descriptors: the extra
``map_1``), so that the re-ranking tables' ``num_matches`` /
``inliers`` stay informative. The CVNet score (``vgrerank.local.scorers.cvnet``) does not use
them. ``device`` is accepted (the re-ranking stage passes it) and unused.
"""

from __future__ import annotations

import numpy as np

from ..base import Features, Matcher
from ..extractors.cvnet import cvnet_inputs
from .specs import SPECS


def _cells(f: Features) -> np.ndarray:
    """Unit descriptors of the scale-1 cells of ``f`` (one per keypoint row)."""
    m = cvnet_inputs(f)[0][-1]
    d = m.reshape(m.shape[0], -1).T.astype(np.float32)
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-8)


class CVNetMatcher(Matcher):
    default_conf = SPECS["cvnet"].default_conf()

    def match(self, f0: Features, f1: Features) -> np.ndarray:
        d0, d1 = _cells(f0), _cells(f1)
        sim = d0 @ d1.T
        j = sim.argmax(1)
        i = np.flatnonzero(sim.argmax(0)[j] == np.arange(len(j)))
        return np.stack([i, j[i]], 1).astype(np.int64)
