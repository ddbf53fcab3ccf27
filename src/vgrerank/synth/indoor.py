"""Indoor rooms and half-indoor shots for the SynthCity photo collection.

A room is a box (x right, y forward, z up, metres; walls ``x = 0``, ``x = W``, ``y = 0``,
``y = D``) with a textured floor (planks, tiles, carpet, concrete), walls (paint, wallpaper
stripes, brick, wainscot), a ceiling with lights, windows (bright blown-out daylight, dusky or
dark at night), doors, pictures, and furniture-like boxes (cabinets, bookshelves, sofas, tables
with legs, plinths, columns). :func:`make_room` draws one (kinds :data:`ROOM_KINDS`), and
:func:`render_room` ray-casts it with a pinhole camera: every pixel's ray hits the room's box
from inside (nearest of the six planes) or a furniture box (slab test, evaluated only inside the
box's projected bounding rectangle). Shading: ambient light darkened near the room's edges,
ceiling lights (point lights, no shadows) and, by day, the windows as area lights; the linear
radiance goes through SynthCity's camera response (:func:`.conditions.camera_response_planes`:
exposure, noise and, at night, the night-camera effects of :mod:`.sensor`), so indoor photos
share the sensor look of the street renders.

Half-indoor shots (:func:`half_indoor`): a room whose front wall has an opening (a door, or an
arcade's wide opening between pillars); the camera stands behind it, and the opening shows the
given outdoor render of the same view direction.

Determinism: geometry and shading use exactly rounded float32 operations only (+ - * / sqrt,
min/max, floor); transcendental functions are Python ``math`` on scalars; all randomness comes
from the given generator.
"""

from __future__ import annotations

import numpy as np

from . import conditions as cnd
from .camera import Camera, pitch_matrix

ROOM_KINDS = ("home", "cafe", "shop", "museum", "corridor", "hall", "office")
HALF_KINDS = ("door", "arcade")
F32 = np.float32
# surfaces: 0 floor, 1 ceiling, 2 wall x=0, 3 wall x=W, 4 wall y=0, 5 wall y=D; boxes: 10 + k
NORMALS = ((0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0))
BOX0 = 10

WALL_COLOURS = [
    (236, 232, 222), (245, 243, 238), (222, 214, 196), (200, 212, 226), (232, 206, 190),
    (182, 196, 170), (160, 160, 158), (128, 44, 42), (44, 54, 84), (214, 190, 140),
    (90, 110, 100), (240, 220, 200), (170, 140, 120), (60, 60, 62),
]  # fmt: skip
FLOOR_COLOURS = {
    "planks": [(150, 100, 60), (190, 150, 100), (110, 70, 40), (170, 130, 90), (90, 60, 40)],
    "tiles": [(205, 203, 196), (60, 60, 62), (170, 90, 60), (220, 220, 214), (120, 130, 140)],
    "carpet": [(120, 34, 34), (60, 70, 92), (140, 130, 110), (80, 90, 60), (100, 100, 104)],
    "concrete": [(150, 150, 145), (120, 118, 112), (175, 170, 160)],
}
WOOD = [(120, 80, 50), (160, 120, 80), (80, 55, 35), (200, 170, 130), (60, 40, 30)]
FABRIC = [(150, 40, 40), (50, 70, 120), (90, 90, 92), (180, 170, 150), (60, 100, 80), (40, 40, 44)]
PAINTED = [(240, 240, 236), (30, 30, 32), (200, 60, 50), (60, 120, 170), (230, 200, 80)]
LIGHT_COLOURS = [(1.0, 0.82, 0.6), (1.0, 0.93, 0.85), (0.92, 0.96, 1.0)]


def _lin(c) -> np.ndarray:
    """sRGB 0..255 triple -> linear float32 (Python ``math``, as the conditions' tables)."""
    return np.array([(min(max(float(v), 0.0), 255.0) / 255.0) ** 2.2 for v in c], F32)


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _jitter(rng: np.random.Generator, c, amount: float = 12.0) -> np.ndarray:
    return _lin(np.asarray(c, float) + rng.uniform(-amount, amount, 3))


