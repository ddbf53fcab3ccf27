"""Column ray casting of the box city (the geometry half of :func:`.render.render`).

Walls are vertical and the level camera has no roll, so each image column is one horizontal ray:
it is intersected (2-D slab test, vectorised over columns x boxes) with every box footprint; the
``K`` nearest hits per column are kept (:func:`nearest_hits`). A hit box covers one contiguous
interval of rows (its side wall between ``z0`` and ``z1`` at the entry distance, plus its
top/bottom face up to the exit distance); rows are painted far to near, the rest is ground
(below the horizon) or sky (:class:`Runs`). A pitched camera is rendered level on a larger canvas
(:func:`level_rays`) and warped afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .camera import Camera, pitch_matrix
from .city import BUILDING

K_MAX = 6

FAR_BUILDING_M = 260.0

FAR_PROP_M = 90.0


def _mat3(a, b) -> list:
    """3x3 product in Python floats, fixed summation order (BLAS kernels differ per CPU)."""
    return [[a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j] for j in range(3)]
            for i in range(3)]  # fmt: skip


def _canvas(camera: Camera):
    """Level-camera canvas (width, height, cx, cy) covering the pitched view, and the inverse
    warp (output pixel -> canvas pixel) as nested lists."""
    W, H, f = camera.width, camera.height, camera.f
    cx, cy = (W - 1) / 2, (H - 1) / 2
    if abs(camera.pitch_deg) < 1e-9:
        return W, H, cx, cy, None
    Rp = pitch_matrix(camera.pitch_deg).tolist()
    xs = np.linspace(0, W - 1, 9)
    ys = np.linspace(0, H - 1, 9)
    border = np.array(
        [(x, y) for x in xs for y in (0, H - 1)] + [(x, y) for y in ys for x in (0, W - 1)], float
    )
    rx, ry = (border[:, 0] - cx) / f, (border[:, 1] - cy) / f  # pitched camera rays (rx, ry, 1)
    # Rp^T applied to each ray: level camera rays
    lev = [rx * Rp[0][j] + ry * Rp[1][j] + Rp[2][j] for j in range(3)]
    p = np.stack([lev[0] / lev[2] * f, lev[1] / lev[2] * f], axis=1)
    x0, y0 = np.floor(p.min(axis=0)) - 2
    x1, y1 = np.ceil(p.max(axis=0)) + 2
    Wc, Hc = int(x1 - x0) + 1, int(y1 - y0) + 1
    cxc, cyc = float(-x0), float(-y0)
    # output pixel -> canvas pixel: K0 Rp^T K^-1 (Rp is a rotation)
    K0 = [[f, 0.0, cxc], [0.0, f, cyc], [0.0, 0.0, 1.0]]
    RpT = [[Rp[j][i] for j in range(3)] for i in range(3)]
    Kinv = [[1 / f, 0.0, -cx / f], [0.0, 1 / f, -cy / f], [0.0, 0.0, 1.0]]
    return Wc, Hc, cxc, cyc, _mat3(_mat3(K0, RpT), Kinv)


def _cull(boxes, camera: Camera, fwd: np.ndarray, half_fov: float):
    b = boxes.xyz
    cx, cy = camera.x, camera.y
    dx = np.maximum(np.maximum(b[:, 0] - cx, cx - b[:, 1]), 0)
    dy = np.maximum(np.maximum(b[:, 2] - cy, cy - b[:, 3]), 0)
    dist = np.sqrt(dx * dx + dy * dy)
    far = np.where(boxes.kind == BUILDING, FAR_BUILDING_M, FAR_PROP_M)
    keep = dist < far
    # any corner in front of the (widened) view wedge
    cs = math.cos(min(half_fov + 0.05, math.pi / 2 - 1e-3))
    ang_ok = np.zeros(len(b), bool)
    for xi, yi in ((0, 2), (0, 3), (1, 2), (1, 3)):
        vx, vy = b[:, xi] - cx, b[:, yi] - cy
        n = np.sqrt(vx * vx + vy * vy) + 1e-9
        ang_ok |= (
            (vx * fwd[0] + vy * fwd[1]) / n > -0.2
            if cs <= 0
            else (vx * fwd[0] + vy * fwd[1]) / n > cs - 0.6
        )
    inside = (dx == 0) & (dy == 0)
    return np.nonzero(keep & (ang_ok | inside))[0]


def _slab(x0, x1, y0, y1, ddx, ddy):
    """Entry / exit distance, entry through an x face, and validity of rays (unit directions
    ``(ddx, ddy)``, no zero) against box footprints relative to the ray origin."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ta, tb = x0 / ddx, x1 / ddx
        txmin, txmax = np.minimum(ta, tb), np.maximum(ta, tb)
        ta, tb = y0 / ddy, y1 / ddy
        tymin, tymax = np.minimum(ta, tb), np.maximum(ta, tb)
    tin = np.maximum(txmin, tymin)
    tout = np.minimum(txmax, tymax)
    facex = txmin > tymin
    valid = (tout > tin) & (tin > 0.05)
    tin = np.where(valid, tin, np.inf)
    return tin, tout, facex, valid


