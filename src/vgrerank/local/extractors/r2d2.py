"""R2D2 (Revaud et al., "R2D2: Repeatable and Reliable Detector and Descriptor", NeurIPS 2019),
written here from the paper's description.

Network (Quad_L2Net_ConfCFS): an L2-Net-like fully convolutional stack that keeps full
resolution by doubling the dilation where L2-Net strides (3x3 convs 32,32,64,64,128,128, each
BatchNorm without affine + ReLU, then three 2x2 convs of 128 replacing L2-Net's 8x8 one, the last
without BN/ReLU) -> 128-D descriptors (L2-normalised); from the squared features a 1x1 conv with
2 outputs + softmax gives the reliability, a 1x1 conv with 1 output + softplus/(1+softplus) the
repeatability. The "fast" variant (Fast_Quad_L2Net_ConfCFS) max-pools 2x after the third conv
and upsamples the output back bilinearly. Input: RGB in [0, 1] normalised with ImageNet mean/std.

Keypoints: 3x3 maxima of the repeatability with repeatability and reliability both >=
``threshold`` (0.7), scored by reliability * repeatability, the ``max_keypoints`` best.
Single scale by default (``multiscale: false``); ``multiscale: true`` runs R2D2's pyramid
(scale factor 2^0.25 from 1 down to ``min_size`` / longer side, at most ``max_size``) and
keeps the best ``max_keypoints`` over all scales.

Weights (CC BY-NC-SA 3.0, non-commercial; never shipped with vg-rerank): download from
https://github.com/naver/r2d2 (``models/r2d2_WASF_N16.pt`` etc.) and give the path with conf
``weights`` or put them at ``$VGRERANK_WEIGHTS_DIR/r2d2/<model>.pt``. The checkpoint is
``{'net': '<constructor string>', 'state_dict': {'module.<key>': ...}}``.
"""

from __future__ import annotations

