"""Patch-NetVLAD (Hausler et al., "Patch-NetVLAD: Multi-Scale Fusion of Locally-Global
Descriptors for Place Recognition", CVPR 2021), written here from the paper.

Network: VGG16 ``features`` up to conv5_3 (before its ReLU; torchvision layout, keys
``encoder.0`` .. ``encoder.28``), a NetVLAD layer (``pool.conv``: 1x1 soft-assignment conv,
``pool.centroids`` [K, 512]; input L2-normalised per position) and the whitening PCA of the
official checkpoints (``WPCA.0``: 1x1 conv K*512 -> ``num_pcs``, then L2). The image-level
NetVLAD sums the soft-assigned residuals over all positions; patch descriptors sum them over
``p x p`` windows (stride ``s``) of the conv5 map, read from its integral image (IntegralVLAD),
then intra-normalise, L2, project with the same WPCA and L2 again.

Features: all scales of one image in one :class:`Features`, scale after scale in the order of
``patch_sizes``, each scale's patches row-major. The extra ``patch_size`` (int64 [n]) holds each
patch's **patch size** (the scale id), which the ``pnv-*`` matcher and scorers use; ``scores``
are ones (Patch-NetVLAD has no detection score). Keypoints are patch centres: the centre of the receptive fields (VGG16 conv5: stride 16,
field 196, padding 90) of the window's corner cells, truncated to an integer pixel of the
network input as the reference does (``16 * j * s + 8 * (p - 1) + 7``), then mapped to the
original image.

Images are resized to ``resize`` (w, h; the reference: 640 x 480, PIL bilinear) or kept at
their size (None), and normalised with the ImageNet mean/std.

Official weights (MIT; never downloaded at run time; conf ``weights`` or
``$VGRERANK_WEIGHTS_DIR/patchnetvlad/<model>.pth.tar``), from the authors' README
(https://github.com/QVPR/Patch-NetVLAD), ``https://huggingface.co/TobiasRobotics/Patch-NetVLAD/
resolve/main/<file>`` with <file> ``mapillary_WPCA{128,512,4096}.pth.tar`` or
``pitts_WPCA{128,512,4096}.pth.tar`` (saved locally as ``pittsburgh_WPCA*.pth.tar``). A
checkpoint is ``{"state_dict": {encoder.*, pool.*, WPCA.*}, ...}``; it is loaded strictly.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ...errors import ConfigError, DataError
from ..base import Extractor, Features
from .specs import SPECS

HF_URL = "https://huggingface.co/TobiasRobotics/Patch-NetVLAD/resolve/main/{}.pth.tar"
_BILINEAR = Image.Resampling.BILINEAR  # as torchvision's Resize on PIL images
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class PatchNetVLADNet(nn.Module):
    """VGG16-conv5_3 + NetVLAD (+ IntegralVLAD patches) + WPCA, official module names."""

    def __init__(self, num_clusters=64, num_pcs=4096, patch_sizes=(2, 5, 8), strides=(1, 1, 1),
                 vladv2=False) -> None:  # fmt: skip
        super().__init__()
        from torchvision.models import vgg

        # torchvision's VGG16 ``features`` (conv1_1 .. conv5_3, without the last ReLU and pool)
        self.encoder = nn.Sequential(*list(vgg.make_layers(vgg.cfgs["D"]).children())[:-2])
        self.pool = nn.Module()
        self.pool.conv = nn.Conv2d(512, num_clusters, 1, bias=vladv2)
        self.pool.centroids = nn.Parameter(torch.rand(num_clusters, 512))
        self.WPCA = nn.Sequential(nn.Conv2d(512 * num_clusters, num_pcs, 1))
        self.patches = list(zip(patch_sizes, strides, strict=True))

    def project(self, v: torch.Tensor) -> torch.Tensor:
        """WPCA of VLAD vectors [n, K*C] -> [n, num_pcs], L2-normalised."""
        return F.normalize(self.WPCA(v[:, :, None, None]).flatten(1), dim=-1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``image`` [1, 3, H, W] (normalised) -> global [1, D], per scale [P_s, D]."""
        x = F.normalize(self.encoder(image), dim=1)
        n, c, h, w = x.shape
        k = self.pool.centroids.shape[0]
        assign = F.softmax(self.pool.conv(x), dim=1)  # [n, K, H, W]
        resid = x[:, None] - self.pool.centroids[None, :, :, None, None]
        resid = resid * assign[:, :, None]  # [n, K, C, H, W]
        glob = F.normalize(F.normalize(resid.sum(dim=(3, 4)), dim=2).flatten(1), dim=1)
        integral = F.pad(resid.view(n, k * c, h, w).cumsum(-1).cumsum(-2), (1, 0, 1, 0))
        local = []
        for p, s in self.patches:
            box = (integral[:, :, p::s, p::s] - integral[:, :, :-p:s, p::s]
                   - integral[:, :, p::s, :-p:s] + integral[:, :, :-p:s, :-p:s]) / p**2  # fmt: skip
            box = F.normalize(box.reshape(n, k, c, -1), dim=2).reshape(n, k * c, -1)
            box = F.normalize(box, dim=1)[0].T.contiguous()  # [P, K*C] (one image)
            local.append(self.project(box))
        return self.project(glob), local


def patch_centres(h: int, w: int, p: int, s: int) -> np.ndarray:
    """Centres (x, y) [P, 2] in network-input pixels of the p x p windows (stride s) of an
    h x w conv5 map, row-major."""
    rows, cols = np.arange(0, h - p + 1, s), np.arange(0, w - p + 1, s)
    off = 8 * (p - 1) + 7  # int(16 * i + (-90 + 16 * (p - 1) + 105) / 2): the reference's floor
    yy, xx = np.meshgrid(16 * rows + off, 16 * cols + off, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)


