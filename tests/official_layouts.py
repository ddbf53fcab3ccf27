"""Random checkpoints in the official key layouts of the study's networks, for the unit tests
of each network and for the workflow test of the study methods (imported by the test modules as
``from official_layouts import ...``; not a test module itself).

Each layout is written out from the official model code as the independent reference:
CVNet from sungonce/CVNet (``model/resnet.py``, ``model/CVNet_Rerank_model.py``,
``model/CVlearner.py``); D2-Net from mihaidusmanu/d2-net (``lib/model_test.py``); DELG from the
Keras attribute names of tensorflow/models ``research/delf/delf/python/training/model/
{resnet50,delf_model}.py``; RRT from uvavision/RerankingTransformer ``RRT_GLD/models/
{matcher,transformer,ingredient}.py``; SuperPoint and SuperGlue from
magicleap/SuperGluePretrainedNetwork (``models/superpoint.py``, ``models/superglue.py``);
TransVPR from RuotongWANG/TransVPR-model-implementation (``feature_extractor.py``,
``blocks.py``, ``inference.py``). The test modules' docstrings describe each layout further.
"""

from __future__ import annotations

import numpy as np
import torch


def _bn(p: str, c: int) -> dict:
    keys = {f"{p}.{n}": (c,) for n in ("weight", "bias", "running_mean", "running_var")}
    return {**keys, f"{p}.num_batches_tracked": ()}


# ---------------------------------------------------------------- CVNet
def cvnet_keys(depth: int = 50) -> dict:
    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    e = "encoder_q"
    keys = {f"{e}.stem.conv.weight": (64, 3, 7, 7), **_bn(f"{e}.stem.bn", 64)}
    w_in = 64
    for s, (d, w_out, w_b) in enumerate(zip(blocks, (256, 512, 1024, 2048), (64, 128, 256, 512),
                                            strict=True), 1):  # fmt: skip
        for b in range(1, d + 1):
            p = f"{e}.s{s}.b{b}"
            if b == 1:
                keys.update({f"{p}.proj.weight": (w_out, w_in, 1, 1), **_bn(f"{p}.bn", w_out)})
            keys.update({f"{p}.f.a.weight": (w_b, w_in if b == 1 else w_out, 1, 1)})
            keys.update(_bn(f"{p}.f.a_bn", w_b))
            keys.update({f"{p}.f.b.weight": (w_b, w_b, 3, 3), **_bn(f"{p}.f.b_bn", w_b)})
            keys.update({f"{p}.f.c.weight": (w_out, w_b, 1, 1), **_bn(f"{p}.f.c_bn", w_out)})
        w_in = w_out
    keys.update({f"{e}.head.pool.p": (1,), f"{e}.head.fc.weight": (2048, 2048)})
    keys[f"{e}.head.fc.bias"] = (2048,)
    keys.update({f"conv2ds.{i}.weight": (256, 1024, 3, 3) for i in range(3)})
    layers = {1: [(9, 16, 5)], 2: [(16, 16, 3), (16, 32, 3)],
              3: [(32, 32, 3), (32, 32, 3), (32, 64, 3)], 4: [(64, 64, 3), (64, 64, 3), (64, 128, 3)]}  # fmt: skip
    for blk, convs in layers.items():
        for i, (cin, cout, k) in enumerate(convs):
            p = f"cv_learner.block{blk}"
            for c in ("conv1", "conv2"):
                keys.update({f"{p}.{3 * i}.{c}.weight": (cout, cin, k, k)})
                keys[f"{p}.{3 * i}.{c}.bias"] = (cout,)
            keys.update({f"{p}.{3 * i + 1}.weight": (cout,), f"{p}.{3 * i + 1}.bias": (cout,)})
    keys.update({"cv_learner.mlp.0.weight": (128, 128), "cv_learner.mlp.0.bias": (128,)})
    keys.update({"cv_learner.mlp.2.weight": (2, 128), "cv_learner.mlp.2.bias": (2,)})
    return keys


def cvnet_state_dict(depth: int = 50, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in cvnet_keys(depth).items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(shape, generator=g)
        elif k.endswith("pool.p"):
            sd[k] = torch.tensor([3.0])
        elif len(shape) == 1 and (k.endswith("weight") and ("bn" in k or "learner.block" in k)):
            sd[k] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            sd[k] = torch.randn(shape, generator=g) / fan_in**0.5 * (0.2 if "c_bn" in k else 1)
    return sd


# ---------------------------------------------------------------- D2-Net
# Sequential index -> (out, in) of each 3x3 conv of VGG16 up to conv4_3
D2NET_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256)}
D2NET_CONVS.update({14: (256, 256), 17: (512, 256), 19: (512, 512), 21: (512, 512)})
D2NET_KEYS = {
    f"dense_feature_extraction.model.{i}.{p}": ((o, c, 3, 3) if p == "weight" else (o,))
    for i, (o, c) in D2NET_CONVS.items()
    for p in ("weight", "bias")
}


