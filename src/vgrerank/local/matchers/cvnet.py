"""The matcher of the CVNet methods (``cvnet+cvnet+cvnet``).

CVNet's verification scores a pair from its dense correlations and needs no correspondences;
this matcher checks that both images carry CVNet features
(:func:`vgrerank.local.extractors.cvnet.unpack_cvnet`) and returns the mutual nearest
neighbours (cosine) among the scale-1 cells, so that the re-ranking tables' ``num_matches`` /
``inliers`` stay informative. The CVNet score (``vgrerank.local.scorers.cvnet``) does not use
them. ``device`` is accepted (the re-ranking stage passes it) and unused.
"""

from __future__ import annotations

import numpy as np

from ..base import Features, Matcher
from ..extractors.cvnet import unpack_cvnet


def _cells(f: Features) -> tuple[np.ndarray, np.ndarray]:
    """Row indices in ``f`` and unit descriptors of its scale-1 cells."""
    m = unpack_cvnet(f)[0][-1]
    n = m.shape[1] * m.shape[2]
    rows = np.flatnonzero(f.scores == np.float32(1.0))[:n]
    d = m.reshape(m.shape[0], -1).T.astype(np.float32)
    return rows, d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-8)


class CVNetMatcher(Matcher):
    default_conf = {"device": "auto"}

    def match(self, f0: Features, f1: Features) -> np.ndarray:
        (r0, d0), (r1, d1) = _cells(f0), _cells(f1)
        sim = d0 @ d1.T
        j = sim.argmax(1)
        i = np.flatnonzero(sim.argmax(0)[j] == np.arange(len(j)))
        return np.stack([r0[i], r1[j[i]]], 1).astype(np.int64)
