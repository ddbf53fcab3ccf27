"""CVNet: the official checkpoint layout, clear loading errors, the pieces of the forward pass
against independent references, features of an image, the verification score and its
combination with the global similarity, the global preset and the methods by name.

The official weights (``CVPR2022_CVNet_R50.pyth``, no licence stated) are not available offline:
every check runs on random tensors saved in the official layout (``{'model_state': ...}``),
which is written out in ``official_layouts.py`` from the official model code (sungonce/CVNet:
``model/resnet.py`` (pycls ``ResNet``: ``stem``, stages ``s1``-``s4`` of ``ResBlock`` ``b1``..
with ``proj``/``bn`` and ``f.{a,a_bn,b,b_bn,c,c_bn}``, ``head.pool.p``, ``head.fc``),
``model/CVNet_Rerank_model.py`` (``encoder_q``, ``conv2ds``, ``cv_learner``),
``model/CVlearner.py`` (Sequential blocks of ``CenterPivotConv4d``, ``GroupNorm``, ``ReLU``;
``mlp``)).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from official_layouts import cvnet_keys, cvnet_state_dict

from vgrerank.errors import ConfigError, DataError
from vgrerank.local.base import Features
from vgrerank.local.registry import make_extractor, make_matcher, make_scorer, parse_method


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("cvnet") / "CVPR2022_CVNet_R50.pyth"
    torch.save({"model_state": cvnet_state_dict(), "epoch": 1}, path)
    return path


def _image(w: int = 320, h: int = 240, seed: int = 0) -> np.ndarray:
    """The real graffiti photo (../shared) when present, else a drawn scene of shapes."""
    from realdata import graffiti_or_drawn

    return graffiti_or_drawn(w, h, seed=seed)


def _conf(kind: str, ckpt, **kw) -> dict:
    return {"type": "cvnet", "weights": str(ckpt), "device": "cpu", **kw}


@pytest.fixture(scope="module")
def feats(ckpt):
    ext = make_extractor(_conf("extractor", ckpt, resize_max=256, global_scales=[1.0]))
    img = _image()
    return ext, ext(img), ext(np.ascontiguousarray(img[:, ::-1]))


# ---------------------------------------------------------------- layout and loading
def test_module_has_the_official_keys_and_shapes():
    from vgrerank.local.extractors.cvnet_net import CVNetRerank

    for depth, n in ((50, 382), (101, 688)):
        own = {k: tuple(v.shape) for k, v in CVNetRerank(depth).state_dict().items()}
        assert own == cvnet_keys(depth) and len(own) == n


def test_official_layout_loads_strictly(ckpt, tmp_path):
    from vgrerank.local.extractors.cvnet import load_cvnet

    ref = torch.load(ckpt)["model_state"]
    net = load_cvnet(50, str(ckpt))
    assert all(torch.equal(v, ref[k]) for k, v in net.state_dict().items())
    plain = tmp_path / "plain.pyth"  # the official loader also takes a bare state_dict
    torch.save(ref, plain)
    load_cvnet(50, str(plain))


def test_bad_checkpoint_lists_keys(tmp_path):
    from vgrerank.local.extractors.cvnet import load_cvnet

    sd = cvnet_state_dict()
    del sd["cv_learner.mlp.2.bias"]
    sd["encoder_k.stem.conv.weight"] = torch.zeros(64, 3, 7, 7)
    sd["conv2ds.1.weight"] = torch.zeros(256, 2048, 3, 3)
    path = tmp_path / "bad.pyth"
    torch.save({"model_state": sd}, path)
    with pytest.raises(DataError) as e:
        load_cvnet(50, str(path))
    msg = str(e.value)
    assert str(path) in msg and "1 missing key(s): cv_learner.mlp.2.bias" in msg
    assert "1 unexpected key(s): encoder_k.stem.conv.weight" in msg
    assert "conv2ds.1.weight (256, 2048, 3, 3) (expected (256, 1024, 3, 3))" in msg
    good = tmp_path / "r50.pyth"
    torch.save({"model_state": cvnet_state_dict()}, good)
    with pytest.raises(DataError, match="missing key.*encoder_q.s3.b7"):  # R50 file, R101 model
        load_cvnet(101, str(good))


def test_absent_weights_name_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
    method = parse_method("cvnet+cvnet+cvnet")  # parsing needs no weights
    url = "https://drive.google.com/drive/folders/1gMbZ8JlTyPlH2-6HW5NHRe58LmKfJybx"
    for make, kind in ((make_extractor, "extractor"), (make_scorer, "scorer")):
        with pytest.raises(ConfigError, match="CVPR2022_CVNet_R50.pyth") as e:
            make(method[kind])
        assert url in str(e.value) and "licence" in str(e.value)
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "cvnet" / "CVPR2022_CVNet_R50.pyth")):
        make_scorer(method["scorer"])


# ---------------------------------------------------------------- numerical pieces
def test_backbone_matches_torchvision_resnet(ckpt):
    """pycls ResNet-50 (stride on the 3x3) is torchvision's resnet50: with the keys renamed,
    torchvision's layer3 output is the ReLU of the dense map and its layer4 + GeM + fc give the
    global output."""
    from torchvision.models import resnet50

    from vgrerank.local.extractors.cvnet import load_cvnet

    net = load_cvnet(50, str(ckpt)).encoder_q
    tv = resnet50()
    ren = {"stem.conv": "conv1", "stem.bn": "bn1", "f.a_bn": "bn1", "f.b_bn": "bn2",
           "f.c_bn": "bn3", "f.a": "conv1", "f.b": "conv2", "f.c": "conv3",
           "proj": "downsample.0", "bn": "downsample.1"}  # fmt: skip
    sd = {}
    for k, v in net.state_dict().items():
        if k.startswith("head"):
            continue
        parts = k.split(".")
        if parts[0] != "stem":
            stage, block = int(parts[0][1:]), int(parts[1][1:]) - 1
            mod = ".".join(parts[2:-1])
            k = f"layer{stage}.{block}.{ren[mod]}.{parts[-1]}"
        else:
            k = f"{ren['.'.join(parts[:2])]}.{parts[-1]}"
        sd[k] = v
    sd.update({"fc.weight": tv.fc.weight, "fc.bias": tv.fc.bias})
    tv.load_state_dict(sd)
    tv.eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.inference_mode():
        g, dense = net(x)
        t = tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x)))))))
        gem = tv.layer4(t).clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)
        fc = net.head.fc(gem)
    assert dense.shape == (1, 1024, 6, 8) and (dense < 0).any()  # before the last ReLU
    assert torch.allclose(F.relu(dense), t, atol=1e-4, rtol=1e-4)
    assert torch.allclose(g, fc, atol=1e-4, rtol=1e-4)


def test_center_pivot_conv4d_against_brute_force():
    from vgrerank.local.extractors.cvnet_net import CenterPivotConv4d

    torch.manual_seed(0)
    conv = CenterPivotConv4d(3, 4, 3, 2)
    x = torch.randn(1, 3, 5, 6, 7, 4)
    with torch.inference_mode():
        y = conv(x)
        ref = torch.zeros(1, 4, 3, 3, 4, 2)
        for k in range(4):  # conv over the query dims at key positions 0, 2, 4, 6 / 0, 2
            for m in range(2):
                ref[..., k, m] += conv.conv1(x[..., 2 * k, 2 * m])
        for i in range(3):  # conv over the key dims at query positions 0, 2, 4 / 0, 2, 4
            for j in range(3):
                ref[:, :, i, j] += conv.conv2(x[:, :, 2 * i, 2 * j])
    assert torch.allclose(y, ref, atol=1e-5)


def _interp_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """[n_out, n_in] bilinear (corners aligned) weights, from interpolating the identity."""
    eye = torch.eye(n_in)[None]  # [1, n_in (channels), n_in (positions)]
    return F.interpolate(eye, n_out, mode="linear", align_corners=True)[0].T


def test_correlation_against_an_einsum_reference():
    from vgrerank.local.extractors.cvnet_net import correlation, scale_size

    torch.manual_seed(0)
    assert scale_size(15, 13, 0.25) == (8, 6) and scale_size(7, 9, 0.5) == (5, 6)  # round half even
    q = [torch.randn(1, 8, h, w) for h, w in ((2, 3), (3, 4), (4, 5))]
    k = [torch.randn(1, 8, h, w) for h, w in ((3, 2), (4, 3), (5, 4))]
    corr = correlation(q, k)
    assert corr.shape == (1, 9, 4, 5, 5, 4) and (corr >= 0).all()
    for a, qa in enumerate(q):
        for b, kb in enumerate(k):
            c = torch.einsum("chw,cij->hwij", F.normalize(qa[0], dim=0), F.normalize(kb[0], dim=0))
            mats = [_interp_matrix(n, m) for n, m in ((4, qa.shape[2]), (5, qa.shape[3]),
                                                      (5, kb.shape[2]), (4, kb.shape[3]))]  # fmt: skip
            ref = torch.einsum("ah,bw,ci,dj,hwij->abcd", *mats, c).clamp(min=0)
            assert torch.allclose(corr[0, 3 * a + b], ref, atol=1e-5), (a, b)


# ---------------------------------------------------------------- features and scores
def test_features_of_an_image(ckpt, feats):
    from vgrerank.local.extractors.cvnet import cvnet_inputs

    ext, f, _ = feats
    h, w = _image().shape[:2]
    # 320 x 240 capped at 256 -> 256 x 192 -> dense 16 x 12; scales 8 x 6, 11 x 8 (rounded), 16 x 12
    maps, glob, depth = cvnet_inputs(f)
    assert [m.shape for m in maps] == [(256, 6, 8), (256, 8, 11), (256, 12, 16)]
    # named extras, no packed rows: one keypoint row per scale-1 cell, no descriptor columns
    assert sorted(f.extras) == ["depth", "global", "map_0.25", "map_0.5", "map_1"]
    assert len(f) == 192 and f.descriptors.shape == (192, 0) and f.size == (w, h) and depth == 50
    assert all(m.dtype == np.float16 for m in maps) and glob.dtype == np.float32
    assert glob.shape == (2048,) and abs(float(np.linalg.norm(glob)) - 1) < 1e-5
    k1 = f.keypoints
    assert np.allclose(k1[:16, 0], (16 * np.arange(16) + 8) * w / 256 - 0.5)
    assert np.allclose(k1[::16, 1], (16 * np.arange(12) + 8) * h / 192 - 0.5)
    assert (k1 >= 0).all() and (k1 < [w, h]).all()
    g, maps2, net_hw = ext.describe(_image(), dense=True)
    assert net_hw == (192, 256) and np.array_equal(maps2[-1].astype(np.float16), maps[-1])
    assert np.allclose(g, glob)
    with pytest.raises(DataError, match="not CVNet features"):
        cvnet_inputs(Features(np.zeros((9, 2)), np.ones((9, 256)), np.ones(9), (10, 10)))


def test_score_combination_and_cache_precision(ckpt, feats, tmp_path):
    from vgrerank.io.local_h5 import FeatureStore, write_features
    from vgrerank.local.extractors.cvnet import SCALES, cvnet_inputs, map_name

    ext, f0, f1 = feats
    m = make_matcher({"type": "cvnet"})
    pairs = m.match(f0, f1)
    assert pairs.ndim == 2 and len(pairs) and (pairs.max(0) < [len(f0), len(f1)]).all()
    only = make_scorer(_conf("scorer", ckpt, mix=None))
    mixed = make_scorer(_conf("scorer", ckpt, mix=0.5))
    p, sim = only.verification(f0, f1)
    assert 0 < p < 1 and -1 <= sim <= 1
    k0, k1 = f0.keypoints[pairs[:, 0]], f1.keypoints[pairs[:, 1]]
    s_only, s_mix = only.score(k0, k1, f0, f1, pairs), mixed.score(k0, k1, f0, f1, pairs)
    assert s_only.score == pytest.approx(p) and s_mix.score == pytest.approx(sim + 0.5 * p)
    assert s_mix.inliers == s_mix.num_matches == len(pairs)
    assert only.verification(f0, f0)[1] == pytest.approx(1.0, abs=1e-5)

    def full(f, image):  # the maps before their float16 storage
        maps = ext.describe(image)[1]
        return Features(f.keypoints, f.descriptors, f.scores, f.size,
                        {**f.extras, **{map_name(s): x for s, x in zip(SCALES, maps, strict=True)}})  # fmt: skip

    img = _image()
    p32 = only.verification(full(f0, img), full(f1, np.ascontiguousarray(img[:, ::-1])))[0]
    assert abs(p32 - p) < 1e-3
    # the cache returns the extractor's arrays unchanged (maps float16, global float32)
    write_features(tmp_path / "f.h5", [("a.jpg", f0, 0.1)], {"tag": "cvnet"})
    with FeatureStore(tmp_path / "f.h5") as store:
        back = store["a.jpg"]
    assert sorted(back.extras) == sorted(f0.extras) and np.array_equal(back.keypoints, f0.keypoints)
    (mb, gb, db), (ma, ga, da) = cvnet_inputs(back), cvnet_inputs(f0)
    for x, y in zip([*mb, gb], [*ma, ga], strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    assert db == da == 50
    # features record the depth: an R101 scorer refuses R50 features
    path = ckpt.parent / "CVPR2022_CVNet_R101.pyth"
    torch.save({"model_state": cvnet_state_dict(101)}, path)
    with pytest.raises(DataError, match="depth 101.*CVNet-R50"):
        make_scorer(_conf("scorer", path, depth=101)).score(k0, k1, f0, f1, pairs)


def test_methods_and_global_preset_by_name(ckpt, feats):
    from vgrerank.globaldesc.registry import get_global_preset, make_global

    m = parse_method("cvnet+cvnet+cvnet")
    assert m["tag"] == "cvnet-r50-r512+cvnet-mnn+cvnet-r50-mix0.5"
    assert parse_method("cvnet-full+cvnet+cvnet-only")["scorer"]["mix"] is None
    assert parse_method("cvnet-r101+cvnet+cvnet-r101")["extractor"]["depth"] == 101
    conf = get_global_preset("cvnet-r50-global")
    assert conf["tag"] == "cvnet-r50-global" and conf["global_scales"][0] == pytest.approx(
        0.7071, abs=1e-4
    )
    conf = {
        **conf,
        "weights": str(ckpt),
        "device": "cpu",
        "resize_max": 256,
        "global_scales": [1.0],
    }
    desc = make_global(conf).describe([_image()])
    _, f, _ = feats
    assert desc.shape == (1, 2048) and np.allclose(desc[0], f.extras["global"], atol=1e-6)
