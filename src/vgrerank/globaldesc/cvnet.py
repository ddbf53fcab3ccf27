"""Global descriptors of CVNet (2048-D: GeM + FC of ResNet-50/101, multi-scale, L2) and TransVPR
(256-D: multi-level attention pooling of the transformer's patch tokens, L2), from the same
networks and weights as the local extractors :mod:`vgrerank.local.extractors.cvnet` and
:mod:`vgrerank.local.extractors.transvpr` (only their global branches run)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import GlobalDescriptor


class CVNetGlobal(GlobalDescriptor):
    default_conf = {
        "depth": 50,
        "resize_max": None,  # None: the image's own size (official)
        "global_scales": [0.70710677, 1.0, 1.4142135],
        "device": "auto",
        "weights": None,
        "sha256": None,
    }

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self._extractor = None

    @property
    def dim(self) -> int:
        return 2048

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if self._extractor is None:
            from ..local.extractors.cvnet import CVNet

            self._extractor = CVNet(dict(self.conf))
        out = [self._extractor.describe(im, dense=False)[0] for im in images]
        return np.asarray(out, np.float32).reshape(len(images), self.dim)


class TransVPRGlobal(GlobalDescriptor):
    default_conf = {
        "model": "msls",
        "resize": [640, 480],
        "device": "auto",
        "weights": None,
        "sha256": None,
    }

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self._extractor = None

    @property
    def dim(self) -> int:
        return 256

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if self._extractor is None:
            from ..local.extractors.transvpr import TransVPR

            self._extractor = TransVPR(dict(self.conf))
        out = [self._extractor.describe(im)[0] for im in images]
        return np.asarray(out, np.float32).reshape(len(images), self.dim)
