"""Ray casting a room: camera rays, the room's six planes hit from inside, furniture boxes
(slab test inside each box's projected bounding rectangle) and the pixel footprint."""

from __future__ import annotations

import numpy as np

from ..camera import Camera, pitch_matrix
from .layout import BOX0, F32


def rays(room: dict, yaw_deg: float, pitch_deg: float, width: int, height: int, fov: float):
    """Per-pixel ray directions (3 float32 [H, W] arrays, camera ray z = 1) in room space."""
    cam = Camera(*room["cam"], yaw_deg, pitch_deg, width, height, fov)
    R0, P = cam.R0.tolist(), pitch_matrix(pitch_deg).tolist()
    R = [
        [P[i][0] * R0[0][j] + P[i][1] * R0[1][j] + P[i][2] * R0[2][j] for j in range(3)]
        for i in range(3)
    ]
    f = cam.f
    xc = ((np.arange(width, dtype=np.float64) - (width - 1) / 2) / f).astype(F32)[None, :]
    yc = ((np.arange(height, dtype=np.float64) - (height - 1) / 2) / f).astype(F32)[:, None]
    dirs = []
    for j in range(3):
        d = xc * F32(R[0][j]) + yc * F32(R[1][j])
        d += F32(R[2][j])
        np.copyto(d, F32(1e-6), where=np.abs(d) < F32(1e-6))
        dirs.append(d)
    return cam, dirs


def hit_room(room: dict, dirs) -> tuple[np.ndarray, np.ndarray]:
    """Distance (in units of the ray) and surface id of the room plane every ray leaves by."""
    ox, oy, oz = room["cam"]
    W, D, H = room["size"]
    best = sid = None
    for axis, (lo, hi), (s_lo, s_hi) in (
        (2, (0.0, H), (0, 1)),
        (0, (0.0, W), (2, 3)),
        (1, (0.0, D), (4, 5)),
    ):
        o = (ox, oy, oz)[axis]
        d = dirs[axis]
        pos = d > 0
        t = np.where(pos, F32(hi - o) / d, F32(lo - o) / d)
        s = np.where(pos, np.int16(s_hi), np.int16(s_lo))
        if best is None:
            best, sid = t, s
        else:
            closer = t < best
            np.copyto(best, t, where=closer)
            np.copyto(sid, s, where=closer)
    return best, sid


def _box_rect(cam: Camera, xyz, shape) -> tuple[slice, slice]:
    """Image rows/columns that can see the box (its projected corners' bounding rectangle)."""
    x0, x1, y0, y1, z0, z1 = xyz
    pts = np.array([(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
    uv = cam.project(pts)
    H, W = shape
    if np.isnan(uv).any():
        return slice(0, H), slice(0, W)
    c0, r0 = np.floor(uv.min(axis=0)) - 2
    c1, r1 = np.ceil(uv.max(axis=0)) + 3
    return slice(int(np.clip(r0, 0, H)), int(np.clip(r1, 0, H))), slice(
        int(np.clip(c0, 0, W)), int(np.clip(c1, 0, W))
    )


def hit_boxes(room: dict, cam: Camera, dirs, t: np.ndarray, sid: np.ndarray, face: np.ndarray):
    """Nearest furniture hits: update ``t``, ``sid`` (10 + box) and ``face`` (entry axis 0-2,
    +3 when entering through the box's max side) in place."""
    o = room["cam"]
    for k, b in enumerate(room["boxes"]):
        rs, cs = _box_rect(cam, b["xyz"], t.shape)
        if rs.start >= rs.stop or cs.start >= cs.stop:
            continue
        tin = tout = ent = None
        for axis in range(3):
            d = dirs[axis][rs, cs]
            ta = F32(b["xyz"][2 * axis] - o[axis]) / d
            tb = F32(b["xyz"][2 * axis + 1] - o[axis]) / d
            lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
            side = np.where(d < 0, np.int8(axis + 3), np.int8(axis))
            if tin is None:
                tin, tout, ent = lo, hi, side
            else:
                later = lo > tin
                tin = np.where(later, lo, tin)
                ent = np.where(later, side, ent)
                tout = np.minimum(tout, hi)
        tv = t[rs, cs]
        hit = (tin < tout) & (tin > F32(0.01)) & (tin < tv)
        np.copyto(tv, tin, where=hit)
        np.copyto(sid[rs, cs], np.int16(BOX0 + k), where=hit)
        np.copyto(face[rs, cs], ent, where=hit)


def footprint(cam: Camera, dirs, t: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Flat array of the size (metres) of each pixel on the room surface it sees, stretched by
    the obliquity of the view (grazing floors and walls get large footprints)."""
    dx, dy, dz = dirs
    norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    along = np.where(sid < 2, np.abs(dz), np.where(sid < 4, np.abs(dx), np.abs(dy)))
    cos = np.maximum(along / norm, F32(0.05))
    np.copyto(cos, F32(1.0), where=sid >= BOX0)
    return (t * norm * F32(1.0 / cam.f) / cos).ravel()
