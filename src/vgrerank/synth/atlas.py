"""A texture atlas with per-item mip levels, sampled in one ``cv2.remap`` call per image.

Every texture (a facade face, the ground, a sky panorama, a car side) is an *item*. Each item is
stored at levels 0..``LEVELS-1`` (each half the size of the previous, ``INTER_AREA``), every level
packed separately with a replicated 2-pixel gutter so bilinear sampling never bleeds between items.
A pixel's atlas coordinate is ``(x0[item, L] + tx / 2**L, y0[item, L] + ty / 2**L)`` with
``(tx, ty)`` in level-0 texels of the item. ``rgb`` is sampled bilinearly, ``emit`` (emission ids,
see :mod:`.textures`) with nearest texels.
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS = 4
GUTTER = 2
ATLAS_WIDTH = 4096


def _half(a: np.ndarray) -> np.ndarray:
    """Half-size mip level of a uint8 image: the rounded mean of each 2x2 texel block (a
    dimension of 1 stays), in integer arithmetic (the same bits on any CPU)."""
    s, n = a.astype(np.uint16), 1
    for axis in (0, 1):
        m = s.shape[axis] // 2
        if m:
            lo = [slice(None)] * s.ndim
            hi = [slice(None)] * s.ndim
            lo[axis], hi[axis] = slice(0, 2 * m, 2), slice(1, 2 * m, 2)
            s = s[tuple(lo)] + s[tuple(hi)]
            n *= 2
    return ((s + n // 2) // n).astype(np.uint8)


class Atlas:
    def __init__(self) -> None:
        self._items: list[tuple[np.ndarray, np.ndarray]] = []
        self.rgb: np.ndarray | None = None
        self.emit: np.ndarray | None = None
        self.x0: np.ndarray | None = None  # [n_items, LEVELS] float32
        self.y0: np.ndarray | None = None
        self.size: np.ndarray | None = None  # [n_items, 2] level-0 (w, h)

    def add(self, rgb: np.ndarray, emit: np.ndarray | None = None) -> int:
        if emit is None:
            emit = np.zeros(rgb.shape[:2], np.uint8)
        self._items.append((np.ascontiguousarray(rgb, np.uint8), emit.astype(np.uint8)))
        return len(self._items) - 1

    def build(self) -> Atlas:
        levels: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for i, (rgb, emit) in enumerate(self._items):
            r, e = rgb, emit
            for lev in range(LEVELS):
                if lev:
                    w, h = max(1, r.shape[1] // 2), max(1, r.shape[0] // 2)
                    r, e = _half(r), e[: max(1, 2 * h - 1) : 2, : max(1, 2 * w - 1) : 2]
                levels.append((i, lev, r, e))
        # shelf packing, tallest first
        order = sorted(range(len(levels)), key=lambda k: -levels[k][2].shape[0])
        n = len(self._items)
        x0 = np.zeros((n, LEVELS), np.float32)
        y0 = np.zeros((n, LEVELS), np.float32)
        placed = []
        cx = cy = shelf_h = 0
        for k in order:
            i, lev, r, _ = levels[k]
            h, w = r.shape[0] + 2 * GUTTER, r.shape[1] + 2 * GUTTER
            if w > ATLAS_WIDTH:
                raise ValueError(f"texture item {i} is {w} px wide, more than the atlas width")
            if cx + w > ATLAS_WIDTH:
                cx, cy, shelf_h = 0, cy + shelf_h, 0
            placed.append((k, cx, cy))
            x0[i, lev], y0[i, lev] = cx + GUTTER, cy + GUTTER
            cx += w
            shelf_h = max(shelf_h, h)
        total_h = cy + shelf_h
        if total_h > 32000:
            raise ValueError(f"texture atlas too tall ({total_h} px): reduce city size or ppm")
        self.rgb = np.zeros((total_h, ATLAS_WIDTH, 3), np.uint8)
        self.emit = np.zeros((total_h, ATLAS_WIDTH), np.uint8)
        for k, px, py in placed:
            _, _, r, e = levels[k]
            rp = cv2.copyMakeBorder(r, GUTTER, GUTTER, GUTTER, GUTTER, cv2.BORDER_REPLICATE)
            ep = cv2.copyMakeBorder(e, GUTTER, GUTTER, GUTTER, GUTTER, cv2.BORDER_REPLICATE)
            self.rgb[py : py + rp.shape[0], px : px + rp.shape[1]] = rp
            self.emit[py : py + ep.shape[0], px : px + ep.shape[1]] = ep
        self.x0, self.y0 = x0, y0
        self.size = np.array([[it[0].shape[1], it[0].shape[0]] for it in self._items], np.float32)
        self._items = []
        return self

    def coords(
        self, item: np.ndarray, tx: np.ndarray, ty: np.ndarray, level: np.ndarray | int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Atlas coordinates of level-0 texel coordinates ``(tx, ty)`` of ``item`` at ``level``
        (texel coordinates are clamped into the item; ``-0.5`` .. ``size - 0.5``)."""
        w = self.size[item, 0]
        h = self.size[item, 1]
        tx = np.clip(tx, 0.0, w - 1.0)
        ty = np.clip(ty, 0.0, h - 1.0)
        s = np.ldexp(np.float32(1.0), -np.asarray(level, np.int32)).astype(np.float32)
        # texel centres: level-L texel j covers level-0 texels [j*2^L, (j+1)*2^L)
        ax = self.x0[item, level] + (tx + 0.5) * s - 0.5
        ay = self.y0[item, level] + (ty + 0.5) * s - 0.5
        return ax.astype(np.float32), ay.astype(np.float32)
