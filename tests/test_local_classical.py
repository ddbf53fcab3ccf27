"""Classical local features on synthetic data: OpenCV extractors, mutual NN, scorers, core."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vgrerank.errors import ConfigError
from vgrerank.local import registry
from vgrerank.local.base import Features
from vgrerank.local.extractors.opencv import AKAZE, ORB, SIFT, RootSIFT
from vgrerank.local.matchers.nn import MutualNN
from vgrerank.local.scorers.count import MatchCountScorer
from vgrerank.local.scorers.geometric import AffineScorer, HomographyScorer
from vgrerank.local.scorers.rapid import RapidSpatialScorer
from vgrerank.rerank_core import rerank_order, score_candidates

EXTRACTORS = {"sift": SIFT, "rootsift": RootSIFT, "orb": ORB, "akaze": AKAZE}
DIMS = {"sift": 128, "rootsift": 128, "orb": 256, "akaze": 488}


def textured(h=240, w=320, seed=0) -> np.ndarray:
    """RGB uint8 image with blobs, rectangles and lines (plenty of corners and blobs)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (3, 3), 0)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(5, 40)), y0 + 20), color, -1)
        else:
            cv2.circle(img, (x0, y0), int(rng.integers(3, 15)), color, -1)
    return img


def feats(desc, kpts=None, size=(100, 100)) -> Features:
    desc = np.asarray(desc, np.float32)
    if kpts is None:
        kpts = np.zeros((len(desc), 2))
    return Features(kpts, desc, np.ones(len(desc)), size)


def unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ------------------------------------------------------------------ extractors
@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_extractor_shapes_and_ranges(name):
    img = textured()
    f = EXTRACTORS[name]({"max_keypoints": 300})(img)
    n = len(f)
    assert 50 <= n <= 300, n
    assert f.keypoints.shape == (n, 2) and f.keypoints.dtype == np.float32
    assert f.descriptors.shape == (n, DIMS[name]) and f.descriptors.dtype == np.float32
    assert f.scores.shape == (n,) and f.scores.dtype == np.float32
    assert f.size == (320, 240)
    assert (f.keypoints >= 0).all() and (f.keypoints[:, 0] <= 319).all()
    assert (f.keypoints[:, 1] <= 239).all()
    if name in ("orb", "akaze"):
        assert set(np.unique(f.descriptors)) <= {-1.0, 1.0}
    else:
        np.testing.assert_allclose(np.linalg.norm(f.descriptors, axis=1), 1, atol=1e-4)
        assert (f.descriptors >= 0).all()
    # the strongest are kept: every kept response >= every dropped one
    full = EXTRACTORS[name]({"max_keypoints": None})(img)
    assert len(full) >= n
    kept = np.sort(f.scores)
    assert kept[0] >= np.sort(full.scores)[::-1][min(n, len(full)) - 1] - 1e-6


def test_rootsift_is_sqrt_of_l1_sift():
    img = textured(seed=1)
    s = SIFT({"max_keypoints": 200})(img)
    r = RootSIFT({"max_keypoints": 200})(img)
    np.testing.assert_array_equal(s.keypoints, r.keypoints)
    # L2-normalised SIFT -> L1-normalised -> sqrt
    l1 = s.descriptors / s.descriptors.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(r.descriptors, np.sqrt(l1), atol=1e-5)


def test_extractor_blank_image_and_bad_input():
    blank = np.full((64, 64, 3), 128, np.uint8)
    for cls in EXTRACTORS.values():
        f = cls({})(blank)
        assert len(f) == 0 and f.descriptors.shape[0] == 0
    from vgrerank.errors import DataError

    with pytest.raises(DataError):
        SIFT({})(np.zeros((10, 10, 3), np.float32))


