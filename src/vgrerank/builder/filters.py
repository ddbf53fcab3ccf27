"""The builder's two classifier stages as tables: indoor/outdoor and day/night.

Both read the photos that reached them, run :mod:`.classify` (a trained checkpoint, or the
weights-free brightness rule for day/night) and write one row per photo with the predicted label,
its probability, ``keep`` and ``reason``.

- indoor: ``level`` is '0'..'9' (0 = plain street, 9 = a room) or 'panoramic'; a photo is kept
  when its level is one of the ``keep_levels`` most outdoor (default 6: levels 0..5, the
  reference study's rule) and, with ``drop_panoramic``, when it is not panoramic. ``p_keep`` is
  the probability mass of the kept classes.
- day/night: ``label`` is 'day' or 'night' (dusk is no class: with the CNN a photo is night
  when p(night) >= ``night_threshold``); kept when it is in ``keep`` (default night).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError


def _paths(rows: pd.DataFrame, root: str | os.PathLike) -> list[str]:
    root = Path(root)
    return [str(root / p) for p in rows["path"]]


def indoor_keep(levels, keep_levels: int = 6, drop_panoramic: bool = True) -> np.ndarray:
    """Whether each predicted level (str) is kept by the 'N most outdoor levels' rule."""
    out = []
    for lv in levels:
        if str(lv) == "panoramic":
            out.append(not drop_panoramic)
        else:
            out.append(int(lv) < keep_levels)
    return np.array(out, bool)


def indoor_table(
    rows: pd.DataFrame,
    root: str | os.PathLike,
    model: str | os.PathLike,
    *,
    keep_levels: int = 6,
    drop_panoramic: bool = True,
    device: str = "cpu",
) -> pd.DataFrame:
    from .classify import predict_images

    if not 1 <= keep_levels <= 10:
        raise ConfigError(f"indoor.keep_levels={keep_levels}: must be within 1..10")
    cols = ["photo_id", "level", "probability", "p_keep", "keep", "reason"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    pred = predict_images(model, _paths(rows, root), device=device)
    levels = [str(x) for x in pred["label"]]
    keep = indoor_keep(levels, keep_levels, drop_panoramic)
    kept_classes = [
        c
        for c in [str(i) for i in range(10)] + ["panoramic"]
        if f"p_{c}" in pred.columns and indoor_keep([c], keep_levels, drop_panoramic)[0]
    ]
    p_keep = pred[[f"p_{c}" for c in kept_classes]].sum(axis=1).to_numpy()
    reason = [
        "" if k else ("panoramic" if lv == "panoramic" else f"indoor (level {lv} >= {keep_levels})")
        for k, lv in zip(keep, levels, strict=True)
    ]
    return pd.DataFrame(
        {
            "photo_id": rows["photo_id"].astype(str).to_numpy(),
            "level": levels,
            "probability": pred["probability"].to_numpy(),
            "p_keep": p_keep,
            "keep": keep,
            "reason": reason,
        }
    )[cols]


def daynight_table(
    rows: pd.DataFrame,
    root: str | os.PathLike,
    model: str | os.PathLike | None,
    *,
    method: str = "cnn",
    threshold: float = 100.0,
    night_threshold: float = 0.5,
    keep=("night",),
    device: str = "cpu",
) -> pd.DataFrame:
    from .classify import brightness_predict, is_night, predict_images

    cols = ["photo_id", "label", "probability", "method", "keep", "reason"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    paths = _paths(rows, root)
    if method == "brightness":
        pred = brightness_predict(paths, threshold=threshold)
    elif method == "cnn":
        if not model:
            raise ConfigError("daynight.method 'cnn' needs a model (daynight.model or training)")
        pred = predict_images(model, paths, device=device)
    else:
        raise ConfigError(f"daynight.method={method!r}: one of cnn, brightness")
    if method == "cnn":
        # dusk is no class: a photo is night when p(night) >= night_threshold
        labels = np.where(is_night(pred["p_night"], night_threshold), "night", "day").tolist()
    else:
        labels = [str(x) for x in pred["label"]]
    keep_set = set(keep)
    kept = np.array([lb in keep_set for lb in labels], bool)
    return pd.DataFrame(
        {
            "photo_id": rows["photo_id"].astype(str).to_numpy(),
            "label": labels,
            "probability": pred["probability"].to_numpy(),
            "method": method,
            "keep": kept,
            "reason": ["" if k else f"{lb} photo" for k, lb in zip(kept, labels, strict=True)],
        }
    )[cols]