# ---- room description -------------------------------------------------------------------------


def _material(rng: np.random.Generator, surface: str, kind: str) -> dict:
    """A surface material: pattern name, two colours (linear), scale and noise amplitude."""
    if surface == "floor":
        pat = _pick(rng, ("planks", "planks", "tiles", "carpet", "concrete"))
        if kind in ("museum", "hall") and rng.random() < 0.6:
            pat = "tiles"
        c1 = _jitter(rng, _pick(rng, FLOOR_COLOURS[pat]))
        c2 = _jitter(rng, _pick(rng, FLOOR_COLOURS["tiles"])) if pat == "tiles" else c1 * F32(0.6)
        scale = 1.0
        if pat == "planks":
            scale = float(rng.uniform(0.09, 0.2))
        elif pat == "tiles":
            scale = float(rng.uniform(0.2, 0.6))
        return {
            "pattern": pat,
            "c1": c1,
            "c2": c2,
            "scale": scale,
            "checker": bool(rng.random() < 0.4),
            "noise": 0.15,
        }
    if surface == "ceiling":
        pat = "planks" if rng.random() < 0.12 else "plain"
        base = _pick(rng, WOOD) if pat == "planks" else _pick(rng, WALL_COLOURS[:4])
        c1 = _jitter(rng, base, 6)
        return {"pattern": pat, "c1": c1, "c2": c1 * F32(0.7), "scale": 0.25, "noise": 0.04}
    r = rng.random()
    pat = "plain" if r < 0.55 else "stripes" if r < 0.72 else "brick" if r < 0.84 else "wainscot"
    c1 = _jitter(rng, _pick(rng, WALL_COLOURS))
    if pat == "brick":
        c1 = _jitter(
            rng, _pick(rng, [(150, 70, 50), (170, 100, 70), (120, 60, 45), (200, 190, 170)])
        )
    c2 = _jitter(rng, _pick(rng, WALL_COLOURS + WOOD))
    return {
        "pattern": pat,
        "c1": c1,
        "c2": c2,
        "scale": float(rng.uniform(0.12, 0.4)) if pat == "stripes" else 0.225,
        "duty": float(rng.uniform(0.3, 0.7)),
        "height": float(rng.uniform(0.8, 1.2)),
        "noise": 0.06,
    }


def _materials(rng: np.random.Generator, kind: str) -> dict:
    """Materials of the six room surfaces: the walls share one, sometimes but an accent wall."""
    mats = {0: _material(rng, "floor", kind), 1: _material(rng, "ceiling", kind)}
    mats.update(dict.fromkeys((2, 3, 4, 5), _material(rng, "wall", kind)))
    if rng.random() < 0.25:
        mats[int(rng.integers(2, 6))] = _material(rng, "wall", kind)
    return mats


def _size(rng: np.random.Generator, kind: str) -> tuple[float, float, float]:
    if kind == "corridor":
        return (
            float(rng.uniform(1.8, 2.8)),
            float(rng.uniform(8.0, 20.0)),
            float(rng.uniform(2.4, 3.2)),
        )
    if kind == "hall":
        return float(rng.uniform(9, 18)), float(rng.uniform(10, 22)), float(rng.uniform(5.0, 9.0))
    if kind == "museum":
        return float(rng.uniform(6, 12)), float(rng.uniform(7, 14)), float(rng.uniform(3.5, 5.5))
    return float(rng.uniform(3.2, 8.0)), float(rng.uniform(3.5, 9.0)), float(rng.uniform(2.4, 3.4))


def _wall_len(size, wall: int) -> float:
    return size[1] if wall in (2, 3) else size[0]


