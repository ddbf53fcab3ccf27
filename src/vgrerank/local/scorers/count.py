"""Raw match count: no geometry (a baseline for the geometric scorers).

Conf ``normalize``: False -> score = number of matches; True -> matches / query keypoints.
"""

from __future__ import annotations

from ..base import Features, Score, Scorer
from .specs import SPECS


class MatchCountScorer(Scorer):
    default_conf = SPECS["count"].default_conf()

    def score(self, kpts0, kpts1, f0: Features, f1: Features, matches=None) -> Score:
        n = len(kpts0)
        score = n / max(len(f0), 1) if self.conf["normalize"] else float(n)
        return Score(float(score), n, n)
