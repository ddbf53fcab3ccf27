"""A drawn test scene of shapes and its perspective warp, shared by the tests of the learned
local features and of the device choice (imported by the test modules as ``from scenes import
...``; not a test module itself)."""

from __future__ import annotations

import cv2
import numpy as np

H_TRUE = np.array([[0.95, 0.08, 10.0], [-0.06, 0.97, 6.0], [1e-4, -5e-5, 1.0]])


def synthetic(w: int = 320, h: int = 240, seed: int = 0) -> np.ndarray:
    """A grey w x h image of 60 random discs and boxes with a little noise."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 127, np.uint8)
    for _ in range(60):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, [w, h]))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(4, 25)), c, -1)
        else:
            x2, y2 = x + int(rng.integers(8, 50)), y + int(rng.integers(8, 50))
            cv2.rectangle(img, (x, y), (x2, y2), c, -1)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def synthetic_pair() -> tuple[np.ndarray, np.ndarray]:
    """``synthetic()`` and its warp by ``H_TRUE`` (grey borders)."""
    img = synthetic()
    warped = cv2.warpPerspective(
        img, H_TRUE, (img.shape[1], img.shape[0]), borderValue=(127, 127, 127)
    )
    return img, warped
