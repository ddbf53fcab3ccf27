"""Prediction: a checkpoint (:mod:`.checkpoint`) applied to image files, and the brightness rule.

- :func:`predict_images` -> DataFrame ``path, label, probability, p_<class>...`` (``label`` the
  most probable class, ``probability`` its probability), in the order of ``paths``.
- :func:`brightness_predict` -> DataFrame ``path, label, probability, p_day, p_night,
  mean_value``: day when the mean HSV value is above ``threshold``; its probability is a
  monotone score ``sigmoid((value - threshold) / 15)``, not a calibrated probability.

Images are decoded in chunks of ``chunk`` files, so memory stays flat on large folders. A missing
or corrupt image raises DataError naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ...device import resolve_device
from ...errors import DataError
from .checkpoint import load_checkpoint
from .colour import LogisticModel, feature_matrix, mean_value
from .data import decode_images, thumbnail
from .models import create_model
from .train import network_proba

BRIGHTNESS_THRESHOLD = 100.0
BRIGHTNESS_SCALE = 15.0


@dataclass
class Classifier:
    """A loaded checkpoint: ``predict_proba`` on decoded arrays."""

    ckpt: dict
    net: torch.nn.Module | None
    colour: LogisticModel | None
    device: str = "cpu"

    @property
    def classes(self) -> list[str]:
        return list(self.ckpt["classes"])

    @property
    def input_size(self) -> int | None:
        return self.ckpt["input_size"] if self.net is not None else None

    def proba_arrays(self, pixels: torch.Tensor | None, thumbs: Sequence[np.ndarray]) -> np.ndarray:
        """Blended class probabilities [N, C] from decoded pixels and thumbnails."""
        ck = self.ckpt
        parts = []
        if self.net is not None:
            p = network_proba(
                self.net, pixels, ck["mean"], ck["std"], tta_flip=ck["tta_flip"], device=self.device
            )
            parts.append((float(ck["blend"]) if self.colour is not None else 1.0, p))
        if self.colour is not None:
            p = self.colour.proba(feature_matrix(thumbs))
            parts.append((1.0 - float(ck["blend"]) if self.net is not None else 1.0, p))
        return sum(w * p for w, p in parts).astype(np.float32)


def load_classifier(
    model_path: str | os.PathLike, task: str | None = None, device: str = "cpu"
) -> Classifier:
    """Load a checkpoint and build its network on ``device`` ('auto' | 'cpu' | 'cuda[:N]');
    DataError naming the file on a mismatch."""
    dev = resolve_device(device)
    ckpt = load_checkpoint(model_path, task)
    net = None
    if ckpt["arch"] is not None:
        net = create_model(ckpt["arch"], len(ckpt["classes"]))
        try:
            net.load_state_dict(ckpt["state_dict"], strict=True)
        except RuntimeError as exc:
            raise DataError(
                f"{model_path}: state_dict does not fit arch {ckpt['arch']!r}: {exc}"
            ) from exc
        net.to(dev).eval()
    colour = LogisticModel.from_dict(ckpt["colour_model"]) if ckpt["colour_model"] else None
    if colour is not None and colour.weight.shape[0] != len(ckpt["classes"]):
        raise DataError(f"{model_path}: colour_model has {colour.weight.shape[0]} classes")
    return Classifier(ckpt, net, colour, str(dev))


def predict_images(
    model_path: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    device: str = "cpu",
    task: str | None = None,
    chunk: int = 256,
    progress: bool = True,
) -> pd.DataFrame:
    """Classify image files with the checkpoint at ``model_path`` (``task`` optional check)."""
    clf = load_classifier(model_path, task, device)
    classes = clf.classes
    probs = []
    bar = tqdm(total=len(paths), desc="classify", unit="img", disable=not progress)
    for i in range(0, len(paths), chunk):
        part = paths[i : i + chunk]
        pixels, thumbs = decode_images(part, clf.input_size, progress=False)
        probs.append(clf.proba_arrays(pixels, thumbs))
        bar.update(len(part))
    bar.close()
    p = np.concatenate(probs) if probs else np.zeros((0, len(classes)), np.float32)
    return probability_frame(paths, classes, p)


def probability_frame(
    paths: Sequence[str | os.PathLike], classes: Sequence[str], p: np.ndarray
) -> pd.DataFrame:
    """``path, label, probability, p_<class>...`` from a probability matrix."""
    best = p.argmax(axis=1) if len(p) else np.zeros(0, np.int64)
    df = pd.DataFrame(
        {
            "path": [str(x) for x in paths],
            "label": [classes[j] for j in best],
            "probability": p[np.arange(len(p)), best] if len(p) else np.zeros(0),
        }
    )
    for j, c in enumerate(classes):
        df[f"p_{c}"] = p[:, j] if len(p) else np.zeros(0)
    return df


def brightness_scores(values: np.ndarray, threshold: float = BRIGHTNESS_THRESHOLD) -> np.ndarray:
    """p(day) score of mean HSV values: ``sigmoid((v - threshold) / 15)``."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(values, float) - threshold) / BRIGHTNESS_SCALE))


def brightness_predict(
    paths: Sequence[str | os.PathLike],
    threshold: float = BRIGHTNESS_THRESHOLD,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """The weights-free rule: day when the mean HSV value (0..255) is above ``threshold``."""
    from ...imageio import load_image

    values = []
    for path in tqdm(paths, desc="brightness", unit="img", disable=not progress):
        values.append(mean_value(thumbnail(load_image(Path(path)))))
    values = np.asarray(values, float)
    p_day = brightness_scores(values, threshold)
    df = pd.DataFrame({"path": [str(x) for x in paths]})
    day = values > threshold
    df["label"] = np.where(day, "day", "night")
    df["probability"] = np.where(day, p_day, 1.0 - p_day)
    df["p_day"] = p_day
    df["p_night"] = 1.0 - p_day
    df["mean_value"] = values
    return df
