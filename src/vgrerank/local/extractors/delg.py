"""DELG (Cao, Araujo, Sim, "Unifying Deep Local and Global Features for Image Search", ECCV
2020), written here from the paper and the Apache-2.0 TensorFlow release (tensorflow/models,
``research/delf``: ``training/model/{resnet50,delf_model,delg_model}.py``,
``export_model_utils.py``, ``delg/r50delg_gld_config.pbtxt``). No PyTorch port of the official
weights exists (feymanpriv/DELG is a re-trained variant without the autoencoder), so the layout
here mirrors the Keras *attribute* paths of the TF model, i.e. the keys of its object-based
checkpoint: ``backbone.{conv1,bn_conv1}``, ``backbone.l{2a..5c}.{conv2a,bn2a,conv2b,bn2b,conv2c,
bn2c[,conv_shortcut,bn_shortcut]}``, ``backbone.embedding_layer``, ``attention.{conv1,bn_conv1,
conv2}``, ``autoencoder.{conv1,conv2}`` (386 tensors). :func:`convert_tf_variables` maps the TF
variables (``[prefix/]backbone/l2a/conv2a/kernel[/.ATTRIBUTES/VARIABLE_VALUE]``) to it.

Network (Keras ResNet50 v1: stride on the first 1x1 conv of a block, convs with bias,
BatchNorm eps 1e-3, TF 'same' padding): block3 (conv4, 1024 ch) is subsampled by 2 (stride 32,
``block3_strides``) and feeds layer 5 and the local head; global = GeM (p = 3) of block4 ->
``embedding_layer`` (2048 FC whitening); local = ``autoencoder.conv1`` (1024 -> 128, the
descriptor), ``relu(autoencoder.conv2)`` (128 -> 1024) -> attention (1x1 conv 512, BN, ReLU,
1x1 conv 1, softplus). Input RGB (x - 128) / 128, each pyramid level resized bilinearly to
``round(side * scale)``. Keypoint of cell (i, j): the receptive-field centre (32 j, 32 i) / scale.
Extraction keeps cells with attention >= ``score_threshold`` over the ``scales``, non-maximum
suppression of receptive boxes at ``iou`` (official 1.0: none), the ``max_keypoints`` best by
attention, L2-normalised. Global: per ``global_scales`` level L2-normalised, summed,
L2-normalised. ``output: rrt`` adds what the Reranking Transformer needs as named extras
(:func:`rrt_features`): ``global`` (float32 [2048]) and ``scale`` (float32 [n], the DELG
feature scale 1 / image scale of each keypoint row).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, DataError
from ...imageio import resize_max
from ..base import Features
from ..torchbase import TorchExtractor, image_to_rgb
from ..torchload import load_strict, resolve_external
from .specs import SPECS

# model -> (torchload.EXTERNAL name, official score_threshold of its config)
MODELS = {"r50-gld": ("delg-r50-gld", 175.0), "r50-gldv2clean": ("delg-r50-gldv2clean", 454.6)}
RF, STRIDE, PAD, EPS = 291.0, 32.0, 145.0, 1e-3
GLOBAL_DIM, LOCAL_DIM = 2048, 128
_STAGES = {"2": ("abc", 64), "3": ("abcd", 128), "4": ("abcdef", 256), "5": ("abc", 512)}
CONVERSION = (
    "convert the TF SavedModel once with `python -m vgrerank.local.extractors.delg "
    "<unpacked folder> <out.pth>` (needs tensorflow)"
)


def _same(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """TensorFlow 'same' padding (the extra row/column goes bottom/right)."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _Block(nn.Module):
    def __init__(self, cin: int, mid: int, stride: int, shortcut: bool) -> None:
        super().__init__()
        self.conv2a, self.bn2a = nn.Conv2d(cin, mid, 1, stride), nn.BatchNorm2d(mid, EPS)
        self.conv2b, self.bn2b = nn.Conv2d(mid, mid, 3), nn.BatchNorm2d(mid, EPS)
        self.conv2c, self.bn2c = nn.Conv2d(mid, 4 * mid, 1), nn.BatchNorm2d(4 * mid, EPS)
        if shortcut:
            self.conv_shortcut = nn.Conv2d(cin, 4 * mid, 1, stride)
            self.bn_shortcut = nn.BatchNorm2d(4 * mid, EPS)

    def forward(self, x):
        y = F.relu(self.bn2a(self.conv2a(x)))
        y = F.relu(self.bn2b(self.conv2b(_same(y, 3, 1))))
        y = self.bn2c(self.conv2c(y))
        short = self.bn_shortcut(self.conv_shortcut(x)) if hasattr(self, "conv_shortcut") else x
        return F.relu(y + short)


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn_conv1 = nn.Conv2d(3, 64, 7, 2), nn.BatchNorm2d(64, EPS)
        cin = 64
        for stage, (blocks, mid) in _STAGES.items():
            for b in blocks:
                stride = 2 if b == "a" and stage in "34" else 1
                setattr(self, f"l{stage}{b}", _Block(cin, mid, stride, b == "a"))
                cin = 4 * mid
        self.embedding_layer = nn.Linear(GLOBAL_DIM, GLOBAL_DIM)

    def forward(self, x, with_block4: bool = True):
        """x [b, 3, H, W] normalised -> (block3 [b, 1024, h, w] at stride 32, global [b, 2048]
        before L2 normalisation, or None)."""
        x = F.max_pool2d(F.relu(self.bn_conv1(self.conv1(_same(x, 7, 2)))), 3, 2)
        for stage in "234":
            for b in _STAGES[stage][0]:
                x = getattr(self, f"l{stage}{b}")(x)
        block3 = x[:, :, ::2, ::2]  # the 1x1 max pooling with stride 2 of block3_strides
        if not with_block4:
            return block3, None
        x = block3
        for b in _STAGES["5"][0]:
            x = getattr(self, f"l5{b}")(x)
        gem = x.clamp(min=1e-6).pow(3.0).mean((2, 3)).pow(1.0 / 3.0)
        return block3, self.embedding_layer(gem)


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn_conv1 = nn.Conv2d(1024, 512, 1), nn.BatchNorm2d(512, EPS)
        self.conv2 = nn.Conv2d(512, 1, 1)


