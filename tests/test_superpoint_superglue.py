"""SuperPoint + SuperGlue: official checkpoint layout, clear loading errors, forward passes with
random weights, the methods by name and one small workflow run.

The official weights (Magic Leap, non-commercial research use only) are not available offline:
every check here runs on random tensors saved in the official key layout. The expected layout is
written out in ``official_layouts.py`` from the official model definitions
(magicleap/SuperGluePretrainedNetwork, ``models/superpoint.py`` and ``models/superglue.py``) as
the independent reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from official_layouts import SUPERGLUE_KEYS, SUPERPOINT_KEYS, spsg_state_dict

from vgrerank.errors import ConfigError, DataError
from vgrerank.local.base import Features
from vgrerank.local.registry import make_extractor, make_matcher, parse_method


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("spsg")
    sp, sg = d / "superpoint_v1.pth", d / "superglue_outdoor.pth"
    torch.save(spsg_state_dict(SUPERPOINT_KEYS), sp)
    torch.save(spsg_state_dict(SUPERGLUE_KEYS, 1, counters=False), sg)
    return sp, sg


def _image(w: int = 320, h: int = 240, seed: int = 0) -> np.ndarray:
    """The real graffiti photo (../shared) when present, else a drawn scene of shapes."""
    from realdata import graffiti_or_drawn

    return graffiti_or_drawn(w, h, seed=seed)


# ---------------------------------------------------------------- layout and loading
def test_modules_have_the_official_keys_and_shapes():
    from vgrerank.local.extractors.superpoint import SuperPointNet
    from vgrerank.local.matchers.superglue import SuperGlueNet

    for net, ref in ((SuperPointNet(), SUPERPOINT_KEYS), (SuperGlueNet(), SUPERGLUE_KEYS)):
        own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert own == ref
    assert len(SUPERPOINT_KEYS) == 24 and len(SUPERGLUE_KEYS) == 339


def test_official_layout_loads_strictly(ckpts):
    sp, sg = ckpts
    ext = make_extractor({"type": "superpoint", "weights": str(sp), "device": "cpu"})
    ref = torch.load(sp)
    assert all(torch.equal(v, ref[k]) for k, v in ext.net.state_dict().items())
    # the SuperGlue file was saved without BatchNorm counters (as old checkpoints are)
    m = make_matcher({"type": "superglue", "weights": str(sg), "device": "cpu"})
    ref = torch.load(sg)
    for k, v in m.net.state_dict().items():
        assert k.endswith("num_batches_tracked") or torch.equal(v, ref[k]), k


@pytest.mark.parametrize(
    "change, words",
    [
        ("missing", ["1 missing", "convPb.bias"]),
        ("unexpected", ["1 unexpected", "convPc.weight"]),
        ("shape", ["1 mis-shaped", "convDb.weight (128, 256, 1, 1) (expected (256, 256, 1, 1))"]),
    ],
)
def test_superpoint_bad_checkpoint_lists_keys(tmp_path, change, words):
    sd = spsg_state_dict(SUPERPOINT_KEYS)
    if change == "missing":
        del sd["convPb.bias"]
    elif change == "unexpected":
        sd["convPc.weight"] = torch.zeros(3)
    else:
        sd["convDb.weight"] = torch.zeros(128, 256, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(DataError) as e:
        make_extractor({"type": "superpoint", "weights": str(path), "device": "cpu"})
    assert str(path) in str(e.value) and all(w in str(e.value) for w in words)


def test_superglue_bad_checkpoint_lists_keys(tmp_path):
    sd = spsg_state_dict(SUPERGLUE_KEYS)
    del sd["gnn.layers.17.attn.merge.bias"]
    sd["gnn.layers.18.attn.merge.bias"] = torch.zeros(256)
    sd["final_proj.weight"] = torch.zeros(256, 128, 1)
    path = tmp_path / "sg.pth"
    torch.save(sd, path)
    with pytest.raises(DataError) as e:
        make_matcher({"type": "superglue", "weights": str(path), "device": "cpu"})
    msg = str(e.value)
    assert str(path) in msg and "gnn.layers.17.attn.merge.bias" in msg
    assert "gnn.layers.18.attn.merge.bias" in msg and "final_proj.weight (256, 128, 1)" in msg


def test_absent_weights_name_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
    method = parse_method("superpoint+superglue+count")  # listing/parsing needs no weights
    url = "https://github.com/magicleap/SuperGluePretrainedNetwork/raw/master/models/weights/"
    with pytest.raises(ConfigError, match="superpoint_v1.pth") as e:
        make_extractor(method["extractor"])
    assert url + "superpoint_v1.pth" in str(e.value) and "non-commercial" in str(e.value)
    with pytest.raises(ConfigError, match="superglue_outdoor.pth") as e:
        make_matcher(method["matcher"])
    assert url + "superglue_outdoor.pth" in str(e.value)
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "superglue" / "superglue_outdoor.pth")):
        make_matcher(method["matcher"])
    with pytest.raises(ConfigError, match=r"nowhere\.pth.*does not exist.*superpoint_v1\.pth"):
        make_extractor({**method["extractor"], "weights": str(tmp_path / "nowhere.pth")})


def test_weights_found_in_weights_dir_and_sha256_checked(ckpts, tmp_path, monkeypatch):
    sp, _ = ckpts
    (tmp_path / "superglue").mkdir()
    (tmp_path / "superglue" / "superpoint_v1.pth").write_bytes(sp.read_bytes())
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    make_extractor({"type": "superpoint", "device": "cpu"})
    with pytest.raises(DataError, match="sha256 mismatch"):
        make_extractor({"type": "superpoint", "device": "cpu", "sha256": "0" * 64})


# ---------------------------------------------------------------- numerical pieces
def test_cell_layout_nms_and_descriptor_sampling():
    from vgrerank.local.extractors.superpoint import _nms, cells_to_heat, sample_descriptors

    prob = torch.rand(1, 64, 3, 4)
    ref = torch.zeros(1, 24, 32)
    for c in range(64):  # channel 8 * dy + dx: row dy, column dx inside its 8x8 cell
        dy, dx = divmod(c, 8)
        ref[:, dy::8, dx::8] = prob[:, c]
    assert torch.equal(cells_to_heat(prob), ref)
    heat = torch.zeros(1, 20, 20)
    heat[0, 5, 5], heat[0, 6, 7], heat[0, 15, 15] = 0.9, 0.5, 0.3
    kept = _nms(heat, 4)
    assert kept[0, 5, 5] == 0.9 and kept[0, 6, 7] == 0 and kept[0, 15, 15] == 0.3
    desc = torch.nn.functional.normalize(torch.randn(1, 256, 3, 4), dim=1)
    # the first cell centre and the last pixel land on the first and last descriptor
    d = sample_descriptors(torch.tensor([[3.5, 3.5], [31.0, 23.0]]), desc)
    assert torch.allclose(d[0], desc[0, :, 0, 0], atol=1e-6)
    assert torch.allclose(d[1], desc[0, :, 2, 3], atol=1e-6)


def test_attention_head_layout_and_sinkhorn_marginals():
    from vgrerank.local.matchers.superglue import _Attention, log_optimal_transport

    torch.manual_seed(0)
    att = _Attention().eval()
    x, src = torch.randn(1, 256, 7), torch.randn(1, 256, 9)
    q, k, v = (p(t) for p, t in zip(att.proj, (x, src, src), strict=True))
    msg = torch.zeros(1, 256, 7)
    for h in range(4):  # channel 4 * d + h belongs to head h
        a = torch.softmax(q[0, h::4].t() @ k[0, h::4] / 8.0, dim=-1)  # [7, 9]
        msg[0, h::4] = (a @ v[0, h::4].t()).t()
    with torch.no_grad():
        assert torch.allclose(att(x, src), att.merge(msg), atol=1e-5)
    m, n = 5, 8
    z = log_optimal_transport(torch.randn(1, m, n), torch.tensor(0.5), 200)[0].exp()
    assert torch.allclose(z[:m].sum(1), torch.ones(m), atol=1e-4)  # each point: one unit
    assert torch.allclose(z[:, :n].sum(0), torch.ones(n), atol=1e-4)
    assert abs(float(z[m].sum()) - n) < 1e-3 and abs(float(z[:, n].sum()) - m) < 1e-3


def test_extractor_forward_on_an_image(ckpts):
    sp, _ = ckpts
    img = _image()
    h, w = img.shape[:2]
    ext = make_extractor(
        {"type": "superpoint", "weights": str(sp), "max_keypoints": 300, "device": "cpu"}
    )
    f = ext(img)
    assert f.size == (w, h) and 0 < len(f) <= 300
    assert f.descriptors.shape == (len(f), 256) and f.scores.shape == (len(f),)
    assert np.allclose(np.linalg.norm(f.descriptors, axis=1), 1, atol=1e-4)
    k = f.keypoints
    assert (k >= 4).all() and (k[:, 0] < w - 4).all() and (k[:, 1] < h - 4).all()
    assert (np.diff(f.scores) <= 0).all() and (f.scores > 0.005).all()
    # the network is translation-equivariant by whole cells: a crop shifted by (16, 8) px finds
    # the same interior keypoints, shifted
    f1 = make_extractor(
        {"type": "superpoint", "weights": str(sp), "max_keypoints": 10**6, "device": "cpu"}
    )
    a, b = f1(img), f1(img[8:, 16:])

    def inner(kp):
        kp = kp[(kp[:, 0] >= 48) & (kp[:, 0] < w - 48) & (kp[:, 1] >= 40) & (kp[:, 1] < h - 40)]
        return {tuple(p) for p in kp}

    assert inner(a.keypoints) and inner(a.keypoints) == inner(b.keypoints + [16, 8])
    # resize_max: keypoints still in the pixels of the given image
    small = make_extractor(
        {"type": "superpoint", "weights": str(sp), "resize_max": 160, "device": "cpu"}
    )(img)
    assert small.size == (w, h) and small.keypoints[:, 0].max() > w / 2


def _glueless(path) -> None:
    """SuperGlue weights that reduce it to Sinkhorn on descriptor similarity: no positional
    encoding (last keypoint-MLP conv zero), identity GNN layers (last MLP conv zero),
    final_proj = 10 * identity (similarity 100 cos / 16), dustbin score 3."""
    sd = spsg_state_dict(SUPERGLUE_KEYS, 2)
    for k in sd:
        if k.startswith("kenc.encoder.12.") or (k.startswith("gnn.") and ".mlp.3." in k):
            sd[k] = torch.zeros_like(sd[k])
    sd["final_proj.weight"] = 10 * torch.eye(256)[:, :, None]
    sd["final_proj.bias"] = torch.zeros(256)
    sd["bin_score"] = torch.tensor(3.0)
    torch.save(sd, path)


def test_matcher_output_form_and_glueless_recovery(ckpts, tmp_path):
    _, sg = ckpts
    rng = np.random.default_rng(0)
    n0, n1 = 60, 80
    d0 = rng.normal(size=(n0, 256)).astype(np.float32)
    d0 /= np.linalg.norm(d0, axis=1, keepdims=True)
    f0 = Features(rng.uniform(0, 300, (n0, 2)), d0, rng.uniform(0, 1, n0), (320, 240))
    perm = rng.permutation(n1)[:n0]  # f0 point i is f1 point perm[i]; 20 extra points in f1
    d1 = rng.normal(size=(n1, 256)).astype(np.float32)
    d1[perm] = d0 + 0.02 * rng.normal(size=d0.shape)
    d1 /= np.linalg.norm(d1, axis=1, keepdims=True)
    k1 = rng.uniform(0, 600, (n1, 2))
    f1 = Features(k1, d1, rng.uniform(0, 1, n1), (640, 480))
    # random weights: no pair is confident; threshold 0 keeps every mutual maximum
    conf = {"type": "superglue", "weights": str(sg), "device": "cpu", "match_threshold": 0.0}
    m = make_matcher(conf)
    for pair in (m.match(f0, f1), *m.match_many(f0, [f1, f0])):
        assert pair.dtype == np.int64 and pair.ndim == 2 and pair.shape[1] == 2 and len(pair)
        assert len(np.unique(pair[:, 0])) == len(pair) == len(np.unique(pair[:, 1]))
        assert (pair >= 0).all() and (pair[:, 0] < n0).all() and (pair[:, 1] < n1).all()
    empty = Features(np.zeros((0, 2)), np.zeros((0, 256)), np.zeros(0), (10, 10))
    assert m.match(f0, empty).shape == (0, 2)
    with pytest.raises(ConfigError, match="dimension 128"):
        m.match(f0, Features(k1, d1[:, :128], np.ones(n1), (640, 480)))
    path = tmp_path / "glueless.pth"
    _glueless(path)
    g = make_matcher({"type": "superglue", "weights": str(path), "device": "cpu"})
    pairs = g.match(f0, f1)
    assert len(pairs) == n0 and (perm[pairs[:, 0]] == pairs[:, 1]).all()


# ---------------------------------------------------------------- by name, and the workflow
def test_methods_parse_by_name():
    m = parse_method("superpoint+superglue+count")
    assert m["tag"] == "superpoint-k2048+superglue-outdoor+count"
    assert m["matcher"]["sinkhorn_iterations"] == 100 and m["matcher"]["match_threshold"] == 0.2
    m = parse_method("superpoint-k1024+superglue+magsac")
    assert m["extractor"]["max_keypoints"] == 1024 and m["scorer"]["method"] == "magsac"
    with pytest.raises(ConfigError, match="match_threshold"):
        parse_method(
            "superpoint+sg+count", {"matchers": {"sg": {"base": "superglue", "match_threshold": 2}}}
        )