def _free_span(rng, length: float, width: float, taken: list) -> tuple[float, float] | None:
    """A span of ``width`` along a wall of ``length`` not overlapping ``taken`` (10 tries)."""
    for _ in range(10):
        if width > length - 0.4:
            return None
        u0 = float(rng.uniform(0.2, length - width - 0.2))
        if all(u0 + width + 0.15 < a or u0 > b + 0.15 for a, b in taken):
            taken.append((u0, u0 + width))
            return u0, u0 + width
    return None


def _rects(rng, kind: str, size, taken: dict) -> list[dict]:
    """Windows, doors and pictures on the walls."""
    W, D, H = size
    out = []
    n_win = int(rng.integers(0, 4)) if kind != "corridor" else int(rng.integers(0, 2))
    if kind == "hall":
        n_win = int(rng.integers(2, 6))
    for _ in range(n_win):
        wall = int(rng.integers(2, 6))
        width = float(rng.uniform(0.7, 2.2 if kind != "hall" else 3.0))
        span = _free_span(rng, _wall_len(size, wall), width, taken[wall])
        if span is None:
            continue
        v0 = float(rng.uniform(0.5, 1.0))
        v1 = min(H - 0.25, v0 + float(rng.uniform(1.0, 2.0 if kind != "hall" else 4.0)))
        out.append(
            {
                "type": "window",
                "wall": wall,
                "u": span,
                "v": (v0, v1),
                "frame": _jitter(rng, _pick(rng, PAINTED[:2] + WOOD[:2]), 5),
                "mullions": bool(rng.random() < 0.6),
            }
        )
    for _ in range(int(rng.integers(0, 3)) + (3 if kind == "corridor" else 0)):
        wall = int(rng.integers(2, 6)) if kind != "corridor" else int(rng.integers(2, 4))
        span = _free_span(rng, _wall_len(size, wall), float(rng.uniform(0.8, 1.0)), taken[wall])
        if span is None:
            continue
        out.append(
            {
                "type": "door",
                "wall": wall,
                "u": span,
                "v": (0.0, min(H - 0.1, 2.05)),
                "c": _jitter(rng, _pick(rng, WOOD + PAINTED)),
                "frame": _jitter(rng, _pick(rng, WOOD)),
            }
        )
    n_pic = int(rng.integers(0, 4)) + (int(rng.integers(3, 8)) if kind == "museum" else 0)
    for _ in range(n_pic):
        wall = int(rng.integers(2, 6))
        w = float(rng.uniform(0.4, 1.6))
        span = _free_span(rng, _wall_len(size, wall), w, taken[wall])
        if span is None:
            continue
        v0 = float(rng.uniform(1.1, 1.6))
        v1 = min(H - 0.2, v0 + w * float(rng.uniform(0.6, 1.3)))
        cols = [_jitter(rng, rng.uniform(20, 235, 3), 0) for _ in range(3)]
        out.append(
            {
                "type": "picture",
                "wall": wall,
                "u": span,
                "v": (v0, v1),
                "cols": cols,
                "frame": _jitter(rng, _pick(rng, [(30, 30, 30), (170, 140, 60), (240, 240, 240)])),
                "stripe": float(rng.uniform(0.08, 0.4)),
                "diag": bool(rng.random() < 0.5),
            }
        )
    return out


def _near(box: dict, cam, margin: float) -> bool:
    """Whether the camera is over the box's footprint grown by ``margin``."""
    x0, x1, y0, y1 = box["xyz"][:4]
    return x0 - margin < cam[0] < x1 + margin and y0 - margin < cam[1] < y1 + margin


def _box(xyz, style: str, c, top=None) -> dict:
    c = np.asarray(c, F32)
    return {
        "xyz": tuple(float(v) for v in xyz),
        "style": style,
        "c": c,
        "top": c if top is None else np.asarray(top, F32),
    }


