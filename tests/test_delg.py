"""DELG (+ RANSAC / MAGSAC) and the Reranking Transformer: checkpoint layouts, strict loading
with clear errors, the TF-variable converter, forward passes on a real image with random
weights, and the methods by name.

Neither the official DELG SavedModels nor the RRT checkpoints are available offline: every check
runs on random tensors saved in the expected layouts. Those layouts are written out in
``official_layouts.py`` as the independent reference: DELG from the Keras attribute names of
tensorflow/models ``research/delf/delf/python/training/model/{resnet50,delf_model}.py``; RRT
from uvavision/RerankingTransformer ``RRT_GLD/models/{matcher,transformer,ingredient}.py``
(``MatchERT``, config ``RRT``: d_model 128, 4 heads, 6 layers, feed-forward 1024).
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from official_layouts import RRT_KEYS, delg_keys, delg_state_dict, random_state_dict

from vgrerank.errors import ConfigError, DataError
from vgrerank.local.base import Features
from vgrerank.local.registry import make_extractor, make_matcher, make_scorer, parse_method


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("delg")
    delg, rrt = d / "r50delg_gld_20200814.pth", d / "r50_gldv1.pt"
    torch.save(delg_state_dict(), delg)
    sd = random_state_dict(RRT_KEYS, 1)
    # the official file: {'state': state_dict, 'optim': optimizer state} (RRT experiment.py)
    torch.save({"state": sd, "optim": {"state": {}, "param_groups": [{"lr": 1e-4}]}}, rrt)
    return delg, rrt


def _image(w: int = 192, h: int = 128) -> np.ndarray:
    """A crop of the real graffiti photo (../shared) when present, else a drawn scene."""
    from realdata import graffiti_or_drawn

    return graffiti_or_drawn(w, h, x0=200, y0=100, shapes=40)


def _delg(path, **kw):
    conf = {"type": "delg", "weights": str(path), "device": "cpu", "score_threshold": 0.0}
    conf.update(scales=[0.7071, 1.0], global_scales=[1.0], **kw)
    return make_extractor(conf)


# ---------------------------------------------------------------- layouts and loading
def test_modules_have_the_expected_keys_and_shapes():
    from vgrerank.local.extractors.delg import DELGNet
    from vgrerank.local.scorers.rrt import MatchERT

    for net, ref in ((DELGNet(), delg_keys()), (MatchERT(), RRT_KEYS)):
        assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == ref
    assert len(delg_keys()) == 386 and len(RRT_KEYS) == 78


def test_official_layouts_load_strictly(ckpts):
    delg, rrt = ckpts
    ext = _delg(delg)
    ref = torch.load(delg)
    assert all(torch.equal(v, ref[k]) for k, v in ext.net.state_dict().items())
    sc = make_scorer({"type": "rrt", "weights": str(rrt), "device": "cpu"})
    ref = torch.load(rrt)["state"]
    assert all(torch.equal(v, ref[k]) for k, v in sc.net.state_dict().items())


def test_bad_checkpoints_list_the_keys(ckpts, tmp_path):
    sd = random_state_dict(delg_keys())
    del sd["autoencoder.conv1.bias"]
    sd["attention.conv3.weight"] = torch.zeros(1)
    sd["backbone.embedding_layer.weight"] = torch.zeros(512, 2048)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(DataError) as e:
        _delg(bad)
    msg = str(e.value)
    assert str(bad) in msg and "1 missing key(s): autoencoder.conv1.bias" in msg
    assert "attention.conv3.weight" in msg and "(512, 2048) (expected (2048, 2048))" in msg
    rsd = random_state_dict(RRT_KEYS)
    rsd["scale_encoder.weight"] = torch.zeros(4, 128)
    del rsd["classifier.bias"]
    torch.save({"state": rsd}, bad)
    with pytest.raises(DataError, match=r"classifier\.bias.*scale_encoder\.weight \(4, 128\)"):
        make_scorer({"type": "rrt", "weights": str(bad), "device": "cpu"})
    torch.save([1, 2], bad)
    with pytest.raises(DataError, match="not an RRT checkpoint"):
        make_scorer({"type": "rrt", "weights": str(bad), "device": "cpu"})


def test_absent_weights_name_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
    m = parse_method("delg-rrt+rrt+rrt")  # parsing needs no weights
    with pytest.raises(ConfigError) as e:
        make_extractor(m["extractor"])
    msg = str(e.value)
    assert "r50delg_gld_20200814.pth" in msg and "Apache-2.0" in msg
    assert "https://storage.googleapis.com/delf/r50delg_gld_20200814.tar.gz" in msg
    assert "python -m vgrerank.local.extractors.delg" in msg
    with pytest.raises(ConfigError) as e:
        make_scorer(m["scorer"])
    url = "https://github.com/uvavision/RerankingTransformer/raw/main/RRT_GLD/rrt_gld_ckpts/"
    assert url + "r50_gldv1.pt" in str(e.value) and "GPL-3.0" in str(e.value)
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "rrt" / "r50_gldv1.pt")):
        make_scorer(m["scorer"])
    with pytest.raises(DataError, match=str(tmp_path / "delg" / "r50delg_gld_20200814.pth")):
        make_extractor({**parse_method("delg+mnn+affine")["extractor"]})


# ---------------------------------------------------------------- the TF converter
def test_tf_variables_convert_to_the_layout_with_tf_semantics(tmp_path):
    """TF variable names and HWIO / [in, out] kernels -> our state_dict; the converted conv1
    with TF 'same' padding gives what TF's convolution gives (explicit sum over HWIO)."""
    from vgrerank.local.extractors.delg import DELGNet, _same, convert_tf_variables
    from vgrerank.local.torchload import load_strict

    sd = random_state_dict(delg_keys(), 3)
    names = {"weight": "kernel", "bias": "bias", "running_mean": "moving_mean",
             "running_var": "moving_variance"}  # fmt: skip
    tf_vars = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        *path, last = k.split(".")
        bn = "bn" in path[-1] or path[-1].startswith("bn")
        leaf = {"weight": "gamma", "bias": "beta"}.get(last, names[last]) if bn else names[last]
        a = v.numpy()
        a = a.transpose(2, 3, 1, 0) if a.ndim == 4 else (a.T if a.ndim == 2 else a)
        tf_vars["_model/" + "/".join(path) + f"/{leaf}/.ATTRIBUTES/VARIABLE_VALUE"] = a
    extra = ["_model/desc_classification/cosine_weights/.ATTRIBUTES/VARIABLE_VALUE",
             "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
             "_model/backbone/l2a/conv2a/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/"
             "VARIABLE_VALUE"]  # fmt: skip
    tf_vars.update({n: np.zeros(3, np.float32) for n in extra})
    out, skipped = convert_tf_variables(tf_vars)
    assert sorted(skipped) == sorted(extra)
    net = load_strict(DELGNet(), tmp_path / "converted.pth", state_dict=out)
    assert all(torch.equal(v, sd[k]) for k, v in net.state_dict().items() if k in out)
    hwio = tf_vars["_model/backbone/conv1/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    bias = tf_vars["_model/backbone/conv1/bias/.ATTRIBUTES/VARIABLE_VALUE"]
    for size in (9, 10):  # TF 'same', stride 2: pad 3/3 (odd), 2/3 (even; extra bottom/right)
        x = np.random.default_rng(size).normal(size=(size, size, 3)).astype(np.float32)
        total = (-(-size // 2) - 1) * 2 + 7 - size
        xp = np.pad(x, ((total // 2, total - total // 2),) * 2 + ((0, 0),))
        n = -(-size // 2)
        ref = np.stack(
            [
                [np.einsum("hwi,hwio->o", xp[2 * r : 2 * r + 7, 2 * c : 2 * c + 7], hwio) + bias
                 for c in range(n)]
                for r in range(n)
            ]
        )  # fmt: skip
        t = torch.from_numpy(x).permute(2, 0, 1)[None]
        with torch.no_grad():
            got = net.backbone.conv1(_same(t, 7, 2))[0].permute(1, 2, 0).numpy()
        assert got.shape == ref.shape and np.allclose(got, ref, atol=1e-4)


# ---------------------------------------------------------------- DELG forward passes
@pytest.fixture(scope="module")
def delg_ext(ckpts):
    return _delg(ckpts[0])


def test_delg_local_and_global_on_an_image(delg_ext):
    img = _image()
    h, w = img.shape[:2]
    ext = delg_ext
    ext.conf.update(max_keypoints=10**6)  # the conf is read at each extraction
    full, _, _ = ext.extract_all(img)
    ext.conf.update(max_keypoints=20)
    f, fs, g = ext.extract_all(img)
    assert f.size == (w, h) and len(f) == 20 and f.descriptors.shape == (len(f), 128)
    assert np.allclose(np.linalg.norm(f.descriptors, axis=1), 1, atol=1e-5)
    assert g.shape == (2048,) and abs(np.linalg.norm(g) - 1) < 1e-5 and np.isfinite(g).all()
    assert (np.diff(f.scores) <= 0).all() and (f.scores > 0).all()  # attention, best first
    k = f.keypoints
    assert (k >= 0).all() and (k[:, 0] <= w - 1).all() and (k[:, 1] <= h - 1).all()
    # receptive-field centres: multiples of 32 / scale in the pixels of the scale's image
    assert np.abs(1 / fs[:, None] - np.array([0.7071, 1.0])).min(1).max() < 1e-4
    cell = k * (1 / fs)[:, None] / 32
    inside = (k[:, 0] < w - 1) & (k[:, 1] < h - 1)  # not clipped at the border
    assert inside.any() and np.allclose(cell[inside], np.round(cell[inside]), atol=1e-3)
    # threshold 0 keeps every cell of both scales (6 x 4 at 1.0, 5 x 3 at 0.7071: TF 'same'
    # and 'valid' sizes); the cap keeps the 20 best by attention
    assert len(full) == 24 + 15 and np.allclose(full.scores[:20], f.scores, atol=1e-5)
    # NMS over receptive boxes (iou < 1) keeps fewer
    ext.conf.update(max_keypoints=10**6, iou=0.5, scales=[1.0])  # one level: 24 cells
    assert len(ext(img)) < 24
    # the official threshold of the model keeps only cells with attention >= 175
    ext.conf.update(max_keypoints=1000, iou=1.0, score_threshold=None)
    assert ext._threshold() == 175.0 and (ext(img).scores >= 175.0).all()
    ext.conf.update(score_threshold=0.0, scales=[0.7071, 1.0])
    # delg+mnn+affine through the re-ranking core: an image against itself keeps every point
    from vgrerank.rerank_core import score_candidates

    m = parse_method("delg+mnn+affine")
    matcher, scorer = make_matcher({**m["matcher"], "device": "cpu"}), make_scorer(m["scorer"])
    out = score_candidates(full, [full], matcher, scorer)
    assert out["num_matches"][0] == len(full) == out["inliers"][0]


def test_delg_rrt_extras_and_global_preset(ckpts, delg_ext, tmp_path):
    from vgrerank.globaldesc.registry import get_global_preset, make_global
    from vgrerank.io.local_h5 import FeatureStore, write_features
    from vgrerank.local.extractors.delg import rrt_inputs

    delg, _ = ckpts
    img = _image()
    ext = delg_ext
    ext.conf.update(max_keypoints=30, output="rrt")
    rrt = ext(img)
    ext.conf.update(output="local")
    local, scales, g = rrt_inputs(rrt)
    f, fs, g_ref = ext.extract_all(img)
    assert np.allclose(local, f.descriptors) and np.allclose(scales, fs) and np.allclose(g, g_ref)
    # one extraction: the local rows are the plain DELG rows (attention scores, no extra rows),
    # the global vector and the feature scales ride beside them as float32 extras
    assert len(rrt) == len(f) and np.array_equal(rrt.keypoints, f.keypoints)
    assert np.array_equal(rrt.scores, f.scores) and sorted(rrt.extras) == ["global", "scale"]
    assert rrt.extras["global"].dtype == np.float32 and rrt.extras["scale"].dtype == np.float32
    with pytest.raises(DataError, match="not DELG features for RRT"):
        rrt_inputs(f)
    # the cache keeps the global vector in float32 (bit for bit), descriptors in float16
    write_features(tmp_path / "f.h5", [("a.jpg", rrt, 0.1)], {"tag": "delg-rrt"})
    with FeatureStore(tmp_path / "f.h5") as store:
        local2, scales2, g2 = rrt_inputs(store["a.jpg"])
    assert g2.dtype == np.float32 and np.array_equal(g2, g) and np.array_equal(scales2, scales)
    assert np.array_equal(local2, local.astype(np.float16).astype(np.float32))
    conf = get_global_preset("d", {"d": {"base": "delg-global", "weights": str(delg),
                                         "global_scales": [1.0], "device": "cpu"}})  # fmt: skip
    gd = make_global(conf).describe([img, img[:, ::-1].copy()])
    assert gd.shape == (2, 2048) and np.allclose(gd[0], g_ref, atol=1e-5)
    assert np.allclose(np.linalg.norm(gd, axis=1), 1, atol=1e-5)


# ---------------------------------------------------------------- RRT
def _reference_logit(sd, qg, ql, qs, cg, cl, cs, pad: int = 500) -> float:
    """The official MatchERT forward written out from matcher.py / transformer.py (DETR
    post-norm layers, nn.MultiheadAttention maths), with the dataset's padding to ``pad``
    local tokens and key-padding masks."""

    def padded(x, s):
        n = len(x)
        xp, sp = torch.zeros(pad, 128), torch.zeros(pad, dtype=torch.long)
        xp[:n], sp[:n] = x, s
        mask = torch.ones(pad, dtype=torch.bool)
        mask[:n] = False
        return xp, sp, mask

    (ql, qs, qm), (cl, cs, cm) = padded(ql, qs), padded(cl, cs)
    seg, scale = sd["seg_encoder.weight"], sd["scale_encoder.weight"]

    def remap(g):
        return F.normalize(g @ sd["remap.weight"].t() + sd["remap.bias"], dim=-1)

    x = torch.cat([seg[2:3], (remap(qg) + seg[4])[None], F.normalize(ql, dim=-1) + scale[qs]
                   + seg[0], seg[3:4], (remap(cg) + seg[5])[None],
                   F.normalize(cl, dim=-1) + scale[cs] + seg[1]])  # fmt: skip
    keep = ~torch.cat([torch.zeros(2, dtype=torch.bool), qm, torch.zeros(2, dtype=torch.bool), cm])
    for i in range(6):
        layer = {
            k.split(".", 3)[3]: v for k, v in sd.items() if k.startswith(f"encoder.layers.{i}.")
        }
        p = layer.__getitem__
        q, k, v = (x @ p("self_attn.in_proj_weight").t() + p("self_attn.in_proj_bias")).chunk(3, -1)
        heads = []
        for hd in range(4):
            sl = slice(32 * hd, 32 * hd + 32)
            a = (q[:, sl] / 32**0.5) @ k[keep, sl].t()
            heads.append(torch.softmax(a, -1) @ v[keep, sl])
        att = torch.cat(heads, -1) @ p("self_attn.out_proj.weight").t()
        att = att + p("self_attn.out_proj.bias")
        x = F.layer_norm(x + att, (128,), p("norm1.weight"), p("norm1.bias"))
        ff = torch.relu(x @ p("linear1.weight").t() + p("linear1.bias"))
        ff = ff @ p("linear2.weight").t() + p("linear2.bias")
        x = F.layer_norm(x + ff, (128,), p("norm2.weight"), p("norm2.bias"))
    return float(x[0] @ sd["classifier.weight"][0] + sd["classifier.bias"][0])


def _rrt_feats(rng, n: int) -> Features:
    from vgrerank.local.extractors.delg import rrt_features

    d = rng.normal(size=(n, 128)).astype(np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    g = rng.normal(size=2048).astype(np.float32)
    inv = np.float32(1) / np.float32([0.25, 0.35355338, 0.5, 0.70710677, 1.0, 1.4142135, 2.0])
    f = Features(rng.uniform(0, 300, (n, 2)), d, np.ones(n), (320, 240))
    return rrt_features(f, rng.choice(inv, n), g / np.linalg.norm(g))


def test_rrt_matches_the_official_forward_and_scale_bins(ckpts):
    from vgrerank.local.extractors.delg import rrt_inputs
    from vgrerank.local.scorers.rrt import SCALE_BINS, scale_index

    _, rrt = ckpts
    sc = make_scorer({"type": "rrt", "weights": str(rrt), "device": "cpu"})
    sd = torch.load(rrt)["state"]
    rng = np.random.default_rng(0)
    f0, f1 = _rrt_feats(rng, 120), _rrt_feats(rng, 700)  # 700: only the first 500 are seen
    args = []
    for f in (f0, f1):
        local, scales, g = rrt_inputs(f)
        local, scales = local[:500], scales[:500]
        official = [bisect_right(SCALE_BINS, float(s)) - 1 for s in scales]  # dataset.py
        assert (scale_index(scales) == official).all()
        args += [torch.from_numpy(g), torch.from_numpy(local), torch.tensor(official)]
    ref = _reference_logit(sd, *args)
    got = sc.logit(f0, f1)
    assert np.isfinite(got) and abs(got - ref) < 1e-4 * max(1, abs(ref)), (got, ref)
    # the 7 official pyramid levels as float32 feature scales (1 / image scale)
    inv = np.float32(1) / np.float32([0.25, 0.35355338, 0.5, 0.70710677, 1.0, 1.4142135, 2.0])
    assert scale_index(inv).tolist() == [bisect_right(SCALE_BINS, float(s)) - 1 for s in inv]
    assert scale_index(np.float32([0.1, 9.0])).tolist() == [0, 6]  # outside: clamped


def test_rrt_pairs_through_the_rerank_core(ckpts):
    from vgrerank.rerank_core import score_candidates

    _, rrt = ckpts
    m = parse_method("delg-rrt+rrt+rrt", {"scorers": {"rrt": {"base": "rrt", "weights": str(rrt)}}})
    matcher = make_matcher({**m["matcher"], "device": "cpu"})
    scorer = make_scorer({**m["scorer"], "device": "cpu"})
    rng = np.random.default_rng(1)
    q, cands = _rrt_feats(rng, 80), [_rrt_feats(rng, 60), _rrt_feats(rng, 0)]
    near = Features(q.keypoints, q.descriptors.copy(), q.scores, q.size, q.extras)
    cands.append(near)
    out = score_candidates(q, cands, matcher, scorer)
    assert out["score"].shape == (3,) and np.isfinite(out["score"]).all()
    assert out["num_matches"][1] == 0 and out["num_matches"][2] == 80  # itself: all mutual
    # not symmetric in form (query / candidate segments) but finite both ways
    a, b = scorer.logit(q, cands[0]), scorer.logit(cands[0], q)
    assert np.isfinite([a, b]).all() and a != b
    p = make_scorer({**m["scorer"], "device": "cpu", "probability": True})
    assert 0 < p.score(np.zeros((0, 2)), np.zeros((0, 2)), q, cands[0]).score < 1
    with pytest.raises(DataError, match="not DELG features for RRT"):
        matcher.match(q, Features(q.keypoints, q.descriptors, q.scores, q.size))


def test_methods_parse_by_name():
    m = parse_method("delg+mnn+affine")
    assert m["tag"] == "delg-r50gld-k1000-s3+mnn+affine-3px" and m["scorer"]["type"] == "affine"
    assert m["extractor"]["max_keypoints"] == 1000
    m = parse_method("delg+mnn+affine-10px")
    assert m["scorer"]["threshold"] == 10.0 and m["scorer"]["max_iters"] == 1000
    m = parse_method("delg-full+mnn+magsac")
    assert len(m["extractor"]["scales"]) == 7 and m["scorer"]["method"] == "magsac"
    m = parse_method("delg-rrt+rrt+rrt")
    assert m["tag"] == "delg-r50gld-rrt500-s3+rrt-mnn500+rrt-r50gldv1"
    assert m["extractor"]["output"] == "rrt" and m["extractor"]["max_keypoints"] == 500
    with pytest.raises(ConfigError, match="output"):
        parse_method("x+mnn+affine", {"extractors": {"x": {"base": "delg", "output": "both"}}})
    with pytest.raises(ConfigError, match="model"):
        parse_method("delg-rrt+rrt+r", {"scorers": {"r": {"base": "rrt", "model": "r101"}}})