import ast
import re

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, DataError
from ...weights import load_checkpoint, load_state_dict_strict
from ..torchbase import TorchExtractor
from .specs import SPECS

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class QuadL2Net(nn.Module):
    """Quad_L2Net_ConfCFS / Fast_Quad_L2Net_ConfCFS; ``ops`` indices follow the checkpoints."""

    def __init__(
        self,
        dim: int = 128,
        mchan: int = 4,
        relu22: bool = False,
        fast: bool = False,
        downsample_factor: int = 2,
    ) -> None:
        super().__init__()
        self.ops = nn.ModuleList()
        self._chan, self._dil = 3, 1
        self.fast = fast
        self._conv(8 * mchan)
        self._conv(8 * mchan)
        if fast:
            self._conv(16 * mchan, pool=downsample_factor)
        else:
            self._conv(16 * mchan, stride=2)
        self._conv(16 * mchan)
        self._conv(32 * mchan, stride=2)
        self._conv(32 * mchan)
        self._conv(32 * mchan, k=2, stride=2, relu=relu22)
        self._conv(32 * mchan, k=2, stride=2, relu=relu22)
        self._conv(dim, k=2, stride=2, bn=False, relu=False)
        if fast:
            self.ops.append(
                nn.Upsample(scale_factor=downsample_factor, mode="bilinear", align_corners=False)
            )
        self.clf = nn.Conv2d(dim, 2, 1)  # reliability
        self.sal = nn.Conv2d(dim, 1, 1)  # repeatability

    def _conv(
        self,
        out: int,
        k: int = 3,
        stride: int = 1,
        bn: bool = True,
        relu: bool = True,
        pool: int = 1,
    ):
        d = self._dil
        self.ops.append(nn.Conv2d(self._chan, out, k, padding=((k - 1) * d) // 2, dilation=d))
        self._dil *= stride  # dilated instead of strided: full resolution
        if bn:
            self.ops.append(nn.BatchNorm2d(out, affine=False))
        if relu:
            self.ops.append(nn.ReLU(inplace=True))
        if pool > 1:
            self.ops.append(nn.MaxPool2d(pool))
        self._chan = out

    def forward(self, x: torch.Tensor):
        for op in self.ops:
            x = op(x)
        rel = F.softmax(self.clf(x**2), dim=1)[:, 1:2]
        r = F.softplus(self.sal(x**2))
        rep = r / (1 + r)
        return F.normalize(x, p=2, dim=1), rel, rep


def parse_constructor(net: str, path) -> QuadL2Net:
    """Build the network from the checkpoint's constructor string without evaluating code."""
    m = re.fullmatch(r"\s*(\w+)\((.*)\)\s*", net or "")
    if not m:
        raise DataError(f"{path}: R2D2 checkpoint 'net' is not a constructor call: {net!r}")
    name, args = m.groups()
    kwargs = {}
    for part in filter(None, (p.strip() for p in args.split(","))):
        if "=" not in part:
            raise DataError(f"{path}: R2D2 constructor {net!r}: positional arguments not supported")
        key, val = (s.strip() for s in part.split("=", 1))
        try:
            kwargs[key] = ast.literal_eval(val)
        except (ValueError, SyntaxError) as e:
            raise DataError(f"{path}: R2D2 constructor {net!r}: bad value {val!r}") from e
    known = {"dim", "mchan", "relu22", "downsample_factor"}
    if set(kwargs) - known:
        raise DataError(
            f"{path}: R2D2 constructor {net!r}: unsupported arguments {set(kwargs) - known}"
        )
    if name == "Quad_L2Net_ConfCFS":
        kwargs.pop("downsample_factor", None)
        return QuadL2Net(**kwargs)
    if name == "Fast_Quad_L2Net_ConfCFS":
        return QuadL2Net(fast=True, **kwargs)
    raise DataError(
        f"{path}: R2D2 network {name!r} is not supported (Quad_L2Net_ConfCFS, Fast_Quad_L2Net_ConfCFS)"
    )


class _R2D2Net(nn.Module):
    def __init__(self, net: QuadL2Net, conf: dict) -> None:
        super().__init__()
        self.net = net
        self.conf = conf
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))

    def _one_scale(self, img: torch.Tensor):
        desc, rel, rep = self.net((img - self.mean) / self.std)
        th = float(self.conf["threshold"])
        maxima = rep == F.max_pool2d(rep, 3, stride=1, padding=1)
        maxima &= (rep >= th) & (rel >= th)
        _, _, y, x = maxima.nonzero(as_tuple=True)
        scores = (rel * rep)[0, 0, y, x]
        d = desc[0, :, y, x].t()
        return torch.stack([x, y], -1).float(), d, scores

    def forward(self, img: torch.Tensor):
        h, w = img.shape[-2:]
        if not self.conf["multiscale"]:
            k, d, s = self._one_scale(img)
        else:
            ks, ds, ss = [], [], []
            f = 2**0.25
            lo = max(float(self.conf["min_scale"]), self.conf["min_size"] / max(h, w))
            hi = min(float(self.conf["max_scale"]), self.conf["max_size"] / max(h, w))
            s, cur = 1.0, img
            while s + 0.001 >= lo:
                if s - 0.001 <= hi:
                    nh, nw = cur.shape[-2:]
                    k, d, sc = self._one_scale(cur)
                    ks.append(k * k.new_tensor([w / nw, h / nh]))
                    ds.append(d)
                    ss.append(sc)
                s /= f
                nh, nw = round(h * s), round(w * s)
                cur = F.interpolate(img, (nh, nw), mode="bilinear", align_corners=False)
            k, d, s = torch.cat(ks), torch.cat(ds), torch.cat(ss)
        top = torch.argsort(s, descending=True)[: int(self.conf["max_keypoints"])]
        return k[top], d[top], s[top]


class R2D2(TorchExtractor):
    default_conf = SPECS["r2d2"].default_conf()

    def _build(self) -> nn.Module:
        model = self.conf["model"]
        path = self._weights_path(model)
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict) or "net" not in ckpt or "state_dict" not in ckpt:
            raise DataError(
                f"{path}: not an R2D2 checkpoint (expected keys 'net' and 'state_dict')"
            )
        if not isinstance(ckpt["net"], str):
            raise ConfigError(f"{path}: R2D2 checkpoint 'net' must be a string")
        net = parse_constructor(ckpt["net"], path)
        sd = {k.removeprefix("module."): v for k, v in ckpt["state_dict"].items()}
        load_state_dict_strict(net, sd, path)
        return _R2D2Net(net, self.conf)

    def _detect(self, img):
        return self.net(img)
