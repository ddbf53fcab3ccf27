"""Train CosPlace (Berton et al., CVPR 2022) on ``@UTM`` images: classification of UTM cells x
heading bins (:mod:`.cosplace_groups`) with a large margin cosine loss (CosFace), one group of
classes per epoch, each group with its own classifier head (as the official ``train.py``).

The network is :func:`.cosplace.build_network` (torchvision ResNet, GeM, FC, L2), trained from
random weights (the ResNets have no ImageNet file offline); the checkpoint is its plain
``state_dict`` in the official key layout, written atomically, so :func:`.cosplace.load_checkpoint`
loads it strictly like a downloaded ``ResNet18_512_cosplace.pth``. A pretrained timm backbone
(``backbone`` in :data:`.cosplace.TIMM_BACKBONES`) starts from its ImageNet weights, with its
stem and first ``freeze`` blocks frozen (no gradient, batch norm in eval mode); with
``cache_frozen`` their output is computed once per image (at ``image_size``, uncropped, in fp16)
and the random crop is taken in that feature map instead (``jitter`` then unused), so an
iteration runs only the trained blocks. Its checkpoint is
``{"arch": ..., "state_dict": ...}`` (the arch also in the summary), loaded strictly as well. A batch holds one random image
of each of ``batch_size`` distinct classes of the epoch's group, randomly cropped (scale
``crop_scale``..1) and brightness/contrast-jittered; the model and the heads use Adam. Everything
random comes from ``seed``: on one machine with one thread the same conf gives the same bytes.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..backbones import feature_map_from, trunk
from ..errors import ConfigError
from ..imageio import load_image
from ..io import atomic_path
from .cosplace import FEATURES_DIM, TIMM_BACKBONES, build_network, normalisation
from .cosplace_groups import list_images, make_groups

DEFAULTS = {
    "M": 10.0, "alpha": 45.0, "N": 3, "L": 2, "s": 30.0, "m": 0.4,
    "backbone": "resnet18", "fc_dim": 512, "image_size": [128, 96],
    "batch_size": 32, "epochs": 8, "iterations_per_epoch": 25, "groups_num": None,
    "min_images_per_class": 4, "lr": 1e-3, "classifiers_lr": 1e-2, "crop_scale": 0.7,
    "jitter": 0.3, "seed": 0, "freeze": 0, "cache_frozen": False,
}  # fmt: skip
_POSITIVE = ("M", "alpha", "s", "lr", "classifiers_lr")
_COUNTS = ("N", "L", "fc_dim", "batch_size", "epochs", "iterations_per_epoch")


def check_conf(conf: dict | None, key: str = "cosplace_train") -> dict:
    """Defaults merged with ``conf``; :class:`ConfigError` names ``<key>.<param>``."""
    conf = {**DEFAULTS, **(conf or {})}
    for name in _POSITIVE:
        v = conf[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise ConfigError(f"{key}.{name}={v!r}: must be a positive number")
    for name in _COUNTS + ("min_images_per_class",):
        v = conf[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{key}.{name}={v!r}: must be a positive integer")
    known = sorted(FEATURES_DIM) + sorted(TIMM_BACKBONES)
    if conf["backbone"] not in known:
        raise ConfigError(f"{key}.backbone={conf['backbone']!r}: not one of {known}")
    f = conf["freeze"]
    if isinstance(f, bool) or not isinstance(f, int) or f < 0:
        raise ConfigError(f"{key}.freeze={f!r}: must be an integer >= 0")
    if f and conf["backbone"] not in TIMM_BACKBONES:
        raise ConfigError(f"{key}.freeze={f}: only for the pretrained {sorted(TIMM_BACKBONES)}")
    if conf["cache_frozen"] not in (True, False) or (conf["cache_frozen"] and not f):
        raise ConfigError(f"{key}.cache_frozen={conf['cache_frozen']!r}: a boolean; needs freeze")
    if not 0 <= conf["m"] < 1 or not 0 < conf["crop_scale"] <= 1 or not 0 <= conf["jitter"] < 1:
        raise ConfigError(f"{key}: m must be in [0, 1), crop_scale in (0, 1], jitter in [0, 1)")
    size = conf["image_size"]
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(int(v) >= 16 for v in size)):
        raise ConfigError(f"{key}.image_size={size!r}: expected [width, height], each >= 16")
    return conf


def cosface_logits(x, weight, labels, s: float, m: float):
    """Large margin cosine logits: ``s * (cos(x, w_j) - m [j == label])``."""
    import torch.nn.functional as F

    cos = F.normalize(x, dim=1) @ F.normalize(weight, dim=1).t()
    return s * (cos - m * F.one_hot(labels, cos.shape[1]).to(cos.dtype)), cos


def frozen_modules(net, backbone: str, freeze: int) -> list:
    """The modules ``freeze`` leaves untrained: a timm backbone's stem and first blocks."""
    if backbone not in TIMM_BACKBONES or not freeze:
        return []
    b = net.backbone
    if freeze > len(b.blocks):
        raise ConfigError(f"cosplace_train.freeze={freeze}: {backbone} has {len(b.blocks)} blocks")
    return [b.conv_stem, b.bn1, *b.blocks[:freeze]]