@pytest.mark.parametrize("name", ["sift", "orb"])
def test_resize_max_maps_keypoints_to_original(name):
    img = textured(seed=2)
    h, w = img.shape[:2]
    big = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    ext = EXTRACTORS[name]({"max_keypoints": 500})
    small = ext(img)
    scaled = EXTRACTORS[name]({"max_keypoints": 500, "resize_max": max(w, h)})(big)
    assert scaled.size == (2 * w, 2 * h)
    # INTER_AREA halves the nearest-upscaled image back to exactly the small one, so the
    # keypoints are the same, mapped by x -> 2x + 0.5 (OpenCV pixel centres)
    assert len(scaled) == len(small)
    expected = small.keypoints * 2 + 0.5
    d = np.linalg.norm(scaled.keypoints[:, None] - expected[None], axis=2)
    assert d.min(axis=1).max() < 1e-3
    # and without the 2x mapping they would not line up
    d_wrong = np.linalg.norm(scaled.keypoints[:, None] - small.keypoints[None], axis=2)
    assert (d_wrong.min(axis=1) < 1.0).mean() < 0.5


# ------------------------------------------------------------------ matcher
def test_mutual_nn_hand_made():
    # query 0 <-> cand 1, query 1 <-> cand 0; query 2's NN is cand 0 but cand 0 prefers query 1
    q = unit([[1, 0, 0], [0, 1, 0], [0.1, 1, 0.05]])
    c = unit([[0, 1, 0.01], [1, 0.02, 0], [0, 0, 1]])
    m = MutualNN({"ratio": None, "device": "cpu"}).match(feats(q), feats(c))
    assert m.dtype == np.int64
    assert sorted(map(tuple, m)) == [(0, 1), (1, 0)]


def test_ratio_test_rejects_ambiguous():
    q = unit([[1, 0, 0], [0, 1, 0]])
    # cand 0 and 1 are nearly identical (ambiguous for query 0); cand 2 is a clear match of query 1
    c = unit([[1, 0.05, 0], [1, 0.06, 0.0], [0, 1, 0.3]])
    plain = MutualNN({"ratio": None}).match(feats(q), feats(c))
    assert sorted(map(tuple, plain)) == [(0, 0), (1, 2)]
    ratio = MutualNN({"ratio": 0.8}).match(feats(q), feats(c))
    assert sorted(map(tuple, ratio)) == [(1, 2)]


def test_binary_descriptors_use_hamming():
    rng = np.random.default_rng(0)
    q = np.sign(rng.standard_normal((50, 64))).astype(np.float32)
    c = q[::-1].copy()
    # flip 5 bits of each: Hamming 5, far below random pairs (~32)
    for row in c:
        row[rng.choice(64, 5, replace=False)] *= -1
    m = MutualNN({}).match(feats(q), feats(c))
    assert len(m) == 50
    np.testing.assert_array_equal(m[:, 1], 49 - m[:, 0])
    # a ratio test on Hamming distances: 5 / ~20 (second best) passes 0.8
    assert len(MutualNN({"ratio": 0.8}).match(feats(q), feats(c))) == 50


@pytest.mark.parametrize("ratio", [None, 0.9])
@pytest.mark.parametrize("binary", [False, True])
def test_match_many_equals_one_by_one(ratio, binary):
    rng = np.random.default_rng(1)
    d = 32 if binary else 64

    def desc(n):
        if binary:
            return np.sign(rng.standard_normal((n, d))).astype(np.float32)
        return unit(rng.random((n, d)))

    q = desc(300)
    cands = []
    for n in [1, 2, 50, 300, 500, 0, 120]:
        x = desc(n)
        k = min(n, 100)
        x[:k] = q[:k]
        if not binary:
            x[:k] = unit(x[:k] + 0.02 * rng.standard_normal((k, d)))
        cands.append(feats(x))
    base = MutualNN({"ratio": ratio})
    one = [base.match(feats(q), c) for c in cands]
    assert len(one[3]) >= 90
    for conf in ({}, {"batch": True, "max_elements": 200_000}, {"batch": True}):
        many = MutualNN({"ratio": ratio, **conf}).match_many(feats(q), cands)
        for a, b in zip(many, one, strict=True):
            np.testing.assert_array_equal(a, b)
            assert len(np.unique(a[:, 0])) == len(a) == len(np.unique(a[:, 1]))


def test_matcher_bad_conf():
    with pytest.raises(ConfigError):
        MutualNN({"ratio": 1.5})
    with pytest.raises(ConfigError):
        MutualNN({"distance": "cosine"})


