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

:class:`Features` layout (:func:`cvnet_features` / :func:`cvnet_inputs`): keypoint rows are
the scale-1 cells (row-major; keypoints = the cells' approximate centres, stride 16, in the
original pixels; no descriptor columns, scores 1), for the matcher's diagnostic pairs; the
extras hold what the scorer needs: ``map_0.25``, ``map_0.5``, ``map_1`` (the projected maps,
float16 [256, h_s, w_s]: the cache's precision, in memory too), ``global`` (float32 [2048]) and
``depth`` (int64, the extractor's depth, checked by the scorer). Cache size per image: ``1.75 h w
* 256 * 2`` bytes for an ``h x w`` map (stride 16) plus 8 KiB: 0.7 MB at 512 x 384, 2.8 MB at
1024 x 768; the verification cost grows with ``(h w)^2``.
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
from ...weights import load_checkpoint
from ..base import Extractor, Features
from ..torchbase import image_to_rgb
from ..torchload import load_strict, resolve_external
from .cvnet_net import GLOBAL_DIM, PROJ_DIM, SCALES, CVNetRerank, scale_size
from .specs import SPECS

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


def map_name(scale: float) -> str:
    """Name of the extra holding the projected map of ``scale`` (``map_0.25`` .. ``map_1``)."""
    return f"map_{scale:g}"


def cvnet_features(maps, glob, depth, size, net_hw) -> Features:
    """Features of the projected ``maps`` ([256, h_s, w_s] per scale of :data:`SCALES`) and the
    global ``glob`` [2048] of an image of ``size`` (w, h) seen at ``net_hw`` (h, w)."""
    (w, h), (hn, wn) = size, net_hw
    hd, wd = maps[-1].shape[-2:]
    yy, xx = np.meshgrid(16 * np.arange(hd) + 8, 16 * np.arange(wd) + 8, indexing="ij")
    kpts = np.stack([xx.ravel() * w / wn, yy.ravel() * h / hn], 1) - 0.5
    extras = {map_name(s): np.asarray(m, np.float16) for s, m in zip(SCALES, maps, strict=True)}
    extras["global"] = np.asarray(glob, np.float32).reshape(GLOBAL_DIM)
    extras["depth"] = np.int64(depth)
    return Features(kpts, np.zeros((len(kpts), 0), np.float32), np.ones(len(kpts)), size, extras)


def cvnet_inputs(f: Features) -> tuple[list[np.ndarray], np.ndarray, int]:
    """(projected maps [256, h_s, w_s] per scale, global [2048], depth) of
    :func:`cvnet_features`; DataError when ``f`` lacks them."""
    what = "not CVNet features (extractor type 'cvnet', e.g. preset 'cvnet')"
    maps = [f.extra(map_name(s), what) for s in SCALES]
    glob, depth = f.extra("global", what), f.extra("depth", what)
    hw = maps[-1].shape[1:]
    if (
        any(m.ndim != 3 or m.shape[0] != PROJ_DIM for m in maps)
        or glob.shape != (GLOBAL_DIM,)
        or len(f) != hw[0] * hw[1]
    ):
        raise DataError(
            f"features ({len(f)} keypoints, maps {[m.shape for m in maps]}, global "
            f"{glob.shape}) are {what}"
        )
    return maps, glob, int(depth)


class CVNet(Extractor):
    default_conf = SPECS["cvnet"].default_conf()

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
        return cvnet_features(maps, glob, self.conf["depth"], (w, h), net_hw)