def _train_mode(net, frozen) -> None:
    net.train()
    for mod in frozen:
        mod.eval()


def _head(net, freeze: int, x):
    """The rest of ``net`` from the trunk's output (:func:`vgrerank.backbones.trunk`): later
    blocks, conv head, aggregation."""
    return net.aggregation(feature_map_from(net.backbone, freeze, x))


def _feature_batch(root, names, cache, size, rng, conf, net, device):
    """Cached trunk outputs of ``names`` (computed for the new ones), one random crop per batch
    size, each at its own random offset."""
    import torch

    new = [n for n in dict.fromkeys(names) if n not in cache]
    if new:
        plain = {**conf, "crop_scale": 1.0, "jitter": 0.0}
        x = torch.from_numpy(_batch(root, new, {}, size, rng, plain)).to(device)
        with torch.no_grad():
            f = trunk(net.backbone, conf["freeze"], x).half().cpu()
        cache.update(zip(new, f, strict=True))
    h, w = cache[names[0]].shape[1:]
    sc = np.sqrt(rng.uniform(conf["crop_scale"], 1.0))
    ch, cw = max(1, round(h * sc)), max(1, round(w * sc))
    crops = []
    for n in names:
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crops.append(cache[n][:, y : y + ch, x : x + cw])
    return torch.stack(crops).float().to(device)


