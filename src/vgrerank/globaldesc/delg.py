"""DELG global descriptors (2048-D: GeM + FC whitening of ResNet-50, multi-scale, L2) from the
same network and weights as the local extractor :mod:`vgrerank.local.extractors.delg`.

The global branch alone runs (the local head is skipped): per ``global_scales`` level the
embedding is L2-normalised, the levels are summed and L2-normalised again, as DELG's
extractor does (official scales 0.7071, 1.0, 1.4142 of an image capped at 1024 px).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import GlobalDescriptor


class DELGGlobal(GlobalDescriptor):
    default_conf = {
        "model": "r50-gld",
        "global_scales": [0.70710677, 1.0, 1.4142135],
        "resize_max": 1024,
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
            from ..local.extractors.delg import DELG

            self._extractor = DELG(dict(self.conf))
        out = [self._extractor.extract_all(im, local=False)[2] for im in images]
        return np.asarray(out, np.float32).reshape(len(images), self.dim)