def _against_wall(rng, size, wall: int, width: float, depth: float, taken: dict):
    """Footprint (x0, x1, y0, y1) of an item of ``width`` x ``depth`` against ``wall``."""
    W, D, _ = size
    span = _free_span(rng, _wall_len(size, wall), width, taken[wall])
    if span is None:
        return None
    u0, u1 = span
    if wall == 2:
        return (0.02, 0.02 + depth, u0, u1)
    if wall == 3:
        return (W - 0.02 - depth, W - 0.02, u0, u1)
    if wall == 4:
        return (u0, u1, 0.02, 0.02 + depth)
    return (u0, u1, D - 0.02 - depth, D - 0.02)


def _table(x: float, y: float, w: float, d: float, h: float, wood) -> list[dict]:
    x0, x1, y0, y1 = x - w / 2, x + w / 2, y - d / 2, y + d / 2
    out = [_box((x0, x1, y0, y1, h - 0.04, h), "plain", wood * F32(0.8), wood)]
    leg = 0.05
    for lx, ly in ((x0, y0), (x1 - leg, y0), (x0, y1 - leg), (x1 - leg, y1 - leg)):
        out.append(_box((lx, lx + leg, ly, ly + leg, 0.0, h - 0.04), "plain", wood * F32(0.6)))
    return out


def _wall_items(rng, kind: str, size, taken: dict) -> list[dict]:
    """Cabinets, bookshelves and sofas against the walls."""
    out = []
    n = int(rng.integers(1, 5)) if kind != "corridor" else int(rng.integers(0, 2))
    if kind == "shop":
        n += 3
    for _ in range(n):
        wall = int(rng.integers(2, 6))
        style = _pick(rng, ("cabinet", "shelf", "shelf", "sofa") if kind != "shop" else ("shelf",))
        if style == "sofa":
            w, d, h = float(rng.uniform(1.4, 2.4)), 0.85, 0.45
        else:
            w, d = float(rng.uniform(0.7, 2.2)), float(rng.uniform(0.35, 0.6))
            h = float(rng.uniform(0.8, min(2.3, size[2] - 0.2)))
        fp = _against_wall(rng, size, wall, w, d, taken)
        if fp is None:
            continue
        x0, x1, y0, y1 = fp
        if style == "sofa":
            col = _jitter(rng, _pick(rng, FABRIC))
            out.append(_box((x0, x1, y0, y1, 0.0, h), "sofa", col))
            bx = {
                2: (x0, x0 + 0.22, y0, y1),
                3: (x1 - 0.22, x1, y0, y1),
                4: (x0, x1, y0, y0 + 0.22),
                5: (x0, x1, y1 - 0.22, y1),
            }[wall]
            out.append(_box((*bx, h, 0.9), "sofa", col * F32(0.9)))
        else:
            col = _jitter(rng, _pick(rng, WOOD + PAINTED[:2]))
            out.append({**_box((x0, x1, y0, y1, 0.0, h), style, col), "wall": wall})
    return out


