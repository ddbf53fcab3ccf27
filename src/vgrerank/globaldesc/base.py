"""The global-descriptor interface.

A descriptor is built from a conf dict, optionally ``fit`` on database images (VLAD fits its
vocabulary; CNN descriptors do nothing), then maps a list of RGB uint8 images to an L2-normalised
float32 matrix [B, D]. ``state()``/``from_state`` let a fitted descriptor be stored beside the
descriptors it produced (HDF5 attrs / datasets), so queries are described with the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class GlobalDescriptor:
    default_conf: dict = {}

    def __init__(self, conf: dict | None = None) -> None:
        self.conf = {**self.default_conf, **(conf or {})}

    @property
    def dim(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def needs_fit(self) -> bool:
        return False

    def fit(self, load: Callable[[int], np.ndarray], n: int, seed: int = 0) -> None:
        """Fit on ``n`` database images; ``load(i)`` returns image i (RGB uint8)."""

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that define a fitted descriptor (empty when nothing is fitted)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""
