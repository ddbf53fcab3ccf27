"""D2-Net (Dusmanu et al., "D2-Net: A Trainable CNN for Joint Detection and Description of Local
Features", CVPR 2019), written here after the authors' test-time model (mihaidusmanu/d2-net,
master: ``lib/model_test.py``, ``lib/pyramid.py``, ``extract_features.py``).

* Network: VGG16 up to conv4_3 (module names of the official ``DenseFeatureExtractionModule``:
  ``dense_feature_extraction.model.N``), the third pooling an average pool of size 2 with stride
  1 and conv4_1..conv4_3 dilated by 2 (feature map at 1/4 resolution), ReLU on the output
  (``use_relu``); input in Caffe order (BGR, mean pixel subtracted, 0..255).
* Hard detection: a feature-map point (c, i, j) is a keypoint when channel c is the largest at
  (i, j) (channel-wise max), (i, j) is a 3x3 local maximum of channel c, and the 2x2 Hessian of
  channel c passes the edge test tr^2/det <= (t+1)^2/t, det > 0 (t = 5).
* Localisation: one Newton step from the finite-difference gradient and Hessian; points moving
  by 0.5 cells or more are dropped; descriptors are the bilinear interpolation of the 512
  channels at the refined point, L2-normalised; position in pixels ``4 p + 1.5``.
* Multi-scale (``multiscale``): scales 0.5, 1, 2 of the image (bilinear, corners aligned); the
  feature map of each scale is summed with the upsampled maps of the coarser ones, a pixel
  detected at a coarser scale is banned at the finer ones, score = accumulated activation /
  number of scales so far. Single-scale: scale 1 only, score = activation.

Keypoints are sorted by score and capped at ``max_keypoints``. Weights: the official ``d2_tf.pth``
(``{'model': state_dict}``), see :data:`vgrerank.local.torchload.EXTERNAL`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import DataError
from ...weights import load_checkpoint
from ..torchbase import TorchExtractor
from ..torchload import load_strict, resolve_external
from .specs import SPECS

_MEAN_BGR = (103.939, 116.779, 123.68)
# VGG16 to conv4_3: (in, out, dilation) of each conv, 'M' max pool 2/2, 'A' avg pool 2/1
_LAYERS = [(3, 64, 1), (64, 64, 1), "M", (64, 128, 1), (128, 128, 1), "M", (128, 256, 1)]
_LAYERS += [(256, 256, 1), (256, 256, 1), "A", (256, 512, 2), (512, 512, 2), (512, 512, 2)]
EDGE_THRESHOLD = 5.0


class _Dense(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for layer in _LAYERS:
            if layer == "M":
                mods.append(nn.MaxPool2d(2, stride=2))
            elif layer == "A":
                mods.append(nn.AvgPool2d(2, stride=1))
            else:
                cin, cout, dil = layer
                mods += [nn.Conv2d(cin, cout, 3, padding=dil, dilation=dil), nn.ReLU()]
        self.model = nn.Sequential(*mods[:-1])  # no ReLU after conv4_3 inside the Sequential

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.model(x))


class D2NetModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense_feature_extraction = _Dense()


def detect(dense: torch.Tensor, banned: torch.Tensor | None = None):
    """Hard detections of ``dense`` [c, h, w] (non-negative) with their Newton steps.

    Returns (chan, i, j) int64 [n] and the step (di, dj) [n, 2] of the points that pass the
    channel-wise max, 3x3 local max and edge tests (and are not ``banned`` [h, w])."""
    is_dmax = dense == dense.max(0, keepdim=True).values
    is_lmax = dense == F.max_pool2d(dense[None], 3, stride=1, padding=1)[0]
    # a point at 0 that is a local max has a flat zero neighbourhood: det = 0, never detected
    c, i, j = torch.nonzero(is_dmax & is_lmax & (dense > 0), as_tuple=True)
    if banned is not None:
        keep = ~banned[i, j]
        c, i, j = c[keep], i[keep], j[keep]
    pad = F.pad(dense, (1, 1, 1, 1))  # the finite differences see zeros outside
    p = [[pad[c, i + a, j + b] for b in range(3)] for a in range(3)]
    di, dj = 0.5 * (p[2][1] - p[0][1]), 0.5 * (p[1][2] - p[1][0])
    dii, djj = p[0][1] - 2 * p[1][1] + p[2][1], p[1][0] - 2 * p[1][1] + p[1][2]
    dij = 0.25 * (p[0][0] - p[0][2] - p[2][0] + p[2][2])
    det, tr = dii * djj - dij * dij, dii + djj
    ok = (tr * tr / det <= (EDGE_THRESHOLD + 1) ** 2 / EDGE_THRESHOLD) & (det > 0)
    step_i = -(djj * di - dij * dj) / det
    step_j = -(-dij * di + dii * dj) / det
    step = torch.stack([step_i, step_j], -1)
    return c[ok], i[ok], j[ok], step[ok]


def bilinear(dense: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Descriptors [n, c] of ``dense`` [c, h, w] at feature-map points ``pos`` [n, 2] (i, j),
    for the points whose four neighbours are inside the map (mask [n])."""
    _, h, w = dense.shape
    lo, hi = pos.floor().long(), pos.ceil().long()
    valid = (lo >= 0).all(1) & (hi[:, 0] < h) & (hi[:, 1] < w)
    lo, hi, pos = lo[valid], hi[valid], pos[valid]
    fi, fj = (pos - lo.float()).unbind(1)
    out = (
        ((1 - fi) * (1 - fj))[:, None] * dense[:, lo[:, 0], lo[:, 1]].t()
        + ((1 - fi) * fj)[:, None] * dense[:, lo[:, 0], hi[:, 1]].t()
        + (fi * (1 - fj))[:, None] * dense[:, hi[:, 0], lo[:, 1]].t()
        + (fi * fj)[:, None] * dense[:, hi[:, 0], hi[:, 1]].t()
    )
    return out, valid


