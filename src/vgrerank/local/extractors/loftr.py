"""LoFTR (Sun et al., "LoFTR: Detector-Free Local Feature Matching with Transformers", CVPR
2021) split for the cached-features design: kornia 0.9's own ``kornia.feature.LoFTR`` modules,
built with ``pretrained=None`` and loaded from a local checkpoint (never downloaded).

The extractor ``loftr`` caches what does not depend on the other image of a pair; the matcher
``loftr`` (:mod:`vgrerank.local.matchers.loftr`) runs the rest. The image is converted to
grayscale (OpenCV luma), resized (area) so that its longer side is at most ``resize_max`` and each
side is a multiple of 8 (rounded down, as the official demo does), which makes the 1/2-resolution
fine map exactly 4x4 fine cells per 1/8-resolution coarse cell. :class:`Features` then holds one
row per coarse cell, row-major (row ``y * wc + x`` of the hc x wc grid):

* ``keypoints``: the cell's point, LoFTR's ``8 (x, y)`` of the resized image in kornia's frame
  (minus 0.5: integer pixel centres) mapped to the original image, ``8 x * w / W - 0.5``;
* ``descriptors``, by ``cache``:
  - ``backbone``: the CNN's coarse feature (256, before the positional encoding) then the cell's
    4x4 block of fine features (row dy, column dx, 128 channels): 2304 values per cell. Stored
    as float16: about 22 MB per 640x480 image (36x the image mode), and the matcher sees
    features rounded to float16;
  - ``image``: the cell's 8x8 block of grayscale pixels / 255 (64 values, exact in float16):
    about 0.7 MB per 640x480 image; the matcher runs the backbone (once per query in
    ``match_many``), and gives bit-for-bit kornia's matches on the resized image;
* ``scores``: ones (LoFTR has no detector).

Weights: kornia's / the official checkpoint layout (``{'state_dict': {'matcher.<kornia key>':
...}}``; the prefix is optional), see :data:`vgrerank.local.torchload.EXTERNAL`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ...errors import ConfigError, DataError
from ...weights import load_checkpoint
from ..base import Extractor, Features
from ..torchbase import image_to_rgb, select_device
from ..torchload import load_strict, resolve_external
from .specs import SPECS

COARSE, FINE = 256, 128
BACKBONE_DIM, IMAGE_DIM = COARSE + 16 * FINE, 64
MODELS = ("outdoor", "indoor", "indoor_new")


def build_loftr(model: str, weights=None, sha256=None, threshold: float | None = None):
    """kornia's LoFTR (eval mode) with the user's checkpoint of ``model``, loaded strictly."""
    import copy

    from kornia.feature.loftr.loftr import LoFTR, default_cfg

    if model not in MODELS:
        raise ConfigError(f"loftr.model: {model!r} is not one of {', '.join(MODELS)}")
    path = resolve_external(f"loftr-{model}", weights, sha256)
    cfg = copy.deepcopy(default_cfg)
    cfg["coarse"]["temp_bug_fix"] = model == "indoor_new"  # as kornia does for that file
    if threshold is not None:
        cfg["match_coarse"]["thr"] = float(threshold)
    net = LoFTR(pretrained=None, config=cfg)
    ckpt = load_checkpoint(path)
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(sd, dict):
        raise DataError(f"{path}: expected a LoFTR checkpoint {{'state_dict': ...}}")
    sd = {k.removeprefix("matcher."): v for k, v in sd.items()}
    return load_strict(net, path, state_dict=sd).eval()


def work_gray(image: np.ndarray, resize_max: int | None) -> np.ndarray:
    """RGB uint8 -> grayscale uint8 [H, W] with H, W multiples of 8, longer side <= resize_max."""
    gray = cv2.cvtColor(image_to_rgb(image), cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    s = min(1.0, resize_max / max(h, w)) if resize_max else 1.0
    nw, nh = max(8, int(round(w * s)) // 8 * 8), max(8, int(round(h * s)) // 8 * 8)
    if (nh, nw) != (h, w):
        gray = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA)
    return gray


def to_rows(fmap: torch.Tensor, cell: int) -> torch.Tensor:
    """[C, cell * hc, cell * wc] -> [hc * wc, cell * cell * C] (per cell: dy, dx, channel)."""
    c, h, w = fmap.shape
    x = fmap.reshape(c, h // cell, cell, w // cell, cell).permute(1, 3, 2, 4, 0)
    return x.reshape((h // cell) * (w // cell), cell * cell * c)


def from_rows(rows: torch.Tensor, hc: int, wc: int, cell: int) -> torch.Tensor:
    """Inverse of :func:`to_rows`: [hc * wc, cell * cell * C] -> [1, C, cell * hc, cell * wc]."""
    x = rows.reshape(hc, wc, cell, cell, -1).permute(4, 0, 2, 1, 3)
    return x.reshape(1, -1, hc * cell, wc * cell)


def grid_keypoints(hc: int, wc: int, size: tuple[int, int]) -> np.ndarray:
    """Points of the hc x wc cells, row-major, in the pixels of the original (w, h) image."""
    ys, xs = np.mgrid[0:hc, 0:wc]
    sx, sy = size[0] / (8 * wc), size[1] / (8 * hc)
    return np.stack([8 * xs.ravel() * sx - 0.5, 8 * ys.ravel() * sy - 0.5], 1)


class LoFTR(Extractor):
    default_conf = SPECS["loftr"].default_conf()

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        if self.conf["cache"] not in ("backbone", "image"):
            raise ConfigError(f"loftr.cache: {self.conf['cache']!r} is not 'backbone' or 'image'")
        self.device = select_device(self.conf.get("device"))
        self.net = None
        if self.conf["cache"] == "backbone":
            c = self.conf
            self.net = build_loftr(c["model"], c.get("weights"), c.get("sha256")).to(self.device)

    def extract(self, image: np.ndarray) -> Features:
        h, w = np.asarray(image).shape[:2]
        gray = work_gray(image, self.conf.get("resize_max"))
        hc, wc = gray.shape[0] // 8, gray.shape[1] // 8
        t = torch.from_numpy(gray).float().div(255.0)[None, None].to(self.device)
        if self.net is None:
            desc = to_rows(t[0], 8)
        else:
            with torch.inference_mode():
                coarse, fine = self.net.backbone(t)
            desc = torch.cat([to_rows(coarse[0], 1), to_rows(fine[0], 4)], 1)
        desc = desc.float().cpu().numpy()
        return Features(grid_keypoints(hc, wc, (w, h)), desc, np.ones(len(desc)), (w, h))