# ------------------------------------------------------------------ scorers
def homography_data(n_in=150, n_out=50, seed=0):
    rng = np.random.default_rng(seed)
    H = np.array([[0.9, 0.08, 25.0], [-0.05, 1.05, -12.0], [1e-4, -5e-5, 1.0]])
    p0 = rng.random((n_in + n_out, 2)) * [640, 480]
    ph = np.c_[p0, np.ones(len(p0))] @ H.T
    p1 = ph[:, :2] / ph[:, 2:]
    p1[:n_in] += rng.normal(0, 0.3, (n_in, 2))
    p1[n_in:] = rng.random((n_out, 2)) * [640, 480]  # outliers
    return H, p0, p1


@pytest.mark.parametrize("method", ["magsac", "ransac", "usac", "accurate", "lmeds"])
def test_homography_recovers_known_model(method):
    H, p0, p1 = homography_data()
    f0 = feats(np.zeros((400, 1)), np.zeros((400, 2)), (640, 480))
    s = HomographyScorer({"method": method, "threshold": 3.0})
    out = s.score(p0, p1, f0, f0)
    assert out.num_matches == 200
    # the 150 true inliers; a random outlier may land within 3 px
    assert 150 <= out.inliers <= 152, out.inliers
    assert out.inlier_mask[:150].sum() >= 148
    assert out.score == out.inliers
    Hn = out.model / out.model[2, 2]
    corners = np.array([[0, 0, 1], [640, 0, 1], [640, 480, 1], [0, 480, 1]], float)
    a, b = corners @ H.T, corners @ Hn.T
    err = np.linalg.norm(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:], axis=1)
    assert err.max() < 1.0
    norm = HomographyScorer({"method": method, "normalize": True}).score(p0, p1, f0, f0)
    assert norm.score == pytest.approx(norm.inliers / 400)


def test_affine_scorer():
    rng = np.random.default_rng(3)
    A = np.array([[0.9, 0.1, 20.0], [-0.05, 1.1, -10.0]])
    p0 = rng.random((120, 2)) * [640, 480]
    p1 = np.c_[p0, np.ones(120)] @ A.T
    p1[100:] = rng.random((20, 2)) * [640, 480]
    f0 = feats(np.zeros((120, 1)), p0)
    out = AffineScorer({"method": "ransac"}).score(p0, p1, f0, f0)
    assert 100 <= out.inliers <= 101
    np.testing.assert_allclose(out.model[:2], A, atol=1e-3)
    assert out.model.shape == (3, 3)
    assert AffineScorer({}).score(p0[:2], p1[:2], f0, f0).score == 0


def test_too_few_matches_score_zero():
    H, p0, p1 = homography_data()
    f0 = feats(np.zeros((10, 1)))
    for k in range(4):
        out = HomographyScorer({}).score(p0[:k], p1[:k], f0, f0)
        assert (out.score, out.inliers, out.num_matches) == (0.0, 0, k)
    # degenerate: identical points must not raise
    same = np.repeat(p0[:1], 10, axis=0)
    assert HomographyScorer({}).score(same, same, f0, f0).score >= 0


def test_scorers_deterministic_regardless_of_call_order():
    H, p0, p1 = homography_data(n_in=60, n_out=140, seed=5)
    f0 = feats(np.zeros((200, 1)))
    for method in ("magsac", "usac", "ransac"):
        s = HomographyScorer({"method": method})
        a = s.score(p0, p1, f0, f0)
        cv2.setRNGSeed(12345)  # disturb the global RNG state
        cv2.randu(np.zeros((100, 1)), 0, 1)
        HomographyScorer({"method": method, "seed": 7}).score(p1, p0, f0, f0)
        b = s.score(p0, p1, f0, f0)
        assert a.inliers == b.inliers and a.score == b.score
        np.testing.assert_array_equal(a.model, b.model)
        np.testing.assert_array_equal(a.inlier_mask, b.inlier_mask)


def test_bad_scorer_conf():
    with pytest.raises(ConfigError):
        HomographyScorer({"method": "nope"})
    with pytest.raises(ConfigError):
        HomographyScorer({"threshold": 0})