def load_weights(net: nn.Module, path: str | os.PathLike) -> None:
    """Load an official checkpoint (``{"state_dict": ...}`` or a bare state_dict) strictly."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"patchnetvlad weights: file {path} does not exist")
    from numpy._core.multiarray import scalar

    # numpy scalars (e.g. a stored best score) are the only non-tensor objects allowed
    allowed = [np.dtype, (scalar, "numpy.core.multiarray.scalar"), scalar, type(np.dtype("f8"))]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise DataError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict):
        raise DataError(f"{path}: not a Patch-NetVLAD checkpoint (no state_dict)")
    sd = {k.replace("module.", "", 1) if k.startswith("module.") else k: v for k, v in sd.items()}
    own = net.state_dict()
    problems = []
    for what, keys in (("missing", sorted(set(own) - set(sd))),
                       ("unexpected", sorted(set(sd) - set(own)))):  # fmt: skip
        if keys:
            problems.append(f"{what} keys ({len(keys)}): {', '.join(keys[:6])}")
    bad = [f"{k} {tuple(sd[k].shape)} (expected {tuple(v.shape)})"
           for k, v in own.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)]  # fmt: skip
    if bad:
        problems.append(f"shape mismatches ({len(bad)}): {', '.join(bad[:6])}")
    if problems:
        raise DataError(
            f"{path}: does not fit Patch-NetVLAD (num_clusters/num_pcs/vladv2?): "
            + "; ".join(problems)
        )
    net.load_state_dict(sd, strict=True)


class PatchNetVLAD(Extractor):
    default_conf = SPECS["patchnetvlad"].default_conf()

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        sizes, strides = list(self.conf["patch_sizes"]), list(self.conf["strides"])
        if not sizes or len(sizes) != len(strides) or len(set(sizes)) != len(sizes):
            raise ConfigError(
                f"patchnetvlad: patch_sizes {sizes} and strides {strides} must be non-empty, "
                "of equal length, with distinct patch sizes"
            )
        self._net = None

    def _weights_path(self) -> Path | None:
        if self.conf["weights"]:
            return Path(self.conf["weights"]).expanduser()
        root = os.environ.get("VGRERANK_WEIGHTS_DIR")
        name = self.conf["model"]
        if root and (Path(root) / "patchnetvlad" / f"{name}.pth.tar").is_file():
            return Path(root) / "patchnetvlad" / f"{name}.pth.tar"
        if self.conf["random_init"]:
            return None
        hf = name.replace("pittsburgh_", "pitts_")
        raise ConfigError(
            f"patchnetvlad: no weights for {name!r}; set the preset's 'weights' to the file or put "
            f"it at $VGRERANK_WEIGHTS_DIR/patchnetvlad/{name}.pth.tar (download: "
            f"{HF_URL.format(hf)}, MIT)"
        )

    @property
    def net(self) -> PatchNetVLADNet:
        if self._net is None:
            from ...device import resolve_device

            self.device = resolve_device(self.conf["device"])
            torch.manual_seed(int(self.conf["seed"]))
            c = self.conf
            net = PatchNetVLADNet(c["num_clusters"], c["num_pcs"], c["patch_sizes"],
                                  c["strides"], c["vladv2"])  # fmt: skip
            path = self._weights_path()
            if path is None:
                warnings.warn("Patch-NetVLAD with random weights: meaningless", stacklevel=2)
            else:
                load_weights(net, path)
            self._net = net.eval().to(self.device)
        return self._net

    def prepare(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 [H, W, 3] -> normalised [1, 3, h, w] at the network's input size."""
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if self.conf["resize"]:
            image = np.asarray(Image.fromarray(image).resize(tuple(self.conf["resize"]), _BILINEAR))
        x = torch.from_numpy(np.array(image, np.uint8)).permute(2, 0, 1).float().div(255)
        x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
        return x[None]

    @torch.inference_mode()
    def describe(self, image: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], tuple]:
        """Global NetVLAD+WPCA [D], per-scale patch descriptors [P_s, D] (float32) and the
        network input's (height, width)."""
        x = self.prepare(image)
        glob, local = self.net(x.to(self.device))
        out = [d.float().cpu().numpy() for d in local]
        return glob[0].float().cpu().numpy(), out, tuple(x.shape[2:])

    def keypoints(self, size: tuple[int, int], net_hw: tuple[int, int]) -> np.ndarray:
        """Patch centres [P, 2] of all scales in the original image (``size`` = (w, h)) for a
        network input of ``net_hw`` = (height, width)."""
        (w, h), (hi, wi) = size, net_hw
        scale = np.array([w / wi, h / hi])
        kpts = [patch_centres(hi // 16, wi // 16, p, s) for p, s in self.net.patches]
        return (np.concatenate(kpts) + 0.5) * scale - 0.5

    def extract(self, image: np.ndarray) -> Features:
        h, w = image.shape[:2]
        _, local, net_hw = self.describe(image)
        kpts = self.keypoints((w, h), net_hw)
        if len(kpts) != sum(len(d) for d in local):
            raise DataError(f"patchnetvlad: {len(kpts)} patch centres for {len(local)} scales")
        sizes = np.concatenate([np.full(len(d), p, np.int64)
                                for (p, _), d in zip(self.net.patches, local, strict=True)])  # fmt: skip
        return Features(kpts, np.concatenate(local), np.ones(len(kpts)), (w, h),
                        {"patch_size": sizes})  # fmt: skip
