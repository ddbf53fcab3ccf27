"""TransVPR: the official checkpoint layout, clear loading errors, the forward pass against an
independent re-statement of the official computation, features of an image, and the methods by
name.

The official weights (``TransVPR_MSLS.pth``, no licence stated) are not available offline: every
check runs on random tensors saved in the official key layout, which is written out in
``official_layouts.py`` from the official model code (RuotongWANG/TransVPR-model-implementation,
``feature_extractor.py``: ``Extractor_base`` = ``Extractor(num_layers=6, num_heads=4,
mlp_ratio=2, embedding_dim=256)``; ``blocks.py``: ``Tokenizer``, ``TransformerEncoder``,
``POOL``; ``inference.py`` adds the pool as module ``pool``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from official_layouts import TRANSVPR_KEYS, transvpr_state_dict

from vgrerank.errors import ConfigError, DataError
from vgrerank.local.registry import make_extractor, make_matcher, make_scorer, parse_method


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("transvpr") / "TransVPR_MSLS.pth"
    torch.save(transvpr_state_dict(), path)
    return path


def _image(w: int = 320, h: int = 240, seed: int = 0) -> np.ndarray:
    """The real graffiti photo (../shared) when present, else a drawn scene of shapes."""
    from realdata import graffiti_or_drawn

    return graffiti_or_drawn(w, h, seed=seed)


def _extractor(ckpt, **kw):
    return make_extractor({"type": "transvpr", "weights": str(ckpt), "device": "cpu", **kw})


# ---------------------------------------------------------------- layout and loading
def test_module_has_the_official_keys_and_shapes():
    from vgrerank.local.extractors.transvpr import TransVPRNet

    own = {k: tuple(v.shape) for k, v in TransVPRNet().state_dict().items()}
    assert own == TRANSVPR_KEYS and len(own) == 109


def test_official_layout_loads_strictly(ckpt):
    ext = _extractor(ckpt)
    ref = torch.load(ckpt)
    assert all(torch.equal(v, ref[k]) for k, v in ext.net.state_dict().items())


def test_bad_checkpoint_lists_keys(tmp_path):
    sd = transvpr_state_dict()
    del sd["pool.attention_pool.bias"]
    sd["transformer.positional_emb"] = torch.zeros(1, 10, 256)
    sd["tokenizer2.conv_layer.weight"] = torch.zeros(64, 128, 2, 2)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(DataError) as e:
        _extractor(path)
    msg = str(e.value)
    assert str(path) in msg and "1 missing key(s): pool.attention_pool.bias" in msg
    assert "1 unexpected key(s): transformer.positional_emb" in msg
    assert "tokenizer2.conv_layer.weight (64, 128, 2, 2) (expected (64, 128, 4, 4))" in msg


def test_absent_weights_name_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
    method = parse_method("transvpr+mnn+magsac")  # parsing needs no weights
    url = "https://github.com/RuotongWANG/TransVPR-model-implementation/raw/main/TransVPR_MSLS.pth"
    with pytest.raises(ConfigError, match="TransVPR_MSLS.pth") as e:
        make_extractor(method["extractor"])
    assert url in str(e.value) and "licence" in str(e.value)
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "transvpr" / "TransVPR_MSLS.pth")):
        make_extractor(method["extractor"])
    with pytest.raises(ConfigError, match="multiples of 16"):
        make_extractor({**method["extractor"], "resize": [650, 480]})


# ---------------------------------------------------------------- numerics
def _reference(sd: dict, x: torch.Tensor, layer: int = 3):
    """The official forward re-stated from blocks.py / feature_extractor.py / test_msls.py with
    plain tensor operations on the state_dict (eval mode: dropout and drop-path are identity)."""
    maps = []
    for i in range(1, 5):
        x = F.conv2d(x, sd[f"conv{i}.0.weight"], sd[f"conv{i}.0.bias"], padding=1)
        bn = f"conv{i}.1"
        x = F.batch_norm(x, sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"],
                         sd[f"{bn}.weight"], sd[f"{bn}.bias"], eps=1e-5)  # fmt: skip
        x = F.max_pool2d(F.relu(x), 3, 2, 1)
        maps.append(x)
    seq = []
    for i, m in enumerate(maps, 1):
        k = 2 ** (4 - i)
        t = F.conv2d(m, sd[f"tokenizer{i}.conv_layer.weight"], sd[f"tokenizer{i}.conv_layer.bias"],
                     stride=k)  # fmt: skip
        seq.append(t.flatten(2, 3).transpose(-2, -1))
    x = torch.cat([sd["transformer.class_emb"].expand(x.shape[0], -1, -1), torch.cat(seq, -1)], 1)

    def ln(v, name):
        return F.layer_norm(v, (256,), sd[f"{name}.weight"], sd[f"{name}.bias"])

    feats = []
    for b in range(6):
        p = f"transformer.blocks.{b}"
        h = ln(x, f"{p}.pre_norm")
        B, N, C = h.shape
        qkv = (h @ sd[f"{p}.self_attn.qkv.weight"].T).reshape(B, N, 3, 4, C // 4)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1)) * (C // 4) ** -0.5).softmax(-1)
        o = (a @ v).transpose(1, 2).reshape(B, N, C)
        x = ln(x + o @ sd[f"{p}.self_attn.proj.weight"].T + sd[f"{p}.self_attn.proj.bias"],
               f"{p}.norm1")  # fmt: skip
        f = F.gelu(x @ sd[f"{p}.linear1.weight"].T + sd[f"{p}.linear1.bias"])
        x = x + f @ sd[f"{p}.linear2.weight"].T + sd[f"{p}.linear2.bias"]
        feats.append(ln(x, "transformer.norm"))
    allf = torch.stack(feats, -3)  # (B, 6, 1 + N, C)
    z = allf[:, [1, 3, 5]].permute(0, 2, 1, 3).reshape(B, allf.shape[2], -1)[:, 1:]
    mask = z @ sd["pool.attention_pool.weight"].T + sd["pool.attention_pool.bias"]
    mask = mask.softmax(1).transpose(-1, -2)  # (B, 3, N)
    pooled = torch.cat([(mask[:, i : i + 1] @ z[..., 256 * i : 256 * (i + 1)]).squeeze(-2)
                        for i in range(3)], -1)  # fmt: skip
    g = F.normalize(F.normalize(pooled, dim=-1) @ sd["pool.fc.1.weight"].T + sd["pool.fc.1.bias"],
                    dim=-1)  # fmt: skip

    def mm(t):
        lo, hi = t.min(-1, keepdim=True).values, t.max(-1, keepdim=True).values
        return (t - lo) / (hi - lo)

    return g, allf[:, layer, 1:], mm(mm(mask).sum(1))


def test_forward_matches_the_official_computation(ckpt):
    ext = _extractor(ckpt)
    sd = torch.load(ckpt)
    torch.manual_seed(1)
    x = torch.randn(2, 3, 96, 128)
    with torch.inference_mode():
        got = ext.net(x, 3)
        ref = _reference(sd, x, 3)
    for a, b in zip(got, ref, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert got[1].shape == (2, 6 * 8, 256)


def test_features_of_an_image(ckpt):
    img = _image()
    h, w = img.shape[:2]
    ext = _extractor(ckpt, resize=[320, 240])
    glob, tokens, mask, net_hw = ext.describe(img)
    assert net_hw == (240, 320) and tokens.shape == (15 * 20, 256) and mask.shape == (300,)
    assert abs(float(np.linalg.norm(glob)) - 1) < 1e-5 and glob.shape == (256,)
    assert mask.min() == 0 and abs(mask.max() - 1) < 1e-6
    f = ext(img)
    keep = mask > 0.02
    assert f.size == (w, h) and len(f) == keep.sum() and 0 < len(f) < 300
    assert np.array_equal(f.descriptors, tokens[keep]) and np.array_equal(f.scores, mask[keep])
    # patch centres of the 16 px grid of the network input, in the original pixels
    sx, sy = w / 320, h / 240
    grid = np.stack(np.divmod(np.flatnonzero(keep), 20)[::-1], 1) * 16 + 8
    assert np.allclose(f.keypoints, grid * [sx, sy] - 0.5, atol=1e-4)
    assert (f.keypoints >= 0).all() and (f.keypoints < [w, h]).all()
    everything = _extractor(ckpt, resize=[320, 240], mask_threshold=0.0)(img)
    assert len(everything) == 299  # all patches but the minimum of the mask
    native = _extractor(ckpt, resize=None)(img[:, :300])  # 300 -> 288 wide: 18 x 15 patches
    assert native.size == (300, h) and native.keypoints[:, 0].max() < 300


# ---------------------------------------------------------------- by name
def test_methods_parse_and_rerank_an_image_against_itself(ckpt, tmp_path):
    m = parse_method("transvpr+mnn+magsac")
    assert m["tag"] == "transvpr-msls-r640+mnn+magsac-3px"
    paper = parse_method("transvpr-pitts30k+mnn+ransac-24px")
    assert paper["extractor"]["model"] == "pitts30k" and paper["scorer"]["threshold"] == 24.0
    # the final LayerNorm without affine part: every token has norm 16, so the official dot
    # product is a cosine and each patch's nearest neighbour is itself
    sd = torch.load(ckpt)
    sd["transformer.norm.weight"], sd["transformer.norm.bias"] = torch.ones(256), torch.zeros(256)
    path = tmp_path / "unit.pth"
    torch.save(sd, path)
    img = _image()
    ext = make_extractor({**m["extractor"], "weights": str(path), "resize": [320, 240]})
    f = ext(img)
    matches = make_matcher(m["matcher"]).match(f, f)
    # With random weights the tokens are nearly parallel (self-similarity 256, the nearest other
    # token typically 2e-3 below it), so which of two near-identical tokens wins depends on the
    # rounding of the CPU's SIMD kernels and the thread count (another CPU self-matched 284 of
    # 299). What is guaranteed: a float32 dot product of d-dim vectors is within d * 2^-24 *
    # |a| |b| of the exact one in any summation order, so every match pairs tokens whose exact
    # similarity is within that bound of the best, and every token that beats all others by more
    # than the bound is matched to itself.
    d = f.descriptors.astype(np.float64)
    sim = d @ d.T
    self_sim = np.diag(sim).copy()
    tol = 2 * d.shape[1] * 2.0**-24 * self_sim.max()  # twice: two products are compared
    others = sim.copy()
    np.fill_diagonal(others, -np.inf)
    distinct = np.flatnonzero(self_sim - others.max(axis=1) > tol)
    assert len(distinct) >= 8, (len(distinct), len(f))  # not vacuous (here 16 of 299)
    partner = dict(matches.tolist())
    assert all(partner.get(i) == i for i in distinct.tolist())
    assert (sim[matches[:, 0], matches[:, 1]] >= self_sim[matches[:, 0]] - tol).all()
    self_matched = int((matches[:, 0] == matches[:, 1]).sum())
    for scorer in ("magsac", "ransac-24px"):
        conf = parse_method(f"transvpr+mnn+{scorer}")["scorer"]
        s = make_scorer(conf).score(f.keypoints[matches[:, 0]], f.keypoints[matches[:, 1]], f, f)
        assert s.inliers >= self_matched
        # the model is fitted to the inliers, and a near-identical token's match a patch away can
        # be one of them (another CPU: 286 of 287 matches, translation 0.04 px): what holds is
        # that the model moves every keypoint by well under a pixel, not that it equals eye(3)
        pts = np.c_[f.keypoints, np.ones(len(f.keypoints))] @ s.model.T
        moved = np.abs(pts[:, :2] / pts[:, 2:] - f.keypoints).max()
        assert moved < 0.5, moved


def test_global_preset(ckpt):
    from vgrerank.globaldesc.registry import get_global_preset, make_global

    conf = get_global_preset("transvpr-global")
    assert conf["tag"] == "transvpr-msls-global" and conf["resize"] == [640, 480]
    conf = {**conf, "weights": str(ckpt), "device": "cpu", "resize": [320, 240]}
    desc = make_global(conf).describe([_image(), _image()[:, ::-1]])
    ref = _extractor(ckpt, resize=[320, 240]).describe(_image())[0]
    assert desc.shape == (2, 256) and np.allclose(desc[0], ref, atol=1e-6)