def _centre_items(rng, kind: str, size, cam) -> list[dict]:
    """Tables, plinths, counters and columns away from the walls."""
    W, D, H = size
    out = []
    wood = _jitter(rng, _pick(rng, WOOD))
    if kind == "hall" or (kind == "museum" and rng.random() < 0.4):
        cs = float(rng.uniform(0.4, 0.9))
        col = _jitter(rng, _pick(rng, WALL_COLOURS[:4] + [(200, 195, 185)]))
        for x in np.arange(2.5, W - 2.0, float(rng.uniform(3.0, 5.0))).tolist():
            for y in (D * 0.3, D * 0.7):
                out.append(
                    _box((x - cs / 2, x + cs / 2, y - cs / 2, y + cs / 2, 0, H), "plain", col)
                )
    n_tab = {
        "cafe": int(rng.integers(2, 6)),
        "home": int(rng.integers(0, 2)),
        "office": int(rng.integers(1, 4)),
    }.get(kind, 0)
    for _ in range(n_tab):
        x, y = float(rng.uniform(0.8, W - 0.8)), float(rng.uniform(0.8, D - 0.8))
        w, d = float(rng.uniform(0.6, 1.6)), float(rng.uniform(0.6, 1.0))
        out += _table(x, y, w, d, float(rng.uniform(0.72, 0.78)), wood)
        if kind == "cafe":
            chair = _jitter(rng, _pick(rng, WOOD + PAINTED))
            cx = x + w / 2 + 0.3
            out.append(_box((cx - 0.2, cx + 0.2, y - 0.2, y + 0.2, 0.0, 0.46), "plain", chair))
            out.append(_box((cx + 0.16, cx + 0.2, y - 0.2, y + 0.2, 0.46, 0.9), "plain", chair))
    if kind == "museum":
        for _ in range(int(rng.integers(1, 4))):
            x, y = float(rng.uniform(1.0, W - 1.0)), float(rng.uniform(1.0, D - 1.0))
            s = float(rng.uniform(0.4, 0.8))
            out.append(
                _box(
                    (x - s / 2, x + s / 2, y - s / 2, y + s / 2, 0, 1.0),
                    "plain",
                    _jitter(rng, (235, 235, 230), 5),
                )
            )
            t = s * 0.35
            out.append(
                _box(
                    (x - t, x + t, y - t, y + t, 1.0, 1.0 + float(rng.uniform(0.3, 1.0))),
                    "plain",
                    _jitter(rng, rng.uniform(30, 220, 3), 0),
                )
            )
    if kind in ("shop", "cafe") and rng.random() < 0.7:
        x0 = float(rng.uniform(0.5, max(0.6, W - 3.0)))
        y = float(rng.uniform(1.0, D - 1.0))
        out.append(_box((x0, min(W - 0.3, x0 + 2.5), y, y + 0.6, 0, 1.05), "cabinet", wood))
    return [b for b in out if not _near(b, cam, 0.5)]


def _lights(rng, kind: str, size) -> list[dict]:
    W, D, H = size
    col = np.array(_pick(rng, LIGHT_COLOURS), F32)
    nx = min(3, max(1, round(W / float(rng.uniform(2.5, 4.5)))))
    ny = min(3, max(1, round(D / float(rng.uniform(2.5, 4.5)))))
    r = float(rng.uniform(0.12, 0.35))
    square = bool(rng.random() < 0.4)
    out = []
    for i in range(nx):
        for j in range(ny):
            out.append(
                {
                    "pos": ((i + 0.5) * W / nx, (j + 0.5) * D / ny, H),
                    "r": r,
                    "square": square,
                    "I": float(rng.uniform(1.2, 2.2)) * (H / 2.8) ** 2,
                    "col": col,
                }
            )
    return out


def _camera_spot(rng, size) -> tuple[tuple[float, float, float], float]:
    """A camera near one wall looking into the room: position and yaw (0 faces ``+y``)."""
    W, D, _ = size
    back = int(rng.integers(2, 6)) if W > 3.0 else int(rng.integers(4, 6))
    depth = W if back in (2, 3) else D
    off = float(rng.uniform(0.5, max(0.6, 0.35 * depth)))
    along = float(rng.uniform(0.6, (D if back in (2, 3) else W) - 0.6))
    x, y, yaw = {
        2: (off, along, 90.0),
        3: (W - off, along, 270.0),
        4: (along, off, 0.0),
        5: (along, D - off, 180.0),
    }[back]
    return (x, y, float(rng.uniform(1.45, 1.75))), yaw + float(rng.uniform(-45.0, 45.0))


