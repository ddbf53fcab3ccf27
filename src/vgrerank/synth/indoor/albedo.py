"""Surface albedo of a room: floor, wall and ceiling materials, wall rectangles (windows,
doors, pictures, openings) and furniture boxes, band-limited by the pixel footprint."""

from __future__ import annotations

import numpy as np

from .layout import F32


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def _fine(tiles, u, v, su: float = 20.0, sv: float = 20.0) -> np.ndarray:
    iu = (np.floor(u * F32(su)).astype(np.int64)) & 127
    iv = (np.floor(v * F32(sv)).astype(np.int64)) & 127
    return tiles["fine"][iv, iu]


def _low(tiles, u, v) -> np.ndarray:
    """Smooth noise (features ~1 m): nearest lookup in the pre-interpolated 256 x 256 tile."""
    iu = (np.floor(u * F32(12.5)).astype(np.int64)) & 255
    iv = (np.floor(v * F32(12.5)).astype(np.int64)) & 255
    return tiles["low"][iv, iu]


def _detail(fp: np.ndarray, period: float) -> np.ndarray:
    """Weight of a pattern of ``period`` (metres) at pixel footprint ``fp`` (metres): 1 while
    the footprint is under a quarter period, fading to 0 (the pattern's mean) at half a period,
    so that distant or grazing patterns do not alias."""
    return np.clip(F32(2.0) - F32(4.0 / period) * fp, F32(0.0), F32(1.0))


def _lines(x: np.ndarray, width: float, k: np.ndarray) -> np.ndarray:
    """Coverage of periodic lines (``frac(x) < width``), blended towards ``width`` by ``k``."""
    hard = (_frac(x) < F32(width)).astype(F32)
    return hard * k + F32(width) * (F32(1.0) - k)


def _mix(a: np.ndarray, b, w: np.ndarray) -> np.ndarray:
    """``a * (1 - w) + b * w`` row-wise (a [N, 3], b [3] or [N, 3], w [N])."""
    return a + (np.asarray(b, F32) - a) * w[:, None]


def surface_albedo(mat: dict, tiles, u, v, fp) -> np.ndarray:
    """Albedo [N, 3] of a room surface at surface coordinates (u, v) (metres), pixel
    footprints ``fp`` (metres)."""
    pat, c1, c2 = mat["pattern"], mat["c1"], mat["c2"]
    shade = F32(1.0) + F32(mat["noise"]) * (
        F32(0.6) * _low(tiles, u, v) + F32(0.4) * _fine(tiles, u, v) * _detail(fp, 0.1)
    )
    base = np.broadcast_to(c1, (len(u), 3))
    if pat == "planks":
        w = F32(mat["scale"])
        k = _detail(fp, float(w))
        row = np.floor(v / w).astype(np.int64)
        tone = tiles["tone"][row & 63] * k + F32(0.975) * (F32(1.0) - k)
        seam = _lines(v / w, 0.06, k)
        seam = F32(1.0) - (F32(1.0) - seam) * (
            F32(1.0) - _lines((u + tiles["shift"][row & 63]) / F32(1.8), 0.006, k)
        )
        grain = F32(1.0) + F32(0.12) * _fine(tiles, u, v, 3.0, 60.0) * _detail(fp, 0.05)
        return base * (tone * grain * (F32(1.0) - F32(0.45) * seam) * shade)[:, None]
    if pat == "tiles":
        s = F32(mat["scale"])
        k = _detail(fp, float(s))
        grout = F32(1.0) - (F32(1.0) - _lines(u / s, 0.03, k)) * (F32(1.0) - _lines(v / s, 0.03, k))
        alt = ((np.floor(u / s) + np.floor(v / s)).astype(np.int64) & 1).astype(F32)
        alt = alt * k + F32(0.5) * (F32(1.0) - k) if mat["checker"] else alt * F32(0.0)
        col = _mix(base, c2, alt)
        return _mix(col, F32(0.5) * c1 + F32(0.2), grout) * shade[:, None]
    if pat == "carpet":
        fine = _fine(tiles, u, v, 60.0, 60.0) * _detail(fp, 0.033)
        return base * (shade + F32(0.2) * fine)[:, None]
    if pat == "stripes":
        on = _lines(u / F32(mat["scale"]), mat["duty"], _detail(fp, mat["scale"]))
        return _mix(np.broadcast_to(c2, (len(u), 3)), c1, on) * shade[:, None]
    if pat == "brick":
        k = _detail(fp, 0.075)
        row = np.floor(v / F32(0.075))
        bu = u / F32(0.225) + (row.astype(np.int64) & 1).astype(F32) * F32(0.5)
        mortar = F32(1.0) - (F32(1.0) - _lines(v / F32(0.075), 0.14, k)) * (
            F32(1.0) - _lines(bu, 0.05, k)
        )
        idx = (row.astype(np.int64) * 7 + np.floor(bu).astype(np.int64) * 13) & 63
        tone = tiles["tone"][idx] * k + F32(0.975) * (F32(1.0) - k)
        return _mix(base * (tone * shade)[:, None], np.full(3, 0.55, F32), mortar)
    if pat == "wainscot":
        low = (v < F32(mat["height"])).astype(F32)
        groove = _lines(u / F32(0.4), 0.02, _detail(fp, 0.4)) * low
        rail = (np.abs(v - F32(mat["height"])) < F32(0.03)).astype(F32)
        col = _mix(base, c2, low) * shade[:, None]
        return col * (F32(1.0) - F32(0.4) * np.maximum(groove, rail))[:, None]
    return base * shade[:, None]


