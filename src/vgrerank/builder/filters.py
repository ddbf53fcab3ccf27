"""The builder's two classifier stages as tables: indoor/outdoor and day/night.

Both read the photos that reached them, run :mod:`.classify` (a trained checkpoint, or the
weights-free brightness rule for day/night) and write one row per photo with the predicted label,
its probability, ``keep`` and ``reason``.

- indoor: ``level`` is '0'..'9' (0 = plain street, 9 = a room) or 'panoramic'; a photo is kept
  by :func:`indoor_keep_rule` (the one rule, also used to score the stage against the truth):
  when its level is one of the ``keep_levels`` most outdoor (6 in the schema: levels 0..5, the
  reference study's rule) and, with ``drop_panoramic``, when it is not panoramic. ``p_keep`` is
  the probability mass of the kept classes.
- day/night: ``label`` is 'day' or 'night' (dusk is no class: with the CNN a photo is night
  when p(night) >= ``night_threshold``); kept when it is in ``keep`` (night in the schema).

Every default is the config schema's (:func:`.stages.build_default`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .stages import build_default

PANORAMIC = "panoramic"  # the indoor classifier's class beside the levels '0'..'9'


def _paths(rows: pd.DataFrame, root: str | os.PathLike) -> list[str]:
    root = Path(root)
    return [str(root / p) for p in rows["path"]]


def indoor_keep_rule(levels, panoramic, keep_levels: int, drop_panoramic: bool) -> np.ndarray:
    """The indoor stage's keep rule: a photo is kept when its indoorness level (0 street .. 9
    room) is below ``keep_levels`` (a NaN level, as the classifier's 'panoramic' class has, passes
    this test) and it is not panoramic, or panoramic photos are not dropped."""
    levels = np.asarray(levels, float)
    panoramic = np.asarray(panoramic, bool)
    if levels.shape != panoramic.shape:
        raise ValueError(f"indoor keep rule: {levels.shape} levels, {panoramic.shape} flags")
    outdoor = np.isnan(levels) | (levels < keep_levels)
    return outdoor & ~(panoramic & drop_panoramic)


def indoor_keep(
    levels,
    keep_levels: int = build_default("indoor.keep_levels"),
    drop_panoramic: bool = build_default("indoor.drop_panoramic"),
) -> np.ndarray:
    """Whether each predicted class ('0'..'9' or 'panoramic') is kept by
    :func:`indoor_keep_rule`."""
    labels = [str(lv) for lv in levels]
    pano = [lb == PANORAMIC for lb in labels]
    nums = [math.nan if p else int(lb) for lb, p in zip(labels, pano, strict=True)]
    return indoor_keep_rule(nums, pano, keep_levels, drop_panoramic)


def indoor_table(
    rows: pd.DataFrame,
    root: str | os.PathLike,
    model: str | os.PathLike,
    *,
    keep_levels: int = build_default("indoor.keep_levels"),
    drop_panoramic: bool = build_default("indoor.drop_panoramic"),
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
        for c in [str(i) for i in range(10)] + [PANORAMIC]
        if f"p_{c}" in pred.columns and indoor_keep([c], keep_levels, drop_panoramic)[0]
    ]
    p_keep = pred[[f"p_{c}" for c in kept_classes]].sum(axis=1).to_numpy()
    reason = [
        "" if k else (PANORAMIC if lv == PANORAMIC else f"indoor (level {lv} >= {keep_levels})")
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
    method: str = build_default("daynight.method"),
    threshold: float = build_default("daynight.threshold"),
    night_threshold: float = build_default("daynight.night_threshold"),
    keep: tuple[str, ...] = tuple(build_default("daynight.keep")),
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
