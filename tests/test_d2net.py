"""D2-Net: the official checkpoint layout (``d2_tf.pth``: ``{'model': state_dict}``), clear
loading errors, the detection / localisation / interpolation steps on constructed feature maps,
and forward passes with random weights (the official weights are not available offline).

The expected key layout (``official_layouts.py``) is written out from the official
``DenseFeatureExtractionModule`` (mihaidusmanu/d2-net, ``lib/model_test.py``): VGG16 convs at
Sequential indices 0 ... 21."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_layouts import D2NET_KEYS, d2net_state_dict

from vgrerank.errors import ConfigError, DataError
from vgrerank.local.registry import make_extractor, make_matcher, make_scorer, parse_method


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("d2") / "d2_tf.pth"
    torch.save({"model": d2net_state_dict()}, path)
    return path


def _image(h: int = 96, w: int = 128) -> np.ndarray:
    from realdata import REAL

    path = REAL / "graf_homography" / "graf1.png"
    if path.is_file():
        from vgrerank.imageio import load_image

        return np.ascontiguousarray(load_image(path)[200 : 200 + h, 300 : 300 + w])
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_layout_and_strict_loading(ckpt, tmp_path):
    from vgrerank.local.extractors.d2net import D2NetModel

    own = {k: tuple(v.shape) for k, v in D2NetModel().state_dict().items()}
    assert own == D2NET_KEYS and len(D2NET_KEYS) == 20
    ext = make_extractor({"type": "d2net", "weights": str(ckpt), "device": "cpu"})
    ref = torch.load(ckpt)["model"]
    assert all(torch.equal(v, ref[k]) for k, v in ext.net.state_dict().items())
    sd = d2net_state_dict()
    del sd["dense_feature_extraction.model.21.bias"]
    sd["dense_feature_extraction.model.23.weight"] = torch.zeros(3)
    sd["dense_feature_extraction.model.17.weight"] = torch.zeros(512, 256, 1, 1)
    bad = tmp_path / "bad.pth"
    torch.save({"model": sd}, bad)
    with pytest.raises(DataError) as e:
        make_extractor({"type": "d2net", "weights": str(bad), "device": "cpu"})
    msg = str(e.value)
    assert str(bad) in msg and "1 missing key(s): dense_feature_extraction.model.21.bias" in msg
    assert "1 unexpected key(s): dense_feature_extraction.model.23.weight" in msg
    assert "model.17.weight (512, 256, 1, 1) (expected (512, 256, 3, 3))" in msg


def test_presets_and_absent_weights(tmp_path, monkeypatch):
    m = parse_method("d2net-ms+mnn+magsac")
    assert m["extractor"]["multiscale"] is True and m["scorer"]["method"] == "magsac"
    assert parse_method("d2net-ss+mnn+ransac")["extractor"]["multiscale"] is False
    monkeypatch.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
    with pytest.raises(ConfigError, match="d2_tf.pth") as e:
        make_extractor(m["extractor"])
    msg = str(e.value)
    assert "https://dusmanu.com/files/d2-net/d2_tf.pth" in msg and "BSD-3-Clause-Clear" in msg
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "d2net" / "d2_tf.pth")):
        make_extractor(m["extractor"])


def test_detection_localisation_and_interpolation():
    from vgrerank.local.extractors.d2net import bilinear, detect

    ii, jj = torch.meshgrid(torch.arange(20.0), torch.arange(24.0), indexing="ij")
    dense = torch.zeros(3, 20, 24)
    # channel 0: round quadratic peak at (6.3, 8.8): one Newton step lands on it exactly
    dense[0] = (10 - (ii - 6.3) ** 2 - (jj - 8.8) ** 2).clamp(min=0)
    # channel 1: a ridge (elongated 1:40 peak): fails the edge test
    dense[1] = (10 - 0.025 * (ii - 14) ** 2 - (jj - 18) ** 2).clamp(min=0) * (ii > 11)
    # channel 2: a peak under channel 0's larger values: not the channel-wise max
    dense[2] = 0.5 * dense[0]
    c, i, j, step = detect(dense)
    assert c.tolist() == [0] and (i.item(), j.item()) == (6, 9)
    assert torch.allclose(torch.stack([i, j], 1) + step, torch.tensor([[6.3, 8.8]]), atol=1e-4)
    banned = torch.zeros(20, 24, dtype=torch.bool)
    banned[6, 9] = True
    assert len(detect(dense, banned)[0]) == 0
    fmap = torch.randn(4, 5, 6)
    pos = torch.tensor([[1.25, 2.5], [4.0, 5.0], [4.5, 1.0], [-0.2, 1.0]])
    desc, valid = bilinear(fmap, pos)
    assert valid.tolist() == [True, True, False, False]
    grid = torch.stack([pos[:2, 1] / 5 * 2 - 1, pos[:2, 0] / 4 * 2 - 1], 1).view(1, 1, 2, 2)
    ref = torch.nn.functional.grid_sample(fmap[None], grid, align_corners=True)[0, :, 0].t()
    assert torch.allclose(desc, ref, atol=1e-5)


def test_forward_on_an_image_and_method_by_name(ckpt):
    img = _image()
    h, w = img.shape[:2]
    feats = {}
    for ms in (False, True):
        conf = {"type": "d2net", "weights": str(ckpt), "device": "cpu", "multiscale": ms}
        f = make_extractor({**conf, "max_keypoints": 300})(img)
        assert f.size == (w, h) and 0 < len(f) <= 300 and f.descriptors.shape == (len(f), 512)
        assert np.allclose(np.linalg.norm(f.descriptors, axis=1), 1, atol=1e-4)
        assert (np.diff(f.scores) <= 0).all() and (f.scores > 0).all()
        k = f.keypoints
        assert (k >= 0).all() and (k[:, 0] <= w - 1).all() and (k[:, 1] <= h - 1).all()
        feats[ms] = f
    assert len(feats[True]) != len(feats[False]) or not np.allclose(
        feats[True].keypoints, feats[False].keypoints
    )
    # d2net-ss+mnn+magsac: a crop shifted by (8, 4) px matches, shifted
    f0 = feats[False]
    conf = {"type": "d2net", "weights": str(ckpt), "device": "cpu", "multiscale": False}
    f1 = make_extractor(conf)(np.ascontiguousarray(img[4:, 8:]))
    m = make_matcher(parse_method("d2net-ss+mnn+magsac")["matcher"])
    pairs = m.match(f0, f1)
    d = f0.keypoints[pairs[:, 0]] - f1.keypoints[pairs[:, 1]]
    assert len(pairs) >= 10 and np.median(np.abs(d - [8, 4]).max(1)) < 1.0
    s = make_scorer(parse_method("d2net-ss+mnn+magsac")["scorer"]).score(
        f0.keypoints[pairs[:, 0]], f1.keypoints[pairs[:, 1]], f0, f1
    )
    assert s.inliers >= 10