class _Autoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1024, LOCAL_DIM, 1), nn.Conv2d(LOCAL_DIM, 1024, 1)


class DELGNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone, self.attention, self.autoencoder = _Backbone(), _Attention(), _Autoencoder()

    def local(self, block3):
        """block3 -> (attention [b, h, w], descriptors [b, 128, h, w] not normalised)."""
        desc = self.autoencoder.conv1(block3)
        a = self.attention
        x = F.relu(a.bn_conv1(a.conv1(F.relu(self.autoencoder.conv2(desc)))))
        return F.softplus(a.conv2(x))[:, 0], desc


_TF_SUFFIX = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
              "moving_mean": "running_mean", "moving_variance": "running_var"}  # fmt: skip


def convert_tf_variables(variables: dict) -> tuple[dict, list[str]]:
    """TF variables {name: array} of a DELG checkpoint -> (state_dict of :class:`DELGNet`,
    skipped names). Names are object paths ``[prefix/]<backbone|attention|autoencoder>/.../
    <kernel|bias|gamma|beta|moving_mean|moving_variance>[/.ATTRIBUTES/VARIABLE_VALUE]``; conv
    kernels HWIO -> OIHW, dense kernels [in, out] -> [out, in]. Other variables (classifiers,
    optimizer slots, counters) are skipped and listed."""
    out, skipped = {}, []
    for name, value in variables.items():
        parts = name.replace("/.ATTRIBUTES/VARIABLE_VALUE", "").split("/")
        heads = [i for i, p in enumerate(parts) if p in ("backbone", "attention", "autoencoder")]
        if not heads or parts[-1] not in _TF_SUFFIX or ".OPTIMIZER_SLOT" in parts:
            skipped.append(name)
            continue
        t = torch.as_tensor(np.asarray(value, dtype=np.float32))
        if parts[-1] == "kernel":
            t = t.permute(3, 2, 0, 1) if t.ndim == 4 else t.t()
        out[".".join([*parts[heads[0] : -1], _TF_SUFFIX[parts[-1]]])] = t.contiguous()
    return out, skipped


def rrt_features(f: Features, feature_scales, global_desc) -> Features:
    """``f`` (rows in attention order) with the extras of the Reranking Transformer: ``global``
    (float32 [2048]) and ``scale`` (float32 [n]: DELG feature scale 1 / image scale of each row,
    as the DELF feature files store it)."""
    extras = {
        **f.extras,
        "global": np.asarray(global_desc, np.float32).reshape(GLOBAL_DIM),
        "scale": np.asarray(feature_scales, np.float32).reshape(len(f)),
    }
    return Features(f.keypoints, f.descriptors, f.scores, f.size, extras)