def d2net_state_dict(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(s, generator=g) * ((2 / np.prod(s[1:])) ** 0.5 if len(s) > 1 else 0.01)
        for k, s in D2NET_KEYS.items()
    }


# ---------------------------------------------------------------- DELG and RRT
def _conv(p, o, i, k):
    return {f"{p}.weight": (o, i, k, k), f"{p}.bias": (o,)}


def delg_keys() -> dict:
    keys = {**_conv("backbone.conv1", 64, 3, 7), **_bn("backbone.bn_conv1", 64)}
    cin = 64
    for stage, blocks, mid in (("2", "abc", 64), ("3", "abcd", 128), ("4", "abcdef", 256),
                               ("5", "abc", 512)):  # fmt: skip
        for b in blocks:
            p = f"backbone.l{stage}{b}"
            keys.update({**_conv(f"{p}.conv2a", mid, cin, 1), **_bn(f"{p}.bn2a", mid)})
            keys.update({**_conv(f"{p}.conv2b", mid, mid, 3), **_bn(f"{p}.bn2b", mid)})
            keys.update({**_conv(f"{p}.conv2c", 4 * mid, mid, 1), **_bn(f"{p}.bn2c", 4 * mid)})
            if b == "a":
                keys.update(_conv(f"{p}.conv_shortcut", 4 * mid, cin, 1))
                keys.update(_bn(f"{p}.bn_shortcut", 4 * mid))
            cin = 4 * mid
    keys.update({"backbone.embedding_layer.weight": (2048, 2048)})
    keys.update({"backbone.embedding_layer.bias": (2048,)})
    keys.update({**_conv("attention.conv1", 512, 1024, 1), **_bn("attention.bn_conv1", 512)})
    keys.update(_conv("attention.conv2", 1, 512, 1))
    keys.update({**_conv("autoencoder.conv1", 128, 1024, 1)})
    keys.update({**_conv("autoencoder.conv2", 1024, 128, 1)})
    return keys


RRT_KEYS = {
    **{
        f"encoder.layers.{i}.{k}": s
        for i in range(6)
        for k, s in {
            "self_attn.in_proj_weight": (384, 128),
            "self_attn.in_proj_bias": (384,),
            "self_attn.out_proj.weight": (128, 128),
            "self_attn.out_proj.bias": (128,),
            "linear1.weight": (1024, 128),
            "linear1.bias": (1024,),
            "linear2.weight": (128, 1024),
            "linear2.bias": (128,),
            "norm1.weight": (128,),
            "norm1.bias": (128,),
            "norm2.weight": (128,),
            "norm2.bias": (128,),
        }.items()
    },
    "remap.weight": (128, 2048),
    "remap.bias": (128,),
    "scale_encoder.weight": (7, 128),
    "seg_encoder.weight": (6, 128),
    "classifier.weight": (1, 128),
    "classifier.bias": (1,),
}


def random_state_dict(keys: dict, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in keys.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(shape, generator=g)
        elif k.endswith("running_mean") or (k.endswith(".bias") and "norm" not in k):
            sd[k] = 0.05 * torch.randn(shape, generator=g)
        elif len(shape) == 1:  # BatchNorm / LayerNorm scales
            sd[k] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:]))
            sd[k] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
    return sd


def delg_state_dict(seed: int = 0) -> dict:
    """Random DELG weights with activations of order 1 (residual branches damped, attention
    logits centred near 0) so that the attention scores spread."""
    sd = random_state_dict(delg_keys(), seed)
    for k in sd:
        if k.endswith(".bn2c.weight"):
            sd[k] = 0.2 * sd[k]
    sd["attention.conv2.bias"] = torch.tensor([12.0])
    return sd


# ---------------------------------------------------------------- SuperPoint and SuperGlue
# SuperPoint: name -> (out, in, kernel) of each Conv2d (weight [out, in, k, k], bias [out])
SUPERPOINT_CONVS = {
    "conv1a": (64, 1, 3),
    "conv1b": (64, 64, 3),
    "conv2a": (64, 64, 3),
    "conv2b": (64, 64, 3),
    "conv3a": (128, 64, 3),
    "conv3b": (128, 128, 3),
    "conv4a": (128, 128, 3),
    "conv4b": (128, 128, 3),
    "convPa": (256, 128, 3),
    "convPb": (65, 256, 1),
    "convDa": (256, 128, 3),
    "convDb": (256, 256, 1),
}
SUPERPOINT_KEYS = {
    f"{name}.{p}": ((o, i, k, k) if p == "weight" else (o,))
    for name, (o, i, k) in SUPERPOINT_CONVS.items()
    for p in ("weight", "bias")
}


def _conv1d(prefix: str, cout: int, cin: int) -> dict:
    return {f"{prefix}.weight": (cout, cin, 1), f"{prefix}.bias": (cout,)}


