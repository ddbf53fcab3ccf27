"""Global descriptors that are the global branch of a re-ranking method's network, built from the
same module and weights as its local extractor (only the global branch runs):

* ``delg`` (:class:`DELGGlobal`): 2048-D, GeM + FC whitening of ResNet-50; per
  ``global_scales`` level L2-normalised, summed and L2-normalised again, as DELG's extractor does
  (official scales 0.7071, 1.0, 1.4142 of an image capped at 1024 px);
  :mod:`vgrerank.local.extractors.delg`.
* ``cvnet`` (:class:`CVNetGlobal`): 2048-D, GeM + FC of ResNet-50/101, multi-scale, L2;
  :mod:`vgrerank.local.extractors.cvnet`.
* ``transvpr`` (:class:`TransVPRGlobal`): 256-D, multi-level attention pooling of the
  transformer's patch tokens, L2; :mod:`vgrerank.local.extractors.transvpr`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np

from .base import GlobalDescriptor

_WEIGHTS = {"device": "auto", "weights": None, "sha256": None}


class BranchGlobal(GlobalDescriptor):
    """The extractor class ``extractor`` (``module:Class`` under ``vgrerank.local.extractors``)
    built lazily from this conf; :meth:`one` maps an image to its global descriptor."""

    extractor = ""
    size = 0

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self._net = None

    @property
    def dim(self) -> int:
        return self.size

    def one(self, net, image: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if self._net is None:
            module, cls = self.extractor.split(":")
            mod = importlib.import_module(f"vgrerank.local.extractors.{module}")
            self._net = getattr(mod, cls)(dict(self.conf))
        out = [self.one(self._net, im) for im in images]
        return np.asarray(out, np.float32).reshape(len(images), self.dim)


class DELGGlobal(BranchGlobal):
    extractor, size = "delg:DELG", 2048
    default_conf = {
        "model": "r50-gld",
        "global_scales": [0.70710677, 1.0, 1.4142135],
        "resize_max": 1024,
        **_WEIGHTS,
    }

    def one(self, net, image):
        return net.extract_all(image, local=False)[2]


class CVNetGlobal(BranchGlobal):
    extractor, size = "cvnet:CVNet", 2048
    default_conf = {
        "depth": 50,
        "resize_max": None,  # None: the image's own size (official)
        "global_scales": [0.70710677, 1.0, 1.4142135],
        **_WEIGHTS,
    }

    def one(self, net, image):
        return net.describe(image, dense=False)[0]


class TransVPRGlobal(BranchGlobal):
    extractor, size = "transvpr:TransVPR", 256
    default_conf = {"model": "msls", "resize": [640, 480], **_WEIGHTS}

    def one(self, net, image):
        return net.describe(image)[0]