def rect_uv(rect, u, v, margin: float = 0.0):
    (u0, u1), (v0, v1) = rect["u"], rect["v"]
    return (
        (u >= F32(u0 - margin))
        & (u < F32(u1 + margin))
        & (v >= F32(v0 - margin))
        & (v < F32(v1 + margin))
    )


def _glass(kind: str, rect, u, v, tiles) -> np.ndarray:
    """Emitted radiance [N, 3] of window glass: blown-out daylight, dusk, or dark night."""
    (v0, v1) = rect["v"]
    rel = (v - F32(v0)) / F32(max(v1 - v0, 1e-3))
    if kind == "day":
        base = np.array([5.0, 5.3, 6.0], F32)
        k = np.where(rel < F32(0.3), F32(0.35), F32(1.0)) + F32(0.05) * _fine(tiles, u, v, 4.0, 4.0)
    elif kind == "dusk":
        base = np.array([0.55, 0.42, 0.5], F32)
        k = F32(0.6) + F32(0.6) * rel
    else:
        base = np.array([0.004, 0.005, 0.009], F32)
        k = F32(1.0) + F32(30.0) * (_fine(tiles, u, v, 3.0, 3.0) > F32(0.96))
    return base[None, :] * k[:, None]


def apply_rects(room, sel_wall: int, u, v, alb, emit, opening, kind, tiles) -> None:
    """Windows, doors, pictures and openings on one wall (arrays of its pixels, in place)."""
    for r in room["rects"]:
        if r["wall"] != sel_wall:
            continue
        outer = rect_uv(r, u, v, 0.06 if r["frame"] is not None else 0.0)
        if not outer.any():
            continue
        inner = rect_uv(r, u, v)
        if r["frame"] is not None:
            alb[outer & ~inner] = r["frame"]
        if r["type"] == "opening":
            opening[inner] = True
            alb[inner] = 0.0
        elif r["type"] == "window":
            glass = inner
            if r["mullions"]:
                um, vm = (r["u"][0] + r["u"][1]) / 2, r["v"][0] + 0.65 * (r["v"][1] - r["v"][0])
                bar = (np.abs(u - F32(um)) < F32(0.03)) | (np.abs(v - F32(vm)) < F32(0.03))
                alb[inner & bar] = r["frame"]
                glass = inner & ~bar
            alb[glass] = 0.02
            emit[glass] = _glass(kind, r, u[glass], v[glass], tiles)
        elif r["type"] == "door":
            col = np.broadcast_to(r["c"], (int(inner.sum()), 3)).copy()
            ui, vi = u[inner], v[inner]
            panel = (_frac((vi - F32(0.2)) / F32(0.9)) < F32(0.04)) | (
                np.abs(ui - F32((r["u"][0] + r["u"][1]) / 2)) < F32(0.02)
            )
            col[panel] *= F32(0.6)
            knob = (np.abs(ui - F32(r["u"][1] - 0.1)) < F32(0.03)) & (
                np.abs(vi - F32(1.0)) < F32(0.03)
            )
            col[knob] = F32(0.02)
            alb[inner] = col
        else:  # picture
            ui, vi = u[inner], v[inner]
            x = (ui + vi) if r["diag"] else ui
            band = (np.floor(x / F32(r["stripe"])).astype(np.int64) % 3).astype(np.int64)
            alb[inner] = np.stack(r["cols"])[band]


def box_albedo(b: dict, axis_face: np.ndarray, p, tiles) -> np.ndarray:
    """Albedo [N, 3] of furniture box ``b`` at hit points ``p`` (entry faces ``axis_face``)."""
    x, y, z = p
    ax = axis_face % 3
    u = np.where(ax == 0, y, x)
    v = np.where(ax == 2, y, z)
    shade = F32(1.0) + F32(0.05) * _fine(tiles, u, v)
    col = np.where((ax == 2)[:, None], b["top"][None, :], b["c"][None, :]) * shade[:, None]
    x0, x1, y0, y1, z0, z1 = b["xyz"]
    if b["style"] == "cabinet":
        seam = (ax != 2) & (
            (_frac(u / F32(0.5)) < F32(0.02)) | (np.abs(v - F32(z1 - 0.03)) < F32(0.03))
        )
        col[seam] *= F32(0.5)
    elif b["style"] == "shelf":
        front = {2: 3, 3: 0, 4: 4, 5: 1}.get(b.get("wall", -1), -1)
        on = axis_face == front
        board = _frac((v - F32(z0)) / F32(0.36)) < F32(0.1)
        book = on & ~board
        idx = np.floor(u / F32(0.045)).astype(np.int64)
        top = F32(0.1 * 0.36) + F32(0.36 * 0.6) + F32(0.05) * tiles["tone"][idx & 63]
        book_on = book & ((v - F32(z0)) - np.floor((v - F32(z0)) / F32(0.36)) * F32(0.36) < top)
        col[book] = b["c"] * F32(0.15)
        col[book_on] = tiles["books"][idx[book_on] & 63]
    elif b["style"] == "sofa":
        col *= (F32(1.0) + F32(0.25) * _fine(tiles, u, v, 50.0, 50.0))[:, None]
    return col
