"""The re-ranking core matches each pair once and hands the matcher's output to the scorer: a
scorer never matches again (Patch-NetVLAD's scorers read the matcher's index pairs)."""

from __future__ import annotations

import numpy as np
import pytest

from vgrerank.features import Features
from vgrerank.local.base import Matcher, Scorer
from vgrerank.local.registry import make_matcher, make_scorer
from vgrerank.rerank_core import score_candidates


class CountingMatcher(Matcher):
    """A real matcher that counts its calls and keeps what it returned."""

    def __init__(self, inner: Matcher) -> None:
        super().__init__({})
        self.inner, self.calls, self.outputs = inner, 0, []

    def match(self, f0, f1):
        self.calls += 1
        out = self.inner.match(f0, f1)
        self.outputs.append(out)
        return out


class SpyScorer(Scorer):
    """A real scorer that records the ``matches`` it was given."""

    def __init__(self, inner: Scorer) -> None:
        super().__init__({})
        self.inner, self.seen = inner, []

    def score(self, kpts0, kpts1, f0, f1, matches=None):
        self.seen.append(matches)
        return self.inner.score(kpts0, kpts1, f0, f1, matches=matches)


def _patch_features(rng, base=None, sizes=(2, 5), noise=0.02) -> Features:
    """Patch-NetVLAD-like features: per patch size a 6 x 8 grid of patch centres, unit
    descriptors (``base``'s plus noise, or random), the extra ``patch_size`` (scale id)."""
    kpts, sids = [], []
    for p in sizes:
        yy, xx = np.meshgrid(16 * np.arange(6) + 8 * p, 16 * np.arange(8) + 8 * p, indexing="ij")
        kpts.append(np.stack([xx.ravel(), yy.ravel()], 1))
        sids.append(np.full(48, p))
    kpts = np.concatenate(kpts).astype(np.float32)
    if base is None:
        d = rng.normal(size=(len(kpts), 32))
    else:
        d = base.descriptors + noise * rng.normal(size=base.descriptors.shape)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return Features(kpts, d, np.ones(len(kpts)), (200, 120), {"patch_size": np.concatenate(sids)})


def _point_features(rng, base=None) -> Features:
    kp = rng.uniform(0, 200, (60, 2)) if base is None else base.keypoints + 3.0
    d = rng.normal(size=(60, 16)) if base is None else base.descriptors
    return Features(kp, d / np.linalg.norm(d, axis=1, keepdims=True), np.ones(60), (200, 200))


@pytest.mark.parametrize(
    "matcher_type,scorer_type",
    [("pnv-mnn", "pnv-ransac"), ("pnv-mnn", "pnv-rapid"), ("mnn", "ransac"), ("mnn", "count")],
)
def test_scorers_receive_the_matchers_pairs_and_never_match_again(
    monkeypatch, matcher_type, scorer_type
):
    import vgrerank.local.matchers.patchnetvlad as pnv

    nn_calls = []
    real_mutual_nn = pnv.mutual_nn
    monkeypatch.setattr(
        pnv, "mutual_nn", lambda d0, d1: nn_calls.append(1) or real_mutual_nn(d0, d1)
    )
    rng = np.random.default_rng(0)
    make = _patch_features if matcher_type == "pnv-mnn" else _point_features
    q = make(rng)
    cands = [make(rng, base=q), make(rng), make(rng, base=q)]
    matcher = CountingMatcher(make_matcher({"type": matcher_type, "device": "cpu"}))
    scorer = SpyScorer(make_scorer({"type": scorer_type, "device": "cpu"}))
    out = score_candidates(q, cands, matcher, scorer)
    assert matcher.calls == len(cands)  # one matching per pair
    assert len(scorer.seen) == len(cands)
    assert all(a is b for a, b in zip(scorer.seen, matcher.outputs, strict=True))
    if matcher_type == "pnv-mnn":  # the matcher's own nearest neighbours, one per scale and pair
        assert len(nn_calls) == 2 * len(cands)
    # the near copies match (and verify) better than the unrelated candidate
    assert out["num_matches"][0] > out["num_matches"][1] < out["num_matches"][2]
    assert out["score"][0] > out["score"][1] < out["score"][2]


def test_patch_scorer_refuses_to_score_without_the_matchers_pairs():
    from vgrerank.errors import DataError
    from vgrerank.local.base import PointMatches

    rng = np.random.default_rng(1)
    q = _patch_features(rng)
    scorer = make_scorer({"type": "pnv-ransac", "device": "cpu"})
    with pytest.raises(DataError, match="needs the matcher's index pairs"):
        scorer.score(q.keypoints, q.keypoints, q, q)
    pm = PointMatches(q.keypoints, q.keypoints, np.ones(len(q)))
    with pytest.raises(DataError, match="PointMatches"):
        scorer.score(q.keypoints, q.keypoints, q, q, matches=pm)