def test_count_and_rapid_scorers():
    f0 = feats(np.zeros((10, 1)), size=(101, 51))
    p0 = np.array([[10, 10], [20, 30], [50, 40], [80, 5]], float)
    assert MatchCountScorer({}).score(p0, p0, f0, f0).score == 4
    assert MatchCountScorer({"normalize": True}).score(p0, p0, f0, f0).score == 0.4
    rapid = RapidSpatialScorer({"normalize": False})
    # pure translation: all residuals 0 -> each match scores 100^2 + 50^2
    s = rapid.score(p0, p0 + [7, -3], f0, f0)
    assert s.score == pytest.approx(4 * (100**2 + 50**2))
    assert s.inliers == 4
    # scattered displacements score lower
    rng = np.random.default_rng(0)
    assert rapid.score(p0, rng.random((4, 2)) * [101, 51], f0, f0).score < s.score
    # normalised by query keypoints, as the reference
    assert RapidSpatialScorer({}).score(p0, p0, f0, f0).score == pytest.approx(
        4 * (100**2 + 50**2) / 10
    )
    # a candidate twice the size is scaled into the query's frame first
    f1 = feats(np.zeros((10, 1)), size=(202, 102))
    assert rapid.score(p0, (p0 + 5) * 2, f0, f1).score == pytest.approx(s.score)
    assert rapid.score(p0[:0], p0[:0], f0, f0).score == 0


# ------------------------------------------------------------------ core
def test_score_candidates_and_rerank_order():
    img = textured(seed=4)
    ext = SIFT({"max_keypoints": 500})
    q = ext(img)
    h, w = img.shape[:2]
    H = np.array([[1.0, 0.05, 10], [0.02, 0.95, 5], [0, 0, 1]])
    warped = cv2.warpPerspective(img, H, (w, h))
    cands = [ext(textured(seed=10)), ext(warped), ext(textured(seed=11))]
    out = score_candidates(q, cands, MutualNN({}), HomographyScorer({}))
    assert set(out) >= {"score", "inliers", "num_matches", "t_match", "t_score"}
    for k in ("score", "inliers", "num_matches"):
        assert isinstance(out[k], np.ndarray) and out[k].shape == (3,)
    assert out["inliers"][1] > 40 > 20 > max(out["inliers"][0], out["inliers"][2])
    assert (out["inliers"] <= out["num_matches"]).all()
    assert out["t_match"] > 0 and out["t_score"] > 0
    assert list(rerank_order(out["score"]))[0] == 1
    again = score_candidates(q, cands, MutualNN({}), HomographyScorer({}))
    np.testing.assert_array_equal(again["score"], out["score"])
    # stable: ties keep retrieval order
    np.testing.assert_array_equal(rerank_order(np.array([1, 3, 3, 0, 1])), [1, 2, 0, 4, 3])
    np.testing.assert_array_equal(rerank_order(np.array([np.nan, 2.0])), [1, 0])
    empty = score_candidates(q, [], MutualNN({}), HomographyScorer({}))
    assert empty["score"].shape == (0,)


# ------------------------------------------------------------------ registry
@pytest.mark.parametrize("ext", ["sift", "rootsift", "orb", "akaze"])
@pytest.mark.parametrize("matcher", ["mnn", "mnn-ratio"])
@pytest.mark.parametrize("scorer", ["magsac", "ransac", "affine", "rapid", "count"])
def test_registry_builds_classical_presets(ext, matcher, scorer):
    method = registry.parse_method(f"{ext}+{matcher}+{scorer}")
    e = registry.make_extractor(method["extractor"])
    m = registry.make_matcher(method["matcher"])
    s = registry.make_scorer(method["scorer"])
    assert type(e).__name__.lower() == ext
    assert isinstance(m, MutualNN)
    assert m.conf["ratio"] == (0.9 if matcher == "mnn-ratio" else None)
    assert e.conf["max_keypoints"] == 4096
    if scorer in ("magsac", "ransac", "affine"):
        assert s.conf["threshold"] == 3.0 and s.conf["method"] == method["scorer"]["method"]


def test_registry_classical_end_to_end():
    img = textured(seed=6)
    for ext in ("sift", "orb"):
        method = registry.parse_method(f"{ext}+mnn+magsac")
        e = registry.make_extractor(method["extractor"])
        f = e(img)
        out = score_candidates(
            f, [f], registry.make_matcher(method["matcher"]), registry.make_scorer(method["scorer"])
        )
        assert out["inliers"][0] == len(f)  # an image against itself: every keypoint