def make_room(
    rng: np.random.Generator, *, kind: str | None = None, opening: str | None = None
) -> dict:
    """Draw a room of ``kind`` (default: random of :data:`ROOM_KINDS`) and a camera position in
    it. ``opening`` ``'door'`` or ``'arcade'`` opens the front wall (``y = D``) for a
    half-indoor shot and puts the camera 0.6-4 m behind it."""
    kind = kind or _pick(rng, ROOM_KINDS)
    size = _size(rng, kind)
    if opening is not None:
        size = (max(size[0], 3.0), max(size[1], 4.5), size[2])
    W, D, H = size
    taken: dict[int, list] = {w: [] for w in range(2, 6)}
    rects, boxes = [], []
    if opening is not None:
        rects, boxes = _opening(rng, opening, size, taken)
        u0, u1 = rects[0]["u"]
        cam = (
            float(np.clip(rng.uniform(u0, u1), 0.5, W - 0.5)),
            D - float(rng.uniform(0.6, min(4.0, D - 0.6))),
            float(rng.uniform(1.45, 1.75)),
        )
        taken[5].append((0.0, W))
        yaw = float(rng.uniform(-25.0, 25.0))
    else:
        cam, yaw = _camera_spot(rng, size)
    rects += _rects(rng, kind, size, taken)
    boxes += _wall_items(rng, kind, size, taken) + _centre_items(rng, kind, size, cam)
    boxes = [b for b in boxes if not _near(b, cam, 0.3)]
    tile = rng.uniform(-1.0, 1.0, (128, 128)).astype(F32)
    low = _low_tile(rng)
    return {
        "kind": kind,
        "opening": opening,
        "size": size,
        "mat": _materials(rng, kind),
        "rects": rects,
        "boxes": boxes,
        "lights": _lights(rng, kind, size),
        "cam": cam,
        "yaw": yaw,
        "tiles": {
            "fine": tile,
            "low": low,
            "tone": rng.uniform(0.75, 1.2, 64).astype(F32),
            "shift": rng.uniform(0.0, 3.0, 64).astype(F32),
            "books": np.stack([_jitter(rng, rng.uniform(20, 230, 3), 0) for _ in range(64)]),
        },
        "window_light": float(rng.uniform(2.0, 5.0)),
        "ambient": float(rng.uniform(0.6, 1.4)),
    }


def _opening(rng, kind: str, size, taken: dict) -> tuple[list, list]:
    """The front wall's opening (a door, or an arcade between pillars) and the arcade pillars."""
    W, D, H = size
    if kind == "door":
        w = float(rng.uniform(1.0, min(2.4, W - 0.6)))
        u0 = float(rng.uniform(0.3, W - w - 0.3))
        top = min(H - 0.2, float(rng.uniform(2.1, 2.7)))
        return [
            {
                "type": "opening",
                "wall": 5,
                "u": (u0, u0 + w),
                "v": (0.0, top),
                "frame": _jitter(rng, _pick(rng, WOOD + PAINTED[:2])),
            }
        ], []
    top = H - float(rng.uniform(0.25, 0.6))
    rect = {"type": "opening", "wall": 5, "u": (0.25, W - 0.25), "v": (0.0, top), "frame": None}
    ps = float(rng.uniform(0.3, 0.6))
    col = _jitter(rng, _pick(rng, WALL_COLOURS[:6] + [(200, 190, 170)]))
    pillars = [
        _box((x - ps / 2, x + ps / 2, D - ps - 0.02, D - 0.02, 0.0, H), "plain", col)
        for x in np.arange(
            float(rng.uniform(0.5, 1.5)), W - 0.3, float(rng.uniform(2.5, 4.0))
        ).tolist()
    ]
    return [rect], pillars


# ---- ray casting ------------------------------------------------------------------------------


def _rays(room: dict, yaw_deg: float, pitch_deg: float, width: int, height: int, fov: float):
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


def _hit_room(room: dict, dirs) -> tuple[np.ndarray, np.ndarray]:
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


def _hit_boxes(room: dict, cam: Camera, dirs, t: np.ndarray, sid: np.ndarray, face: np.ndarray):
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


# ---- materials ----------------------------------------------------------------------------------


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


def _low_tile(rng: np.random.Generator) -> np.ndarray:
    """256 x 256 smooth noise: 17 x 17 random values (wrapped) interpolated bilinearly."""
    g = rng.uniform(-1.0, 1.0, (17, 17)).astype(F32)
    g[16, :], g[:, 16] = g[0, :], g[:, 0]
    c = np.arange(256, dtype=F32) / F32(16.0)
    return cnd.bilinear(
        g, np.broadcast_to(c[None, :], (256, 256)), np.broadcast_to(c[:, None], (256, 256))
    )


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