# SuperGlue (outdoor and indoor share it): keypoint MLP 3-32-64-128-256-256 (Sequential of
# Conv1d, BatchNorm1d, ReLU: convs at 0, 3, 6, 9, 12, norms at 1, 4, 7, 10), 18 GNN layers
# (attention merge + 3 projections 256x256, MLP 512-512-256: conv 0, norm 1, conv 3),
# final_proj 256x256 and a scalar bin_score.
SUPERGLUE_KEYS = {
    **_conv1d("kenc.encoder.0", 32, 3),
    **_bn("kenc.encoder.1", 32),
    **_conv1d("kenc.encoder.3", 64, 32),
    **_bn("kenc.encoder.4", 64),
    **_conv1d("kenc.encoder.6", 128, 64),
    **_bn("kenc.encoder.7", 128),
    **_conv1d("kenc.encoder.9", 256, 128),
    **_bn("kenc.encoder.10", 256),
    **_conv1d("kenc.encoder.12", 256, 256),
    **{
        k: v
        for n in range(18)
        for k, v in {
            **_conv1d(f"gnn.layers.{n}.attn.merge", 256, 256),
            **_conv1d(f"gnn.layers.{n}.attn.proj.0", 256, 256),
            **_conv1d(f"gnn.layers.{n}.attn.proj.1", 256, 256),
            **_conv1d(f"gnn.layers.{n}.attn.proj.2", 256, 256),
            **_conv1d(f"gnn.layers.{n}.mlp.0", 512, 512),
            **_bn(f"gnn.layers.{n}.mlp.1", 512),
            **_conv1d(f"gnn.layers.{n}.mlp.3", 256, 512),
        }.items()
    },
    **_conv1d("final_proj", 256, 256),
    "bin_score": (),
}


def spsg_state_dict(keys: dict, seed: int = 0, counters: bool = True) -> dict:
    """Random tensors in the official layout (small weights, positive running variances)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in keys.items():
        if k.endswith("num_batches_tracked"):
            if counters:
                sd[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            sd[k] = 1 + torch.rand(shape, generator=g)
        elif k == "bin_score":
            sd[k] = torch.tensor(1.0)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            sd[k] = torch.randn(shape, generator=g) / fan_in**0.5
    return sd


# ---------------------------------------------------------------- TransVPR
def _lin(p: str, o: int, i: int, bias: bool = True) -> dict:
    return {f"{p}.weight": (o, i), **({f"{p}.bias": (o,)} if bias else {})}


# conv<i>: Sequential(Conv2d 3x3 + bias, BatchNorm2d, ReLU, MaxPool); tokenizer<i>.conv_layer:
# Conv2d(C_i, 64, kernel = stride = 8 / 4 / 2 / 1); transformer blocks: pre_norm, self_attn.qkv
# (no bias), self_attn.proj, linear1 (256 -> 512), norm1, linear2; POOL: fc = Sequential(L2Norm,
# Linear(768, 256), L2Norm), attention_pool Linear(768, 3)
TRANSVPR_KEYS: dict = {}
for _i, (_cin, _c, _k) in enumerate(((3, 64, 8), (64, 128, 4), (128, 256, 2), (256, 512, 1)), 1):
    TRANSVPR_KEYS.update(
        {f"conv{_i}.0.weight": (_c, _cin, 3, 3), f"conv{_i}.0.bias": (_c,)},
        **_bn(f"conv{_i}.1", _c),
        **{f"tokenizer{_i}.conv_layer.weight": (64, _c, _k, _k)},
        **{f"tokenizer{_i}.conv_layer.bias": (64,)},
    )
TRANSVPR_KEYS["transformer.class_emb"] = (1, 1, 256)
for _b in range(6):
    _p = f"transformer.blocks.{_b}"
    for _n in ("pre_norm", "norm1"):
        TRANSVPR_KEYS.update({f"{_p}.{_n}.weight": (256,), f"{_p}.{_n}.bias": (256,)})
    TRANSVPR_KEYS.update(_lin(f"{_p}.self_attn.qkv", 768, 256, bias=False))
    TRANSVPR_KEYS.update(_lin(f"{_p}.self_attn.proj", 256, 256))
    TRANSVPR_KEYS.update(_lin(f"{_p}.linear1", 512, 256))
    TRANSVPR_KEYS.update(_lin(f"{_p}.linear2", 256, 512))
TRANSVPR_KEYS.update({"transformer.norm.weight": (256,), "transformer.norm.bias": (256,)})
TRANSVPR_KEYS.update(_lin("pool.fc.1", 256, 768))
TRANSVPR_KEYS.update(_lin("pool.attention_pool", 3, 768))


def transvpr_state_dict(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in TRANSVPR_KEYS.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(shape, generator=g)
        elif k.endswith(("norm.weight", "norm1.weight", ".1.weight")) and len(shape) == 1:
            sd[k] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            sd[k] = torch.randn(shape, generator=g) / fan_in**0.5
    return sd