def rrt_inputs(f: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local descriptors [n, 128], feature scales [n], global descriptor [2048]) of
    :func:`rrt_features` features; DataError when ``f`` lacks them."""
    what = (
        "not DELG features for RRT (extractor type 'delg' with output: rrt, e.g. preset 'delg-rrt')"
    )
    g, scales = f.extra("global", what), f.extra("scale", what)
    if (
        f.descriptors.shape[1] != LOCAL_DIM
        or g.shape != (GLOBAL_DIM,)
        or scales.shape != (len(f),)
        or (scales <= 0).any()
    ):
        raise DataError(
            f"features ({len(f)} x {f.descriptors.shape[1]}, global {g.shape}, scale "
            f"{scales.shape}) are {what}"
        )
    return f.descriptors, scales, g


class DELG(TorchExtractor):
    default_conf = SPECS["delg"].default_conf()

    def __init__(self, conf: dict | None = None) -> None:
        conf = {**self.default_conf, **(conf or {})}
        if conf["model"] not in MODELS:
            raise ConfigError(f"delg.model: {conf['model']!r} is not one of {sorted(MODELS)}")
        if conf["output"] not in ("local", "rrt"):
            raise ConfigError(f"delg.output: {conf['output']!r} is not 'local' or 'rrt'")
        super().__init__(conf)

    def _build(self) -> nn.Module:
        name = MODELS[self.conf["model"]][0]
        try:
            path = resolve_external(name, self.conf.get("weights"), self.conf.get("sha256"))
        except (ConfigError, DataError) as exc:
            raise type(exc)(f"{exc}; {CONVERSION}") from exc
        return load_strict(DELGNet(), path)

    def _threshold(self) -> float:
        thr = self.conf["score_threshold"]
        return MODELS[self.conf["model"]][1] if thr is None else float(thr)

    def extract_all(self, image: np.ndarray, local: bool = True):
        """(local Features in the pixels of ``image`` or None, their DELG feature scales
        1 / image scale or None, global descriptor [2048])."""
        image = image_to_rgb(image)
        h, w = image.shape[:2]
        small, _ = resize_max(image, self.conf.get("resize_max"))
        sh, sw = small.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray(small)).to(self.device)
        x = (x.permute(2, 0, 1)[None].float() - 128.0) / 128.0
        lscales = [float(s) for s in self.conf["scales"]] if local else []
        gscales = [float(s) for s in self.conf["global_scales"]]
        boxes, descs, fscales, atts, globals_ = [], [], [], [], []
        with torch.inference_mode():
            for s in sorted(set(lscales) | set(gscales)):
                size = (max(1, round(sh * s)), max(1, round(sw * s)))
                xs = x if size == (sh, sw) else F.interpolate(x, size, mode="bilinear")
                block3, g = self.net.backbone(xs, with_block4=s in gscales)
                if g is not None:
                    globals_.append(F.normalize(g[0], dim=0))
                if s not in lscales:
                    continue
                att, desc = self.net.local(block3)
                ys, xs_ = torch.nonzero(att[0] >= self._threshold(), as_tuple=True)
                c = torch.stack([xs_, ys], -1).float() * STRIDE  # receptive-field centres
                boxes.append(torch.cat([c - PAD, c - PAD + RF - 1], 1) / s)
                descs.append(desc[0][:, ys, xs_].t())
                fscales.append(torch.full((len(ys),), 1.0 / s, device=x.device))
                atts.append(att[0, ys, xs_])
            gdesc = F.normalize(torch.stack(globals_).sum(0), dim=0).cpu().numpy()
            if not local:
                return None, None, gdesc
            boxes, att = torch.cat(boxes), torch.cat(atts)
            if float(self.conf["iou"]) < 1.0:
                from torchvision.ops import nms

                keep = nms(boxes, att, float(self.conf["iou"]))
            else:
                keep = torch.sort(att, descending=True, stable=True).indices
            keep = keep[: int(self.conf["max_keypoints"])]
            kp = ((boxes[keep, :2] + boxes[keep, 2:]) / 2).cpu().numpy()
            desc = F.normalize(torch.cat(descs)[keep], dim=1).cpu().numpy()
            fs, att = torch.cat(fscales)[keep].cpu().numpy(), att[keep].cpu().numpy()
        kp = np.clip(kp * np.array([w / sw, h / sh], np.float32), 0, [w - 1, h - 1])
        return Features(kp, desc, att, (w, h)), fs, gdesc

    def extract(self, image: np.ndarray) -> Features:
        f, fs, g = self.extract_all(image)
        if self.conf["output"] == "rrt":  # rows stay in attention order
            return rrt_features(f, fs, g)
        return f


def _convert_main(argv: list[str]) -> None:  # pragma: no cover - needs tensorflow
    import tensorflow as tf

    src, dst = argv
    reader = tf.train.load_checkpoint(f"{src.rstrip('/')}/variables/variables")
    names = reader.get_variable_to_shape_map()
    sd, skipped = convert_tf_variables({n: reader.get_tensor(n) for n in names})
    load_strict(DELGNet(), dst, state_dict=sd)  # fails with the offending keys listed
    torch.save(sd, dst)
    print(f"{dst}: {len(sd)} tensors ({len(skipped)} TF variables skipped)")


if __name__ == "__main__":  # pragma: no cover
    _convert_main(sys.argv[1:])
