"""Classical OpenCV extractors: SIFT, RootSIFT, ORB, AKAZE.

Conf (all extractors): ``max_keypoints`` (keep the strongest by detector response; ``None`` or
0 keeps all) and ``resize_max`` (longest side the image is downscaled to before detection;
keypoints are mapped back to the original image's pixels). Input is an RGB (or grey) uint8 image.

Descriptors:

* SIFT: L2-normalised float32 [n, 128].
* RootSIFT: L1-normalised, square-rooted SIFT (unit L2 norm) [n, 128].
* ORB / AKAZE (binary): the bits unpacked to ``+1/-1`` float32 values [n, 8 * bytes]. A matrix
  product of two such vectors gives ``d - 2 * hamming``, so :class:`~vgrerank.local.matchers.nn.MutualNN`
  recognises them (every entry is +-1) and matches them by Hamming distance. The values are exact
  in float16, so the feature cache keeps them losslessly.

Keypoint coordinates follow OpenCV's convention (pixel centres at integer coordinates); when the
image was resized, ``x_orig = (x + 0.5) * sx - 0.5`` with ``sx = W_orig / W_resized`` per axis.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import DataError
from ...imageio import resize_max, to_gray
from ..base import Extractor, Features
from .specs import SPECS


def _prepare(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float, float]:
    """Grey uint8 image (resized when asked) and the per-axis scales back to the original."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise DataError(
            f"extractor input: expected an RGB uint8 image [H, W, 3], got "
            f"{getattr(image, 'dtype', type(image))} with shape {getattr(image, 'shape', None)}"
        )
    gray = to_gray(image)
    h, w = gray.shape[:2]
    small, _ = resize_max(gray, max_side)
    hs, ws = small.shape[:2]
    return small, w / ws, h / hs


def _select(keypoints, descriptors, max_keypoints):
    """Keep the ``max_keypoints`` strongest keypoints (stable on ties)."""
    if descriptors is None or len(keypoints) == 0:
        return [], None
    if max_keypoints and len(keypoints) > max_keypoints:
        response = np.array([k.response for k in keypoints], dtype=np.float32)
        keep = np.argsort(-response, kind="stable")[:max_keypoints]
        keypoints = [keypoints[i] for i in keep]
        descriptors = descriptors[keep]
    return keypoints, descriptors


class _OpenCVExtractor(Extractor):
    default_conf = {"max_keypoints": 4096, "resize_max": None}
    binary = False

    def _detector(self):  # pragma: no cover - interface
        raise NotImplementedError

    def _describe(self, desc: np.ndarray) -> np.ndarray:
        if self.binary:
            bits = np.unpackbits(desc, axis=1).astype(np.float32)
            return bits * 2.0 - 1.0
        return desc.astype(np.float32)

    def _dim(self) -> int:  # descriptor dimension for empty outputs
        return 128

    def extract(self, image: np.ndarray) -> Features:
        h, w = image.shape[:2]
        gray, sx, sy = _prepare(image, self.conf.get("resize_max"))
        if not hasattr(self, "_cv"):
            self._cv = self._detector()
        kps, desc = self._cv.detectAndCompute(gray, None)
        kps, desc = _select(kps, desc, self.conf.get("max_keypoints"))
        if desc is None or len(kps) == 0:
            return Features(
                np.zeros((0, 2), np.float32),
                np.zeros((0, self._dim()), np.float32),
                np.zeros(0, np.float32),
                (w, h),
            )
        xy = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
        if sx != 1.0 or sy != 1.0:
            xy[:, 0] = (xy[:, 0] + 0.5) * sx - 0.5
            xy[:, 1] = (xy[:, 1] + 0.5) * sy - 0.5
        np.clip(xy[:, 0], 0, w - 1, out=xy[:, 0])
        np.clip(xy[:, 1], 0, h - 1, out=xy[:, 1])
        response = np.array([k.response for k in kps], dtype=np.float32)
        return Features(xy, self._describe(desc), response, (w, h))


class SIFT(_OpenCVExtractor):
    default_conf = SPECS["sift"].default_conf()

    def _detector(self):
        c = self.conf
        return cv2.SIFT_create(
            nfeatures=int(c.get("max_keypoints") or 0),
            nOctaveLayers=int(c["n_octave_layers"]),
            contrastThreshold=float(c["contrast_threshold"]),
            edgeThreshold=float(c["edge_threshold"]),
            sigma=float(c["sigma"]),
        )

    def _describe(self, desc: np.ndarray) -> np.ndarray:
        desc = desc.astype(np.float32)
        norm = np.linalg.norm(desc, axis=1, keepdims=True)
        return desc / np.maximum(norm, 1e-12)


class RootSIFT(SIFT):
    """Arandjelovic & Zisserman 2012: L1-normalise SIFT, then take the square root."""

    default_conf = SPECS["rootsift"].default_conf()

    def _describe(self, desc: np.ndarray) -> np.ndarray:
        desc = desc.astype(np.float32)
        l1 = np.abs(desc).sum(axis=1, keepdims=True)
        return np.sqrt(desc / np.maximum(l1, 1e-12))


class ORB(_OpenCVExtractor):
    default_conf = SPECS["orb"].default_conf()
    binary = True

    def _dim(self) -> int:
        return 256

    def _detector(self):
        c = self.conf
        return cv2.ORB_create(
            nfeatures=int(c.get("max_keypoints") or 100000),
            scaleFactor=float(c["scale_factor"]),
            nlevels=int(c["n_levels"]),
            edgeThreshold=int(c["edge_threshold"]),
            fastThreshold=int(c["fast_threshold"]),
        )


def _akaze_create(**kwargs):
    # OpenCV 5 moved AKAZE to the contrib module xfeatures2d; OpenCV 4 has it in cv2.
    factory = getattr(getattr(cv2, "xfeatures2d", None), "AKAZE_create", None)
    if factory is None:
        factory = cv2.AKAZE_create
    return factory(**kwargs)


class AKAZE(_OpenCVExtractor):
    default_conf = SPECS["akaze"].default_conf()
    binary = True

    def _dim(self) -> int:
        return 488  # MLDB: 61 bytes

    def _detector(self):
        return _akaze_create(threshold=float(self.conf["threshold"]))
