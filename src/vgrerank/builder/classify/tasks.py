"""The two classification tasks, their classes and the decision rules applied to predictions.

- ``daynight``: classes ``day``, ``night``. Dusk is not a third class: the real training photos
  only have two labels (blue-hour city shots are filed under both), and the only exact dusk
  labels, SynthCity renders, are too far from real photos to teach it (a model trained on the
  real photos gives SynthCity night renders p(night) 0.43 on average, dusk 0.17, day 0.17;
  bench/daynight_cv.py). So dusk is a threshold on p(night) (:func:`is_night`, 0.5 by default):
  raise it to keep only clear night, lower it to let twilight photos in.
- ``indoor``: indoorness levels ``0`` (plain outdoor street) .. ``9`` (a room) and
  ``panoramic``. Training folders may also be labelled ``outdoor`` (= level 0) or ``indoor``
  (= level 9). :func:`keep_outdoor` keeps the ``n_keep`` most outdoor levels (default 6: levels
  0..5) and drops panoramas unless asked to keep them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError, DataError

LEVELS = tuple(str(i) for i in range(10))
PANORAMIC = "panoramic"


@dataclass(frozen=True)
class Task:
    name: str
    classes: tuple[str, ...]
    arch: str  # default timm architecture
    size: int  # default input size (px, square)
    epochs: int  # default training epochs
    blend: float  # default weight of the network against the colour model
    aliases: dict[str, str] = field(default_factory=dict)

    def index(self, label: str, source: str = "") -> int:
        """Class index of a training label (aliases resolved); DataError when unknown."""
        label = self.aliases.get(str(label), str(label))
        if label not in self.classes:
            where = f"{source}: " if source else ""
            known = sorted(set(self.classes) | set(self.aliases))
            raise DataError(
                f"{where}label {label!r} is not a {self.name} class; use one of {known}"
            )
        return self.classes.index(label)


TASKS: dict[str, Task] = {
    # MobileNetV2 ImageNet transfer blended 0.5 with the colour model: out-of-fold accuracy on
    # the 1,081 real photos 92.3 % (network alone 91.2 %, colour alone 89.6 %, brightness 82.2 %;
    # the from-scratch mobilenetv2_050 blend before: 89.8 %; bench/daynight_cv.py)
    "daynight": Task("daynight", ("day", "night"), "mobilenetv2", 224, 4, 0.5),
    # MobileNetV2 ImageNet transfer, network alone (blend 1.0): trained on a SynthCity collection
    # plus half the real Pexels photos (outdoor) and the Corridor reference frames (indoor), it
    # keeps 100 % of the other Pexels half and drops 100 % of the Corridor queries and 98.4 % of
    # held-out SynthCity rooms; blended 0.5 with the colour model it drops only 77.4 % of those
    # rooms; from-scratch efficientnet_b0 at 128 px was the default before (bench/indoor_real.py)
    "indoor": Task(
        "indoor",
        (*LEVELS, PANORAMIC),
        "mobilenetv2",
        224,
        12,
        1.0,
        {"outdoor": "0", "indoor": "9"},
    ),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"task={name!r}: must be one of {sorted(TASKS)}")
    return TASKS[name]


def is_night(p_night: Iterable[float], threshold: float = 0.5) -> np.ndarray:
    """Night decision from p(night); dusk photos sit in between, so ``threshold`` chooses
    whether they count (0.5: the classifier's own decision; 0.8: clear night only)."""
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"night_threshold={threshold}: must be within 0..1")
    return np.asarray(list(p_night), dtype=float) >= threshold


def keep_outdoor(
    labels: Iterable[str], n_keep: int = 6, keep_panoramic: bool = False
) -> np.ndarray:
    """Boolean mask: predicted indoorness level < ``n_keep`` (the ``n_keep`` most outdoor
    levels); ``panoramic`` is kept only with ``keep_panoramic``."""
    if not 0 <= n_keep <= len(LEVELS):
        raise ConfigError(f"n_keep={n_keep}: must be within 0..{len(LEVELS)}")
    out = []
    for label in labels:
        label = str(label)
        if label == PANORAMIC:
            out.append(bool(keep_panoramic))
        elif label in LEVELS:
            out.append(int(label) < n_keep)
        else:
            raise DataError(f"label {label!r}: not an indoorness level 0..9 or {PANORAMIC!r}")
    return np.asarray(out, dtype=bool)
