"""LightGlue's adaptive depth / point pruning: presets, the options reaching kornia's module, and
early stopping actually taking effect (timings live in bench/lightglue_adaptive.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vgrerank.errors import ConfigError
from vgrerank.local.base import Features
from vgrerank.local.registry import get_preset, make_extractor, make_matcher, parse_method

pytest.importorskip("kornia")


def _conf(method: str) -> dict:
    m = parse_method(method)["matcher"]
    return {k: v for k, v in m.items() if k != "tag"} | {"device": "cpu"}


def test_presets_parse_and_tag():
    full = parse_method("aliked+lightglue-full+magsac")
    assert full["matcher"]["adaptive"] is False
    assert full["matcher"]["features"] == "aliked"
    assert full["tag"] == "aliked-n16-k2048+lightglue-full+magsac-3px"
    default = parse_method("aliked+lightglue+magsac")
    assert default["tag"] == "aliked-n16-k2048+lightglue+magsac-3px"  # files keep their names
    assert default["matcher"].get("adaptive", True) is not False
    # the two presets must differ in their tag (output file names)
    assert (
        get_preset("matcher", "lightglue")["tag"] != get_preset("matcher", "lightglue-full")["tag"]
    )
    with pytest.raises(ConfigError, match="depth_confidence"):
        get_preset(
            "matcher", "x", {"x": {"base": "lightglue", "depth_confidence": 2.0, "tag": "x"}}
        )


def test_adaptive_options_reach_kornia():
    kc = make_matcher(_conf("aliked+lightglue+magsac")).net.conf
    assert (kc.depth_confidence, kc.width_confidence) == (0.95, 0.99)  # kornia's ALIKED values
    kc = make_matcher(_conf("aliked+lightglue-full+magsac")).net.conf
    assert (kc.depth_confidence, kc.width_confidence) == (-1, -1)
    kc = make_matcher(_conf("xfeat+lightglue+magsac")).net.conf
    assert (kc.depth_confidence, kc.width_confidence) == (-1, 0.95)  # LighterGlue: pruning only
    custom = make_matcher(
        {
            "type": "lightglue",
            "features": "aliked",
            "depth_confidence": 0.9,
            "width_confidence": -1,
            "device": "cpu",
        }
    )
    assert (custom.net.conf.depth_confidence, custom.net.conf.width_confidence) == (0.9, -1)
    with pytest.raises(ConfigError, match="adaptive: false"):
        make_matcher(
            {"type": "lightglue", "features": "aliked", "adaptive": False, "depth_confidence": 0.9}
        )


def _textured(seed: int, w: int = 320, h: int = 240) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    for _ in range(80):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(
            img, tuple(int(v) for v in rng.integers(0, [w, h])), int(rng.integers(3, 18)), c, -1
        )
    return img


H_TRUE = np.array([[0.97, 0.05, 8.0], [-0.04, 0.98, 5.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def feats():
    ex = make_extractor({"type": "aliked", "max_keypoints": 160, "device": "cpu"})
    img = _textured(0)
    warped = cv2.warpAffine(img, H_TRUE[:2], (img.shape[1], img.shape[0]))
    return ex(img), ex(warped), ex(_textured(7))


def test_adaptive_stops_early_and_prunes_and_keeps_matches(feats):
    f0, f1, _ = feats
    H = H_TRUE
    full = make_matcher(_conf("aliked+lightglue-full+magsac"))
    adaptive = make_matcher(_conf("aliked+lightglue+magsac"))

    def run(m):
        k0, d0, s0 = m._tensors(f0)
        k1, d1, s1 = m._tensors(f1)
        data = {
            "image0": {"keypoints": k0, "descriptors": d0, "image_size": s0},
            "image1": {"keypoints": k1, "descriptors": d1, "image_size": s1},
        }
        with torch.inference_mode():
            return m.net(data)

    out_full, out_ad = run(full), run(adaptive)
    assert out_full["stop"] == full.net.conf.n_layers == 9
    assert out_ad["stop"] < 9  # an easy pair stops early
    assert int((out_ad["prune0"] < out_ad["stop"]).sum()) > 0  # and some points were pruned
    # the matches of the public API agree: nearly all of them follow the true warp in both
    for m in (full, adaptive):
        mm = m.match(f0, f1)
        assert len(mm) >= 40
        p = cv2.perspectiveTransform(f0.keypoints[mm[:, 0]].reshape(-1, 1, 2).astype(float), H)
        err = np.linalg.norm(p.reshape(-1, 2) - f1.keypoints[mm[:, 1]], axis=1)
        assert np.mean(err < 3.0) > 0.9


def test_batched_equals_one_by_one_masked_and_unmasked(feats, monkeypatch):
    """``batch: true``: candidates of one length take kornia's unmasked layers, of several
    lengths the masked ones; both give the matches of one pair at a time. ``batch: auto`` does
    not batch on CPU (slower there)."""
    f0, f1, f2 = feats
    n = min(len(f1), len(f2))

    def cut(f, n):
        return Features(f.keypoints[:n], f.descriptors[:n], f.scores[:n], f.size)

    lg = make_matcher(_conf("aliked+lightglue-full+magsac") | {"batch": True})
    for cands in ([cut(f1, n), cut(f2, n), cut(f1, n)], [cut(f1, n), cut(f2, n - 30)]):
        batched = lg.match_many(f0, cands)
        single = [lg.match(f0, c) for c in cands]
        assert len(single[0]) >= 40
        for b, s in zip(batched, single, strict=True):
            np.testing.assert_array_equal(b, s)

    auto = make_matcher(_conf("aliked+lightglue-full+magsac"))
    assert auto.conf["batch"] == "auto"

    def no_batch(*a, **k):
        raise AssertionError("batched on CPU with batch: auto")

    monkeypatch.setattr(auto, "_match_padded", no_batch)
    assert len(auto.match_many(f0, [cut(f1, n), cut(f2, n)])) == 2
