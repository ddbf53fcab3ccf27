"""SuperPoint (DeTone, Malisiewicz, Rabinovich, "SuperPoint: Self-Supervised Interest Point
Detection and Description", CVPRW 2018), written here from the paper; kornia has no SuperPoint.

Network: a VGG-style shared encoder on the grayscale image (four stages of two 3x3 conv + ReLU,
2x2 max pooling between them: 1/8 resolution, 128 channels), then two heads:

* detector: 3x3 conv (256) + 1x1 conv to 65 channels per 8x8 cell (64 pixel positions + one
  "no keypoint" dustbin), softmax over the 65, dustbin dropped, cells unfolded to a full
  resolution heat map (channel ``8 * dy + dx``: pixel shuffle), non-maximum suppression,
  ``remove_borders`` pixels dropped, points above ``keypoint_threshold``, the ``max_keypoints``
  best;
* descriptor: 3x3 conv (256) + 1x1 conv to 256 channels, L2-normalised, sampled bilinearly at
  the keypoints (the cell-centre convention of the official release) and L2-normalised again.

Module names are those of the official checkpoint (``conv1a`` ... ``conv4b``, ``convPa``,
``convPb``, ``convDa``, ``convDb``), loaded with ``strict=True``. Weights: ``superpoint_v1.pth``
(see :data:`vgrerank.local.torchload.EXTERNAL`: official URL, non-commercial research licence),
given with conf ``weights`` or at ``$VGRERANK_WEIGHTS_DIR/superglue/superpoint_v1.pth``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..torchbase import TorchExtractor
from ..torchload import load_strict, resolve_external
from .specs import SPECS

_CHANNELS = (64, 64, 128, 128, 256)


def _nms(heat: torch.Tensor, radius: int) -> torch.Tensor:
    """Keep the local maxima of ``heat`` [b, h, w] in a (2r+1)^2 window, zero elsewhere; two
    rounds let maxima hidden by a suppressed neighbour's window come back."""
    if radius <= 0:
        return heat

    def pool(x):
        return F.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius)

    keep = heat == pool(heat)
    for _ in range(2):
        covered = pool(keep.float()) > 0
        rest = heat.masked_fill(covered, 0)
        keep = keep | ((rest == pool(rest)) & ~covered)
    return heat * keep


def cells_to_heat(prob: torch.Tensor) -> torch.Tensor:
    """[b, 64, hc, wc] cell probabilities -> [b, 8 hc, 8 wc] heat map; channel ``8 * dy + dx``
    is the pixel at row ``8 * i + dy``, column ``8 * j + dx`` of cell (i, j)."""
    return F.pixel_shuffle(prob, 8)[:, 0]


class SuperPointNet(nn.Module):
    def __init__(self, descriptor_dim: int = 256) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = _CHANNELS
        stages = {"1": (1, c1), "2": (c1, c2), "3": (c2, c3), "4": (c3, c4)}
        for s, (cin, cout) in stages.items():
            setattr(self, f"conv{s}a", nn.Conv2d(cin, cout, 3, padding=1))
            setattr(self, f"conv{s}b", nn.Conv2d(cout, cout, 3, padding=1))
        self.convPa = nn.Conv2d(c4, c5, 3, padding=1)
        self.convPb = nn.Conv2d(c5, 65, 1)
        self.convDa = nn.Conv2d(c4, c5, 3, padding=1)
        self.convDb = nn.Conv2d(c5, descriptor_dim, 1)

    def dense(self, gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gray [b, 1, H, W] in [0, 1], H and W multiples of 8 -> (heat [b, H, W], desc
        [b, D, H/8, W/8] L2-normalised)."""
        x = gray
        for s in "1234":
            x = F.relu(getattr(self, f"conv{s}a")(x))
            x = F.relu(getattr(self, f"conv{s}b")(x))
            if s != "4":
                x = F.max_pool2d(x, 2, 2)
        prob = F.softmax(self.convPb(F.relu(self.convPa(x))), dim=1)[:, :64]
        heat = cells_to_heat(prob)
        desc = F.normalize(self.convDb(F.relu(self.convDa(x))), p=2, dim=1)
        return heat, desc


def sample_descriptors(kpts: torch.Tensor, desc: torch.Tensor, cell: int = 8) -> torch.Tensor:
    """Bilinear descriptors [n, D] at pixel ``kpts`` [n, 2] (x, y) from the cell grid ``desc``
    [1, D, hc, wc], with the official release's mapping (cell centres, corners aligned)."""
    _, d, hc, wc = desc.shape
    if len(kpts) == 0:
        return desc.new_zeros((0, d))
    span = kpts.new_tensor([wc * cell - cell / 2 - 0.5, hc * cell - cell / 2 - 0.5])
    grid = (kpts - cell / 2 + 0.5) / span * 2 - 1
    out = F.grid_sample(desc, grid.view(1, 1, -1, 2), mode="bilinear", align_corners=True)
    return F.normalize(out.reshape(d, -1).t(), p=2, dim=1)


class SuperPoint(TorchExtractor):
    """SuperPoint keypoints (``max_keypoints`` best above ``keypoint_threshold``) and 256-D
    descriptors on the grayscale image (ITU-R 601 luma of the RGB input, as OpenCV's)."""

    default_conf = SPECS["superpoint"].default_conf()

    def _build(self) -> nn.Module:
        net = SuperPointNet()
        path = resolve_external("superpoint", self.conf.get("weights"), self.conf.get("sha256"))
        return load_strict(net, path)

    def _detect(self, img: torch.Tensor):
        gray = (img * img.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
        h, w = gray.shape[-2:]
        gray = F.pad(gray, (0, (-w) % 8, 0, (-h) % 8))
        heat, desc = self.net.dense(gray)
        heat = _nms(heat[:, :h, :w], int(self.conf["nms_radius"]))[0]
        b = int(self.conf["remove_borders"])
        if b > 0:
            inner = torch.zeros_like(heat, dtype=torch.bool)
            inner[b : h - b, b : w - b] = True
            heat = heat * inner
        ys, xs = torch.nonzero(heat > float(self.conf["keypoint_threshold"]), as_tuple=True)
        scores = heat[ys, xs]
        k = int(self.conf["max_keypoints"])
        if len(scores) > k:
            scores, idx = torch.topk(scores, k)
            ys, xs = ys[idx], xs[idx]
        kpts = torch.stack([xs, ys], -1).float()
        return kpts, sample_descriptors(kpts, desc), scores