@dataclass
class Rays:
    """The level canvas (``Wc`` x ``Hc``, principal point ``cxc, cyc``; ``Minv`` the pitch warp
    or None) and its rays: per column the horizontal unit direction ``dh`` [Wc, 2] and
    ``L = sqrt(1 + xc^2)``, per row the slope ``yr`` (float32); ``rh`` is the first ground row."""

    Wc: int
    Hc: int
    cxc: float
    cyc: float
    Minv: list | None
    f: float
    ox: float
    oy: float
    h: float
    fwd: np.ndarray
    xc: np.ndarray
    L: np.ndarray
    dh: np.ndarray
    yr: np.ndarray
    rh: int

    @property
    def dxs(self) -> np.ndarray:
        return self.dh[:, 0][None, :]

    @property
    def dys(self) -> np.ndarray:
        return self.dh[:, 1][None, :]


def level_rays(camera: Camera) -> Rays:
    f = camera.f
    Wc, Hc, cxc, cyc, Minv = _canvas(camera)
    R0 = camera.R0
    right, fwd = R0[0, :2], R0[2, :2]
    xc = ((np.arange(Wc) - cxc) / f).astype(np.float64)
    L = np.sqrt(1 + xc * xc)
    dh = (fwd[None, :] + xc[:, None] * right[None, :]) / L[:, None]  # [Wc, 2] unit
    yr = ((np.arange(Hc) - cyc) / f).astype(np.float32)
    rh = Hc - int(np.count_nonzero(yr > 1e-6))  # first ground row
    return Rays(Wc, Hc, cxc, cyc, Minv, f, camera.x, camera.y, camera.z, fwd, xc, L, dh, yr, rh)


@dataclass
class Hits:
    """The ``K`` nearest box hits per column, near to far, as [K, Wc] tables: entry distance
    ``ht`` (1e9 none), box ``hb`` (index into the render's boxes), wall ``face`` (0..3), wall
    coordinate ``u``, box bottom / top ``z0, z1`` and the rows ``rtop..rbot`` the box covers."""

    K: int
    ht: np.ndarray
    hb: np.ndarray
    face: np.ndarray
    u: np.ndarray
    z0: np.ndarray
    z1: np.ndarray
    rtop: np.ndarray
    rbot: np.ndarray


