"""The matcher of the Reranking Transformer methods (``delg-rrt+rrt+rrt``).

RRT scores a pair from all its tokens and needs no correspondences; this matcher checks that
both images carry DELG features with RRT's extras ``global`` and ``scale``
(:func:`vgrerank.local.extractors.delg.rrt_inputs`) and returns the mutual nearest neighbours (cosine) among the ``num_local`` local descriptors the
transformer sees, so that the re-ranking tables' ``num_matches`` / ``inliers`` stay informative.
The RRT score (``vgrerank.local.scorers.rrt``) does not use them. ``device`` is accepted (the
re-ranking stage passes it) and unused: a 500 x 500 product is cheap on the CPU.
"""

from __future__ import annotations

import numpy as np

from ..base import Features, Matcher
from ..extractors.delg import rrt_inputs
from .specs import SPECS


class RRTMatcher(Matcher):
    default_conf = SPECS["rrt"].default_conf()

    def match(self, f0: Features, f1: Features) -> np.ndarray:
        n = int(self.conf["num_local"])
        d0, d1 = rrt_inputs(f0)[0][:n], rrt_inputs(f1)[0][:n]
        if not len(d0) or not len(d1):
            return np.zeros((0, 2), np.int64)
        sim = d0.astype(np.float32) @ d1.astype(np.float32).T
        j = sim.argmax(1)
        i = np.flatnonzero(sim.argmax(0)[j] == np.arange(len(j)))
        return np.stack([i, j[i]], 1).astype(np.int64)
