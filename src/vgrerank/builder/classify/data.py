"""Labelled image folders, decoding into cached arrays, and training augmentations.

A training set is given as ``{label: [dir, ...]}`` (the CLI's ``LABEL=DIR`` arguments). Every
image file directly inside a directory (or below it, recursively) gets that label. Images are
decoded once (:func:`decode_images`) into

- ``pixels``: uint8 ``[N, 3, S, S]`` (the whole photo squashed to the network's input size; the
  whole frame matters for day/night and indoor/outdoor, so nothing is cropped away), and
- ``thumbs``: RGB uint8 arrays whose longer side is at most :data:`THUMB_SIDE`, the input of the
  colour statistics (:mod:`.colour`),

so that training epochs and cross-validation folds never decode a file again.

Augmentations (:func:`augment`) are drawn from a seeded ``torch.Generator``: horizontal flip,
small random resized crops and mild colour jitter. Brightness is changed by at most +-15 % and
no vertical flip is used: overall darkness and the sky-at-the-top layout are the signal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...datasets.readers import list_images as _list_images
from ...errors import DataError
from ...imageio import load_image

THUMB_SIDE = 256


def list_images(directory: str | os.PathLike) -> list[Path]:
    """Image files below ``directory`` (recursive, sorted); DataError when there is none (the
    dataset readers' listing)."""
    return _list_images(Path(directory))


def labelled_files(
    folders: Mapping[str, Sequence[str | os.PathLike] | str | os.PathLike],
) -> tuple[list[Path], list[str]]:
    """``{label: dir or [dirs]}`` -> (paths, labels), in label order then path order."""
    paths: list[Path] = []
    labels: list[str] = []
    for label, dirs in folders.items():
        if isinstance(dirs, str | os.PathLike):
            dirs = [dirs]
        for d in dirs:
            files = list_images(d)
            paths += files
            labels += [str(label)] * len(files)
    return paths, labels


def parse_label_dirs(items: Iterable[str]) -> dict[str, list[str]]:
    """CLI ``LABEL=DIR`` arguments -> ``{label: [dir, ...]}`` (a label may repeat)."""
    out: dict[str, list[str]] = {}
    for item in items:
        label, sep, directory = item.partition("=")
        if not sep or not label or not directory:
            raise DataError(f"{item!r}: expected LABEL=DIR (e.g. night=photos/night)")
        out.setdefault(label.strip(), []).append(directory)
    return out


def squash(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB image to ``size`` x ``size`` (aspect not kept) -> uint8 [3, S, S]."""
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) >= size else cv2.INTER_LINEAR
    return np.ascontiguousarray(
        cv2.resize(image, (size, size), interpolation=interp).transpose(2, 0, 1)
    )


def thumbnail(image: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """Downscale so the longer side is at most ``side`` (area interpolation keeps the means)."""
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def decode_images(
    paths: Sequence[str | os.PathLike], size: int | None, *, progress: bool = True
) -> tuple[torch.Tensor | None, list[np.ndarray]]:
    """Decode ``paths`` -> (uint8 pixels [N, 3, size, size] or None when ``size`` is None,
    thumbnails). A missing or corrupt file raises DataError naming it."""
    pixels = None if size is None else torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    thumbs: list[np.ndarray] = []
    for i, path in enumerate(tqdm(paths, desc="decode", unit="img", disable=not progress)):
        image = load_image(path)
        if image.ndim != 3 or min(image.shape[:2]) < 8:
            raise DataError(f"{path}: image too small or not RGB ({image.shape})")
        small = thumbnail(image)
        thumbs.append(small)
        if pixels is not None:
            # from the thumbnail unless the network wants more pixels than it has
            src = small if min(small.shape[:2]) >= size else image
            pixels[i] = torch.from_numpy(squash(src, size))
    return pixels, thumbs


def to_float(pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> normalised float32."""
    x = pixels.float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def augment(x: torch.Tensor, gen: torch.Generator, *, scale: float = 0.7) -> torch.Tensor:
    """Augment a float batch in [0, 1] ([B, 3, S, S]): flip, random resized crop covering at
    least ``scale`` of each side, brightness x0.85..1.15, contrast x0.85..1.15, saturation
    x0.8..1.2. Deterministic given the generator's state."""
    b, _, s, _ = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    # random resized crop as an affine grid (zoom in, shift, slight aspect change)
    side = scale + (1 - scale) * torch.rand(b, 2, generator=gen)
    shift = (1 - side) * (2 * torch.rand(b, 2, generator=gen) - 1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = side[:, 0], side[:, 1]
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def factor(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(b, generator=gen)).view(b, 1, 1, 1)

    x = x * factor(0.85, 1.15)
    grey = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - grey) * factor(0.85, 1.15) + grey
    lum = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    x = (x - lum) * factor(0.8, 1.2) + lum
    return x.clamp_(0.0, 1.0)