def _surface_albedo(mat: dict, tiles, u, v, fp) -> np.ndarray:
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


def _rect_uv(rect, u, v, margin: float = 0.0):
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


def _apply_rects(room, sel_wall: int, u, v, alb, emit, opening, kind, tiles) -> None:
    """Windows, doors, pictures and openings on one wall (arrays of its pixels, in place)."""
    for r in room["rects"]:
        if r["wall"] != sel_wall:
            continue
        outer = _rect_uv(r, u, v, 0.06 if r["frame"] is not None else 0.0)
        if not outer.any():
            continue
        inner = _rect_uv(r, u, v)
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


def _box_albedo(b: dict, axis_face: np.ndarray, p, tiles) -> np.ndarray:
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


# ---- shading ----------------------------------------------------------------------------------


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
    a = _surface_albedo(room["mat"][s], tiles, u, v, fp)
    e = np.zeros_like(a)
    op = np.zeros(len(u), bool)
    if s == 1:
        m, e = _ceiling_lights(room, u, v, lights_on)
        a[m] = F32(0.85)
    elif s >= 2:
        a[v < F32(0.1)] *= F32(0.5)  # skirting board
        _apply_rects(room, s, u, v, a, e, op, cond_kind, tiles)
    return a, e, op


def _shade(room, cond_kind: str, lights_on: bool, p, sid, face, fp):
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
        alb[idx] = _box_albedo(b, af, (x[idx], y[idx], z[idx]), tiles)
    E = _irradiance(room, cond_kind, lights_on, pf, nrm, flat_sid)
    planes = [(alb[:, c] * E[c] + emit[:, c]).reshape(H, W) for c in range(3)]
    return planes, opening.reshape(H, W)