def process(net: D2NetModel, image: torch.Tensor, scales=(0.5, 1.0, 2.0)):
    """``image`` [1, 3, H, W] preprocessed -> keypoints [n, 2] (x, y) px of the image, 512-D
    L2-normalised descriptors [n, 512], scores [n] (in order of scale, unsorted)."""
    h0, w0 = image.shape[-2:]
    kpts, descs, scores = [], [], []
    previous = banned = None
    for idx, scale in enumerate(scales):
        img = image
        if scale != 1:
            img = F.interpolate(image, scale_factor=scale, mode="bilinear", align_corners=True)
        hl, wl = img.shape[-2:]
        dense = net.dense_feature_extraction(img)[0]
        h, w = dense.shape[-2:]
        if previous is not None:
            dense = (
                dense
                + F.interpolate(previous[None], size=(h, w), mode="bilinear", align_corners=True)[0]
            )
        if banned is not None:
            banned = F.interpolate(banned[None, None].float(), size=(h, w))[0, 0] > 0
        c, i, j, step = detect(dense, banned)
        fresh = torch.zeros(h, w, dtype=torch.bool, device=dense.device)
        fresh[i, j] = True
        banned = fresh if banned is None else banned | fresh
        small = (step.abs() < 0.5).all(1)
        c, i, j, step = c[small], i[small], j[small], step[small]
        pos = torch.stack([i, j], 1).float() + step
        desc, valid = bilinear(dense, pos)
        previous = dense
        pos = pos[valid] * 4 + 1.5  # two 2x poolings: p -> 2 p + 0.5, twice
        xy = torch.stack([pos[:, 1] * (w0 / wl), pos[:, 0] * (h0 / hl)], 1)
        kpts.append(xy)
        descs.append(F.normalize(desc, dim=1))
        scores.append(dense[c[valid], i[valid], j[valid]] / (idx + 1))
    return torch.cat(kpts), torch.cat(descs), torch.cat(scores)


def load_d2net(path) -> D2NetModel:
    ckpt = load_checkpoint(path)
    sd = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else ckpt
    if not isinstance(sd, dict):
        raise DataError(f"{path}: expected the official {{'model': state_dict}} of D2-Net")
    return load_strict(D2NetModel(), path, state_dict=sd)


class D2Net(TorchExtractor):
    """D2-Net keypoints and 512-D descriptors; ``multiscale`` True: scales 0.5, 1, 2."""

    default_conf = SPECS["d2net"].default_conf()

    def _build(self) -> nn.Module:
        path = resolve_external("d2net-tf", self.conf.get("weights"), self.conf.get("sha256"))
        return load_d2net(path)

    def _detect(self, img: torch.Tensor):
        mean = img.new_tensor(_MEAN_BGR).view(1, 3, 1, 1)
        caffe = img.flip(1) * 255.0 - mean  # RGB [0, 1] -> BGR 0..255 minus the mean pixel
        scales = (0.5, 1.0, 2.0) if self.conf["multiscale"] else (1.0,)
        kpts, desc, scores = process(self.net, caffe, scales)
        k = int(self.conf["max_keypoints"])
        if len(scores) > k:
            scores, idx = torch.topk(scores, k)
            kpts, desc = kpts[idx], desc[idx]
        return kpts, desc, scores
