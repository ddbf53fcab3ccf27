"""CVNet extractor (Lee et al., CVPR 2022): the global descriptor and the dense maps that the
correlation verification (scorer ``cvnet``, :mod:`vgrerank.local.scorers.cvnet`) needs, cached
once per image. Network: :mod:`vgrerank.local.extractors.cvnet_net` (official key names).

Input as the official test code: BGR, / 255, normalised with the ImageNet mean/std in BGR order,
the image's own size (official) or its longer side capped at ``resize_max`` (OpenCV area
resize; CPU presets: 512). Global descriptor: per ``global_scales`` (official 0.7071, 1, 1.4142;
OpenCV area resize below 1, bilinear above) the L2-normalised GeM + FC output, averaged and
L2-normalised (2048-D). Dense maps (scale 1 only, as the official re-ranking): the ``s3`` map
before its last ReLU, resized to the three scales and projected by ``conv2ds`` (both
per-image, so cached here; the official applies them in the pair step, same result).

:class:`Features` layout (:func:`pack_cvnet` / :func:`unpack_cvnet`): the three projected maps
(256-D rows; scale 0.25, 0.5, 1 in turn, each row-major), ``scores`` = the scale, keypoints =
the cells' approximate centres (stride 16) in the original pixels; then
:data:`GLOBAL_ROWS` rows holding the global descriptor (keypoints (-1, -depth), scores 0).
Sizes (float16 cache): ``(1.75 h w + 8) * 256 * 2`` bytes for an ``h x w`` map (stride 16):
0.7 MB at 512 x 384, 2.8 MB at 1024 x 768; the verification cost grows with ``(h w)^2``.
Weights: ``CVPR2022_CVNet_R{50,101}.pyth`` (``{'model_state': ...}``), see
:data:`vgrerank.local.torchload.EXTERNAL`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...device import resolve_device
from ...errors import ConfigError, DataError
from ...imageio import resize_max
from ..base import Extractor, Features
from ..torchbase import image_to_rgb
from ..torchload import load_strict, resolve_external
from ..weights import load_checkpoint
from .cvnet_net import GLOBAL_DIM, PROJ_DIM, SCALES, CVNetRerank, scale_size

GLOBAL_ROWS = GLOBAL_DIM // PROJ_DIM
MEAN_BGR, STD_BGR = (0.406, 0.456, 0.485), (0.225, 0.224, 0.229)


def load_cvnet(depth: int, weights=None, sha256=None) -> CVNetRerank:
    """``CVNet_Rerank`` of ``depth`` with the official checkpoint, loaded strictly."""
    if depth not in (50, 101):
        raise ConfigError(f"cvnet.depth: {depth!r} is not 50 or 101")
    path = resolve_external(f"cvnet-r{depth}", weights, sha256)
    obj = load_checkpoint(path)
    sd = obj.get("model_state", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict):
        raise DataError(f"{path}: not a CVNet checkpoint (expected {{'model_state': ...}})")
    return load_strict(CVNetRerank(depth), path, state_dict=sd).eval()


def pack_cvnet(maps, glob, depth, size, net_hw) -> Features:
    """Features of the projected ``maps`` ([256, h_s, w_s] per scale) and the global ``glob``."""
    (w, h), (hn, wn) = size, net_hw
    hd, wd = maps[-1].shape[-2:]
    kpts, desc, scores = [], [], []
    for s, m in zip(SCALES, maps, strict=True):
        hs, ws = m.shape[-2:]
        ys = np.arange(hs) * ((hd - 1) / (hs - 1) if hs > 1 else 0)  # corners aligned
        xs = np.arange(ws) * ((wd - 1) / (ws - 1) if ws > 1 else 0)
        yy, xx = np.meshgrid(16 * ys + 8, 16 * xs + 8, indexing="ij")
        kpts.append(np.stack([xx.ravel() * w / wn, yy.ravel() * h / hn], 1) - 0.5)
        desc.append(m.reshape(PROJ_DIM, -1).T)
        scores.append(np.full(hs * ws, s))
    kpts.append(np.tile([-1.0, -float(depth)], (GLOBAL_ROWS, 1)))
    desc.append(np.asarray(glob, np.float32).reshape(GLOBAL_ROWS, PROJ_DIM))
    scores.append(np.zeros(GLOBAL_ROWS))
    return Features(np.concatenate(kpts), np.concatenate(desc), np.concatenate(scores), size)


def unpack_cvnet(f: Features) -> tuple[list[np.ndarray], np.ndarray, int]:
    """(projected maps [256, h_s, w_s] per scale, global [2048], depth) of :func:`pack_cvnet`
    features; DataError when ``f`` is not in that layout."""
    n = len(f) - GLOBAL_ROWS
    ok = n > 0 and f.descriptors.shape[1] == PROJ_DIM and not f.scores[n:].any()
    maps = []
    for s in SCALES if ok else ():
        rows = np.flatnonzero(f.scores[:n] == np.float32(s))
        kp = f.keypoints[rows]
        w = int((kp[:, 1] == kp[0, 1]).sum()) if len(rows) else 0
        if not w or len(rows) % w:
            ok = False
            break
        maps.append(f.descriptors[rows].T.reshape(PROJ_DIM, len(rows) // w, w))
    if not ok or sum(m.shape[1] * m.shape[2] for m in maps) != n:
        raise DataError(
            f"features ({len(f)} x {f.descriptors.shape[1]}) are not CVNet features "
            "(extractor type 'cvnet', e.g. preset 'cvnet')"
        )
    return maps, f.descriptors[n:].reshape(-1), int(round(-f.keypoints[n, 1]))


class CVNet(Extractor):
    default_conf = {
        "depth": 50,
        "resize_max": 512,  # None: the image's own size (official)
        "global_scales": [0.70710677, 1.0, 1.4142135],
        "device": "auto",
        "weights": None,
        "sha256": None,
    }

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self.device = resolve_device(self.conf["device"])
        net = load_cvnet(self.conf["depth"], self.conf.get("weights"), self.conf.get("sha256"))
        del net.cv_learner  # the pair step runs in the scorer
        self.net = net.to(self.device)

    def _tensor(self, bgr: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(bgr)).to(self.device).permute(2, 0, 1)
        x = x[None].float() / 255
        return (x - x.new_tensor(MEAN_BGR).view(1, 3, 1, 1)) / x.new_tensor(STD_BGR).view(
            1, 3, 1, 1
        )

    @torch.inference_mode()
    def describe(self, image: np.ndarray, dense: bool = True):
        """(global [2048] L2, projected maps per scale (None when not ``dense``), input (h, w))."""
        bgr = resize_max(image_to_rgb(image), self.conf["resize_max"])[0][:, :, ::-1]
        h, w = bgr.shape[:2]
        descs, maps = [], None
        scales = [float(s) for s in self.conf["global_scales"]]
        for s in sorted(set(scales) | ({1.0} if dense else set())):
            im = bgr
            if s != 1.0:
                inter = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
                size = (max(1, round(w * s)), max(1, round(h * s)))
                im = cv2.resize(bgr, size, interpolation=inter)
            g, d = self.net.encoder_q(self._tensor(im), head=s in scales)
            if s in scales:
                descs.append(F.normalize(g, dim=1))
            if s == 1.0 and dense:
                if min(scale_size(*d.shape[-2:], SCALES[0])) < 1:
                    raise DataError(f"cvnet: image {w}x{h} too small for the 0.25 scale map")
                maps = [m[0].float().cpu().numpy() for m in self.net.project(d)]
        glob = F.normalize(torch.cat(descs).mean(0), dim=0).float().cpu().numpy()
        return glob, maps, (h, w)

    def extract(self, image: np.ndarray) -> Features:
        h, w = image.shape[:2]
        glob, maps, net_hw = self.describe(image)
        return pack_cvnet(maps, glob, self.conf["depth"], (w, h), net_hw)