def _k_nearest(boxes, camera: Camera, r: Rays):
    """Per-column slab intersections, K nearest -> (K, ht, hto, hfx, hloc, sel, nb)."""
    ox, oy, Wc = r.ox, r.oy, r.Wc
    half = math.atan(max(abs(r.xc[0]), abs(r.xc[-1])))
    sel = _cull(boxes, camera, r.fwd, half)
    b = boxes.xyz[sel]
    nb = len(sel)
    if not nb:
        ht = np.full((1, Wc), np.inf)
        return 1, ht, ht.copy(), np.zeros((1, Wc), bool), np.zeros((1, Wc), np.int64), sel, nb
    dh = r.dh
    ddx = np.where(np.abs(dh[:, 0]) < 1e-12, 1e-12, dh[:, 0])[:, None]
    ddy = np.where(np.abs(dh[:, 1]) < 1e-12, 1e-12, dh[:, 1])[:, None]
    # select the K nearest hits per column in float32, then redo those in float64
    bb32 = (b - np.array([ox, ox, oy, oy, 0, 0])).astype(np.float32)
    tin, _, _, valid = _slab(
        bb32[None, :, 0], bb32[None, :, 1], bb32[None, :, 2], bb32[None, :, 3],
        ddx.astype(np.float32), ddy.astype(np.float32),
    )  # fmt: skip
    K = int(min(K_MAX, nb, max(1, valid.sum(axis=1).max())))
    if K < nb:
        # unique keys (distance bits, box): the K nearest are one set for any algorithm
        # (numpy's SIMD selection may order ties differently)
        key = tin.astype(np.float32, copy=False).view(np.int32).astype(np.int64) << 20
        key |= np.arange(nb, dtype=np.int64)[None, :]
        idx = np.argpartition(key, K - 1, axis=1)[:, :K]
    else:
        idx = np.broadcast_to(np.arange(nb), (Wc, nb)).copy()
    bk = b[idx]  # [Wc, K, 6]
    tk, tout, facex, _ = _slab(
        bk[..., 0] - ox, bk[..., 1] - ox, bk[..., 2] - oy, bk[..., 3] - oy, ddx, ddy
    )
    order = np.argsort(tk, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    ht = np.take_along_axis(tk, order, axis=1).T  # [K, Wc]
    hto = np.take_along_axis(tout, order, axis=1).T
    hfx = np.take_along_axis(facex, order, axis=1).T
    return K, ht, hto, hfx, idx.T, sel, nb  # idx.T: local box index


def nearest_hits(boxes, camera: Camera, r: Rays) -> Hits:
    K, ht, hto, hfx, hloc, sel, nb = _k_nearest(boxes, camera, r)
    hval = np.isfinite(ht)
    ht = np.where(hval, ht, 1e9)
    hto = np.where(hval, hto, 1e9)
    hb = sel[hloc] if nb else np.zeros_like(hloc)
    dxs, dys = r.dxs, r.dys
    face = np.where(hfx, np.where(dxs > 0, 3, 1), np.where(dys > 0, 0, 2)).astype(np.int8)
    hx, hy = r.ox + ht * dxs, r.oy + ht * dys
    bb = boxes.xyz[hb]  # [K, Wc, 6]
    u = np.select(
        [face == 0, face == 1, face == 2],
        [hx - bb[..., 0], hy - bb[..., 2], bb[..., 1] - hx],
        bb[..., 3] - hy,
    )
    z0, z1 = bb[..., 4], bb[..., 5]
    h, Hc, Lr = r.h, r.Hc, r.L[None, :]
    ytop = (h - z1) * Lr / np.where(z1 < h, hto, ht)
    ybot = (h - z0) * Lr / np.where(z0 > h, hto, ht)
    rtop = np.where(hval, np.ceil(r.cyc + r.f * ytop), Hc + 1).clip(-1, Hc + 1).astype(np.int32)
    rbot = np.where(hval, np.floor(r.cyc + r.f * ybot), -2).clip(-2, Hc + 1).astype(np.int32)
    return Hits(K, ht, hb, face, u, z0, z1, rtop, rbot)


class Runs:
    """Per-pixel buffers, column-major ("T-space": [Wc, Hc], each image column contiguous).

    A column's pixels form a few runs of one label (hit k, ground ``KG = K``, sky ``KS = K + 1``);
    everything that is constant along a wall's column segment lives in a [K + 2, Wc] table
    (:meth:`table`) and is expanded with np.repeat over the runs (:meth:`expand`); row-dependent
    terms are affine in the row's ray slope."""

    def __init__(self, r: Rays, hits: Hits):
        K, Wc, Hc, rh = hits.K, r.Wc, r.Hc, r.rh
        self.K, self.KG, self.KS, self.Wc, self.Hc = K, K, K + 1, Wc, Hc
        # runs: split every column at all interval ends and the horizon; each piece gets the
        # nearest hit covering it (painting far to near), else ground / sky
        rtop, rbot = hits.rtop, hits.rbot
        bounds = np.concatenate(
            [
                np.clip(rtop, 0, Hc).T,
                np.clip(rbot + 1, 0, Hc).T,
                np.broadcast_to(np.array([0, rh, Hc], np.int32), (Wc, 3)),
            ],
            axis=1,
        )
        bounds.sort(axis=1)
        seg0, seg_len = bounds[:, :-1], np.diff(bounds, axis=1)
        cover = (seg0[:, :, None] >= rtop.T[:, None, :]) & (seg0[:, :, None] <= rbot.T[:, None, :])
        seg_lab = np.where(
            cover.any(axis=2), cover.argmax(axis=2), np.where(seg0 >= rh, self.KG, self.KS)
        )
        keep = seg_len > 0
        self.run_col = np.nonzero(keep)[0]
        self.run_lab = seg_lab[keep].astype(np.intp)
        self.run_len = seg_len[keep]
        self.flat_lab = np.repeat(self.run_lab.astype(np.int8), self.run_len)
        self.lab = self.flat_lab.reshape(Wc, Hc)

    def expand(self, tab: np.ndarray) -> np.ndarray:
        return np.repeat(tab[self.run_lab, self.run_col], self.run_len).reshape(self.Wc, self.Hc)

    def table(self, walls, ground, sky, dtype=np.float32) -> np.ndarray:
        t = np.empty((self.K + 2, self.Wc), dtype)
        t[: self.K], t[self.KG], t[self.KS] = walls, ground, sky
        return t