def _batch(root, names, cache, size, rng, conf):
    """Images (uint8, cached) -> random crop, resize to ``size``, jitter -> normalised NCHW."""
    out = np.empty((len(names), size[1], size[0], 3), np.float32)
    for i, name in enumerate(names):
        if name not in cache:
            img = load_image(Path(root) / name)
            cache[name] = cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)
        img = cache[name]
        sc = np.sqrt(rng.uniform(conf["crop_scale"], 1.0))
        h, w = max(1, round(img.shape[0] * sc)), max(1, round(img.shape[1] * sc))
        y, x = rng.integers(0, img.shape[0] - h + 1), rng.integers(0, img.shape[1] - w + 1)
        crop = cv2.resize(img[y : y + h, x : x + w], tuple(size), interpolation=cv2.INTER_LINEAR)
        b, c = 1 + rng.uniform(-conf["jitter"], conf["jitter"], 2)
        f = crop.astype(np.float32) / 255.0
        out[i] = np.clip((f - f.mean()) * c + f.mean() * b, 0, 1)
    mean, std = normalisation(conf["backbone"])
    out = (out - np.float32(mean)) / np.float32(std)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def train_cosplace(
    root, out, conf: dict | None = None, *, device="cpu", progress: bool = True
) -> dict:
    """Train on the ``@UTM`` images under ``root`` (on torch ``device``); write the CPU
    state_dict to ``out`` and the training summary to ``out`` with suffix ``.json``."""
    import torch

    conf = check_conf(conf)
    root, out = Path(root), Path(out)
    names = list_images(root)
    if not names:
        raise ConfigError(f"cosplace_train: no images under {root}")
    grp = make_groups(
        names, conf["M"], conf["alpha"], conf["N"], conf["L"],
        conf["min_images_per_class"], conf["groups_num"], root=root,
    )  # fmt: skip
    torch.manual_seed(conf["seed"])
    timm_backbone = conf["backbone"] in TIMM_BACKBONES
    net = build_network(conf["backbone"], conf["fc_dim"], pretrained=timm_backbone).to(device)
    frozen = frozen_modules(net, conf["backbone"], conf["freeze"])
    for mod in frozen:
        mod.requires_grad_(False)
    _train_mode(net, frozen)
    init = [torch.nn.init.xavier_uniform_(torch.empty(len(g), conf["fc_dim"])) for g in grp.groups]
    heads = [torch.nn.Parameter(w.to(device)) for w in init]
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=conf["lr"])
    head_opts = [torch.optim.Adam([w], lr=conf["classifiers_lr"]) for w in heads]
    size, cache, epochs, t0 = [int(v) for v in conf["image_size"]], {}, [], time.time()
    for epoch in range(conf["epochs"]):
        g = epoch % len(grp.groups)
        classes = grp.groups[g]
        rng = np.random.default_rng([conf["seed"], epoch])
        bs, order, losses, correct, seen = min(conf["batch_size"], len(classes)), [], [], 0, 0
        for _ in tqdm(range(conf["iterations_per_epoch"]), desc=f"cosplace epoch {epoch} group {g}",
                      disable=not progress, mininterval=2):  # fmt: skip
            if len(order) < bs:
                order = list(rng.permutation(len(classes)))
            idx, order = order[:bs], order[bs:]
            files = [grp.images[classes[i]][rng.integers(len(grp.images[classes[i]]))] for i in idx]
            if conf["cache_frozen"]:
                x = _feature_batch(root, files, cache, size, rng, conf, net, device)
                desc = _head(net, conf["freeze"], x)
            else:
                desc = net(torch.from_numpy(_batch(root, files, cache, size, rng, conf)).to(device))
            y = torch.tensor([int(i) for i in idx], device=device)
            logits, cos = cosface_logits(desc, heads[g], y, conf["s"], conf["m"])
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            head_opts[g].zero_grad()
            loss.backward()
            opt.step()
            head_opts[g].step()
            losses.append(float(loss.detach()))
            correct, seen = correct + int((cos.argmax(1) == y).sum()), seen + len(idx)
        epochs.append({"epoch": epoch, "group": g, "classes": len(classes),
                       "loss": float(np.mean(losses)), "accuracy": correct / seen,
                       "first_loss": losses[0], "last_loss": losses[-1],
                       "seconds": round(time.time() - t0, 1)})  # fmt: skip
        print(f"epoch {epoch} group {g} ({len(classes)} classes): loss {epochs[-1]['loss']:.4f} "
              f"accuracy {epochs[-1]['accuracy']:.3f}", flush=True)  # fmt: skip
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    arch = {"backbone": conf["backbone"], "fc_output_dim": conf["fc_dim"]}
    buf = io.BytesIO()  # not the temporary file: torch.save names its zip folder after it
    torch.save({"arch": arch, "state_dict": state} if timm_backbone else state, buf)
    with atomic_path(out) as tmp:
        tmp.write_bytes(buf.getvalue())
    summary = {"checkpoint": out.name, "arch": arch, "root": str(root), "conf": conf,
               "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad),
               "epochs": epochs,
               "iterations": conf["epochs"] * conf["iterations_per_epoch"],
               "train_seconds": round(time.time() - t0, 1), "threads": torch.get_num_threads(),
               "images_total": len(names), **grp.summary()}  # fmt: skip
    with atomic_path(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str))
    return summary
