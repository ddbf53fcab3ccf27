"""Classifier checkpoint format: one ``torch.save``d dict, validated on load.

Keys (:data:`REQUIRED_KEYS`):

- ``format`` (:data:`FORMAT`), ``version`` (:data:`VERSION`),
- ``task`` ('daynight' | 'indoor'), ``classes`` (list of class names, the output order),
- ``arch`` (timm architecture name; None for a colour-statistics-only model), ``input_size``
  (square input side, px), ``resize`` ('squash': the whole photo resized to the square),
  ``mean``, ``std`` (per-channel normalisation of [0, 1] RGB), ``tta_flip`` (average the
  prediction of the horizontally flipped image),
- ``state_dict`` (the network's weights; None without ``arch``),
- ``colour_model`` (None, or the :class:`.colour.LogisticModel` parameters as lists plus
  ``features``: 'colour'), ``blend`` (weight of the network's probabilities; the colour model
  gets ``1 - blend``),
- ``summary`` (training summary: counts, epochs, seed, times, training accuracies).

A checkpoint trained elsewhere (e.g. a MobileNetV2 fine-tuned from ImageNet weights) works when it
follows this format: set ``arch`` to its timm name, ``colour_model`` None and ``blend`` 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ...errors import DataError
from ...io import atomic_path
from .tasks import get_task

FORMAT = "vgrerank-classifier"
VERSION = 1
REQUIRED_KEYS = (
    "format",
    "version",
    "task",
    "classes",
    "arch",
    "input_size",
    "resize",
    "mean",
    "std",
    "tta_flip",
    "state_dict",
    "colour_model",
    "blend",
    "summary",
)
COLOUR_KEYS = ("features", "mean", "std", "weight", "bias")


def save_checkpoint(ckpt: dict, path: str | os.PathLike) -> Path:
    """Validate and write ``ckpt`` atomically to ``path``."""
    path = Path(path)
    validate(ckpt, path)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, task: str | None = None) -> dict:
    """Load and validate a checkpoint; ``task`` (optional) must match its task.

    Raises DataError naming the file when it is missing, unreadable, not a classifier
    checkpoint, has missing keys, or is for another task.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: classifier checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of a corrupt or foreign file
        raise DataError(f"{path}: not a readable classifier checkpoint ({exc})") from exc
    validate(ckpt, path)
    if task is not None and ckpt["task"] != task:
        raise DataError(f"{path}: checkpoint is for task {ckpt['task']!r}, not {task!r}")
    return ckpt


def validate(ckpt: object, path: str | os.PathLike) -> None:
    """Check the structure of a checkpoint dict; DataError naming ``path`` otherwise."""
    if not isinstance(ckpt, dict):
        raise DataError(f"{path}: not a classifier checkpoint (a {type(ckpt).__name__})")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise DataError(f"{path}: classifier checkpoint lacks key(s) {missing}")
    if ckpt["format"] != FORMAT:
        raise DataError(f"{path}: format {ckpt['format']!r} is not {FORMAT!r}")
    if ckpt["version"] != VERSION:
        raise DataError(
            f"{path}: checkpoint version {ckpt['version']!r}; this code reads {VERSION}"
        )
    try:
        task = get_task(ckpt["task"])
    except Exception as exc:
        raise DataError(f"{path}: {exc}") from exc
    classes = list(ckpt["classes"])
    if classes != list(task.classes):
        raise DataError(f"{path}: classes {classes} differ from task {task.name!r} {task.classes}")
    if ckpt["arch"] is None and ckpt["colour_model"] is None:
        raise DataError(f"{path}: checkpoint has neither a network (arch) nor a colour model")
    if ckpt["arch"] is not None and not isinstance(ckpt["state_dict"], dict):
        raise DataError(f"{path}: arch {ckpt['arch']!r} without a state_dict")
    if ckpt["colour_model"] is not None:
        miss = [k for k in COLOUR_KEYS if k not in ckpt["colour_model"]]
        if miss:
            raise DataError(f"{path}: colour_model lacks key(s) {miss}")
    if not 0.0 <= float(ckpt["blend"]) <= 1.0:
        raise DataError(f"{path}: blend={ckpt['blend']} must be within 0..1")
    if ckpt["resize"] != "squash":
        raise DataError(f"{path}: resize {ckpt['resize']!r} not supported (only 'squash')")
    if len(ckpt["mean"]) != 3 or len(ckpt["std"]) != 3:
        raise DataError(f"{path}: mean/std must have 3 values (RGB)")