def _footprint(cam: Camera, dirs, t: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Flat array of the size (metres) of each pixel on the room surface it sees, stretched by
    the obliquity of the view (grazing floors and walls get large footprints)."""
    dx, dy, dz = dirs
    norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    along = np.where(sid < 2, np.abs(dz), np.where(sid < 4, np.abs(dx), np.abs(dy)))
    cos = np.maximum(along / norm, F32(0.05))
    np.copyto(cos, F32(1.0), where=sid >= BOX0)
    return (t * norm * F32(1.0 / cam.f) / cos).ravel()


def render_room(
    room: dict,
    cond: dict,
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    fov_deg: float,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
    auto_exposure: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``room`` from its camera (``yaw_deg``: 0 faces the front wall ``y = D``,
    clockwise) under the resolved SynthCity condition ``cond`` (its ``condition`` decides the
    window light and whether the lights are on; its camera parameters the response) -> (RGB
    uint8 [H, W, 3], opening mask [H, W] bool: pixels that see through an opening)."""
    cam, dirs = _rays(room, yaw_deg, pitch_deg, width, height, fov_deg)
    t, sid = _hit_room(room, dirs)
    face = np.zeros(t.shape, np.int8)
    _hit_boxes(room, cam, dirs, t, sid, face)
    p = [F32(room["cam"][i]) + t * dirs[i] for i in range(3)]
    kind = cond["condition"]
    lights_on = kind != "day" or bool(rng.random() < 0.5)
    planes, opening = _shade(room, kind, lights_on, p, sid, face, _footprint(cam, dirs, t, sid))
    c = dict(cond)
    c["blur_sigma"] = max(0.6, float(c.get("blur_sigma", 0.0)))
    if auto_exposure:
        c.update(auto_exposure=True, key={"day": 0.2, "dusk": 0.15, "night": 0.11}[kind])
        c["max_gain"] = max(float(c["max_gain"]), 6.0)
        c["exposure"] = float(c["exposure"]) * 0.6
    planesT = [np.ascontiguousarray(pl.T) for pl in planes]
    img = cnd.camera_response_planes(planesT, c, rng)
    return np.ascontiguousarray(img.transpose(1, 0, 2)), opening


def indoor_image(
    cond: dict,
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    fov_deg: float,
    pitch_deg: float = 0.0,
    kind: str | None = None,
) -> tuple[np.ndarray, float]:
    """A photo of a random room (``kind`` of :data:`ROOM_KINDS`, default random) -> (RGB uint8
    [H, W, 3], fraction of the frame showing interior geometry: 1.0, window glass included, as
    it shows no street)."""
    room = make_room(rng, kind=kind)
    img, opening = render_room(
        room,
        cond,
        rng,
        width=width,
        height=height,
        fov_deg=fov_deg,
        yaw_deg=room["yaw"],
        pitch_deg=pitch_deg,
    )
    return img, 1.0 - float(opening.mean())


def _interior_fraction(room, yaw, pitch, width, height, fov) -> float:
    """Fraction of pixels not seeing through an opening (at 1/4 resolution)."""
    w, h = max(8, width // 4), max(8, height // 4)
    cam, dirs = _rays(room, yaw, pitch, w, h, fov)
    t, sid = _hit_room(room, dirs)
    face = np.zeros(t.shape, np.int8)
    _hit_boxes(room, cam, dirs, t, sid, face)
    see = np.zeros(t.shape, bool)
    o = room["cam"]
    for r in room["rects"]:
        if r["type"] != "opening":
            continue
        m = sid == r["wall"]
        p = [F32(o[i]) + t[m] * dirs[i][m] for i in range(3)]
        u, v = (p[1], p[2]) if r["wall"] in (2, 3) else (p[0], p[2])
        see[m] |= _rect_uv(r, u, v)
    return 1.0 - float(see.mean())


def _soft_alpha(mask: np.ndarray) -> np.ndarray:
    """uint16 alpha 0..255 of ``mask`` with a 3x3 box-filtered edge (exact integer sums)."""
    m = np.pad(mask.astype(np.uint16) * 255, 1, mode="edge")
    acc = sum(m[i : i + mask.shape[0], j : j + mask.shape[1]] for i in range(3) for j in range(3))
    return (acc + 4) // 9


def half_indoor(
    outdoor: np.ndarray,
    cond: dict,
    rng: np.random.Generator,
    *,
    fov_deg: float,
    pitch_deg: float = 0.0,
    kind: str | None = None,
) -> tuple[np.ndarray, float]:
    """Frame the outdoor render ``outdoor`` (RGB uint8 [H, W, 3], same camera) by an interior
    seen from behind a door or under an arcade (``kind`` of :data:`HALF_KINDS`, default random)
    -> (RGB uint8, fraction of the frame showing interior geometry: not the outdoor render).
    Rooms are redrawn (up to 8 times) until that fraction is within 0.15..0.85."""
    height, width = outdoor.shape[:2]
    kind = kind or _pick(rng, HALF_KINDS)
    c = dict(cond)
    c["exposure"] = float(c["exposure"]) * {"day": 1.0, "dusk": 1.4, "night": 1.6}[c["condition"]]
    c["auto_exposure"] = False
    for _ in range(8):
        room = make_room(rng, opening=kind)
        yaw = room["yaw"]
        frac = _interior_fraction(room, yaw, pitch_deg, width, height, fov_deg)
        if 0.15 <= frac <= 0.85:
            break
    img, opening = render_room(
        room,
        c,
        rng,
        width=width,
        height=height,
        fov_deg=fov_deg,
        yaw_deg=yaw,
        pitch_deg=pitch_deg,
        auto_exposure=False,
    )
    a = _soft_alpha(opening)[:, :, None]
    out = (a * outdoor.astype(np.uint16) + (255 - a) * img.astype(np.uint16) + 127) // 255
    return out.astype(np.uint8), 1.0 - float((a[:, :, 0] >= 128).mean())
