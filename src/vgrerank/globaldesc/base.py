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


def normalised_batches(
    prepared: Sequence[np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int,
    device,
):
    """Batches of same-size images: yields ``(indices, x)``, ``x`` the images ``indices`` of
    ``prepared`` (RGB uint8 [H, W, 3]) as a float tensor [B, 3, H, W] on ``device``, in [0, 1]
    then normalised with ``mean``/``std``. Images of one size are batched in input order, at most
    ``batch_size`` (>= 1) at a time; sizes in order of first appearance."""
    import torch

    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(prepared):
        groups.setdefault(im.shape[:2], []).append(i)
    bs = max(1, int(batch_size))
    for idx in groups.values():
        for s in range(0, len(idx), bs):
            chunk = idx[s : s + bs]
            x = torch.from_numpy(np.stack([prepared[i] for i in chunk]))
            x = x.to(device).permute(0, 3, 1, 2).float().div_(255.0)
            yield chunk, (x - mean_t) / std_t
