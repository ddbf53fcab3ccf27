"""Room lighting: ambient light darkened near the edges, ceiling lights (point lights, no
shadows), the windows as area lights by day; :func:`shade` -> linear radiance planes."""

from __future__ import annotations

import numpy as np

from .albedo import apply_rects, box_albedo, surface_albedo
from .layout import BOX0, F32

NORMALS = ((0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0))


def _edge_occlusion(room, p, sid) -> np.ndarray:
    """Ambient darkening near the room's edges (distance to the nearest other room plane)."""
    W, D, H = room["size"]
    x, y, z = p
    big = F32(1e3)
    dmin = None
    for s, dist in ((0, z), (1, F32(H) - z), (2, x), (3, F32(W) - x), (4, y), (5, F32(D) - y)):
        dd = np.where(sid == s, big, np.abs(dist))
        dmin = dd if dmin is None else np.minimum(dmin, dd)
    return F32(0.55) + F32(0.45) * np.minimum(dmin / F32(0.6), F32(1.0))


def _irradiance(room, cond_kind: str, lights_on: bool, p, n, sid) -> list[np.ndarray]:
    """Irradiance planes (linear RGB) at hit points ``p`` with normals ``n``."""
    amb = room["ambient"] * {"day": 0.25, "dusk": 0.06, "night": 0.012}[cond_kind]
    tint = (0.92, 0.96, 1.05) if cond_kind == "day" else (0.8, 0.82, 1.0)
    n_on = len(room["lights"]) if lights_on else 0
    bounce = 0.08 if n_on else 0.0
    ao = _edge_occlusion(room, p, sid)
    E = [ao * F32(amb * tint[c] + bounce) for c in range(3)]
    sources = []
    if lights_on:
        for li in room["lights"]:
            sources.append((li["pos"], (0.0, 0.0, -1.0), li["I"], li["col"]))
    if cond_kind != "night":
        k = room["window_light"] * (1.0 if cond_kind == "day" else 0.15)
        for r in room["rects"]:
            if r["type"] not in ("window", "opening"):
                continue
            area = (r["u"][1] - r["u"][0]) * (r["v"][1] - r["v"][0])
            centre = _wall_point(room, r["wall"], (r["u"][0] + r["u"][1]) / 2, sum(r["v"]) / 2)
            nw = NORMALS[r["wall"]]
            sources.append((centre, tuple(-c for c in nw), k * area, (0.95, 0.97, 1.0)))
    for pos, axis, inten, col in sources:
        dx, dy, dz = (F32(pos[i]) - p[i] for i in range(3))
        cos_s = n[0] * dx + n[1] * dy + n[2] * dz
        cos_l = -(F32(axis[0]) * dx + F32(axis[1]) * dy + F32(axis[2]) * dz)
        d2 = dx * dx + dy * dy + dz * dz + F32(0.6)
        g = np.maximum(cos_s, F32(0.0)) * np.maximum(cos_l, F32(0.0)) / (d2 * d2)
        g *= F32(inten)
        for c in range(3):
            E[c] += g * F32(col[c])
    return E


def _wall_point(room, wall: int, u: float, v: float) -> tuple[float, float, float]:
    W, D, _ = room["size"]
    return {2: (0.0, u, v), 3: (W, u, v), 4: (u, 0.0, v), 5: (u, D, v)}[wall]


def _ceiling_lights(room, x, y, on: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mask and emitted radiance [N, 3] of the light fittings on the ceiling."""
    mask = np.zeros(x.shape, bool)
    emit = np.zeros((len(x), 3), F32)
    for li in room["lights"]:
        dx, dy = x - F32(li["pos"][0]), y - F32(li["pos"][1])
        r = F32(li["r"])
        m = (
            (np.maximum(np.abs(dx), np.abs(dy)) < r)
            if li["square"]
            else (dx * dx + dy * dy < r * r)
        )
        mask |= m
        if on:
            emit[m] = li["col"] * F32(6.0)
    return mask, emit


def _room_surface(room, s: int, u, v, fp, cond_kind: str, lights_on: bool):
    """Albedo [N, 3], emitted radiance [N, 3] and opening mask [N] of room surface ``s`` at
    surface coordinates (u, v) with pixel footprints ``fp``."""
    tiles = room["tiles"]
    a = surface_albedo(room["mat"][s], tiles, u, v, fp)
    e = np.zeros_like(a)
    op = np.zeros(len(u), bool)
    if s == 1:
        m, e = _ceiling_lights(room, u, v, lights_on)
        a[m] = F32(0.85)
    elif s >= 2:
        a[v < F32(0.1)] *= F32(0.5)  # skirting board
        apply_rects(room, s, u, v, a, e, op, cond_kind, tiles)
    return a, e, op


def shade(room, cond_kind: str, lights_on: bool, p, sid, face, fp):
    """Linear radiance planes and the opening mask of every pixel (``fp``: pixel footprints on
    the surfaces, metres, flat)."""
    H, W = sid.shape
    flat_sid = sid.ravel()
    pf = [c.ravel() for c in p]
    alb = np.zeros((flat_sid.size, 3), F32)
    emit = np.zeros_like(alb)
    opening = np.zeros(flat_sid.size, bool)
    nrm = [np.zeros(flat_sid.size, F32) for _ in range(3)]
    tiles = room["tiles"]
    x, y, z = pf
    for s in range(6):
        idx = np.flatnonzero(flat_sid == s)
        if not len(idx):
            continue
        for c in range(3):
            nrm[c][idx] = NORMALS[s][c]
        u, v = {0: (x, y), 1: (x, y), 2: (y, z), 3: (y, z), 4: (x, z), 5: (x, z)}[s]
        alb[idx], emit[idx], opening[idx] = _room_surface(
            room, s, u[idx], v[idx], fp[idx], cond_kind, lights_on
        )
    ff = face.ravel()
    for k, b in enumerate(room["boxes"]):
        idx = np.flatnonzero(flat_sid == BOX0 + k)
        if not len(idx):
            continue
        af = ff[idx]
        sign = np.where(af >= 3, F32(1.0), F32(-1.0))
        for c in range(3):
            nrm[c][idx] = np.where(af % 3 == c, sign, F32(0.0))
        alb[idx] = box_albedo(b, af, (x[idx], y[idx], z[idx]), tiles)
    E = _irradiance(room, cond_kind, lights_on, pf, nrm, flat_sid)
    planes = [(alb[:, c] * E[c] + emit[:, c]).reshape(H, W) for c in range(3)]
    return planes, opening.reshape(H, W)
