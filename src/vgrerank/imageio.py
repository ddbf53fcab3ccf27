"""Image loading with clear errors (the file name and what is wrong)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import DataError


def load_image(path: str | os.PathLike, grayscale: bool = False) -> np.ndarray:
    """Read an image as RGB uint8 [H, W, 3] (or [H, W] when ``grayscale``).

    Raises :class:`DataError` naming the file when it is missing, empty or not decodable.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise DataError(f"{path}: image file is empty")
    flag = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flag)
    if image is None or image.size == 0:
        raise DataError(f"{path}: not a decodable image (corrupt or unsupported format)")
    if not grayscale:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> grey uint8 (a grey image passes through)."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def resize_max(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side``; return (image, scale) where
    ``scale`` maps resized pixel coordinates back to the original (x_orig = x * scale)."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0
    s = max_side / max(h, w)
    new = (max(1, round(w * s)), max(1, round(h * s)))
    out = cv2.resize(image, new, interpolation=cv2.INTER_AREA)
    return out, max(h, w) / max_side
