"""Drawing a room: size, materials, wall rectangles (windows, doors, pictures, openings),
furniture-like boxes, ceiling lights and the camera spot (:func:`make_room`)."""

from __future__ import annotations

import numpy as np

from .. import conditions as cnd

ROOM_KINDS = ("home", "cafe", "shop", "museum", "corridor", "hall", "office")
HALF_KINDS = ("door", "arcade")
F32 = np.float32

# surfaces: 0 floor, 1 ceiling, 2 wall x=0, 3 wall x=W, 4 wall y=0, 5 wall y=D; boxes: 10 + k
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


def pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _jitter(rng: np.random.Generator, c, amount: float = 12.0) -> np.ndarray:
    return _lin(np.asarray(c, float) + rng.uniform(-amount, amount, 3))


def _material(rng: np.random.Generator, surface: str, kind: str) -> dict:
    """A surface material: pattern name, two colours (linear), scale and noise amplitude."""
    if surface == "floor":
        pat = pick(rng, ("planks", "planks", "tiles", "carpet", "concrete"))
        if kind in ("museum", "hall") and rng.random() < 0.6:
            pat = "tiles"
        c1 = _jitter(rng, pick(rng, FLOOR_COLOURS[pat]))
        c2 = _jitter(rng, pick(rng, FLOOR_COLOURS["tiles"])) if pat == "tiles" else c1 * F32(0.6)
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
        base = pick(rng, WOOD) if pat == "planks" else pick(rng, WALL_COLOURS[:4])
        c1 = _jitter(rng, base, 6)
        return {"pattern": pat, "c1": c1, "c2": c1 * F32(0.7), "scale": 0.25, "noise": 0.04}
    r = rng.random()
    pat = "plain" if r < 0.55 else "stripes" if r < 0.72 else "brick" if r < 0.84 else "wainscot"
    c1 = _jitter(rng, pick(rng, WALL_COLOURS))
    if pat == "brick":
        c1 = _jitter(
            rng, pick(rng, [(150, 70, 50), (170, 100, 70), (120, 60, 45), (200, 190, 170)])
        )
    c2 = _jitter(rng, pick(rng, WALL_COLOURS + WOOD))
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
                "frame": _jitter(rng, pick(rng, PAINTED[:2] + WOOD[:2]), 5),
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
                "c": _jitter(rng, pick(rng, WOOD + PAINTED)),
                "frame": _jitter(rng, pick(rng, WOOD)),
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
                "frame": _jitter(rng, pick(rng, [(30, 30, 30), (170, 140, 60), (240, 240, 240)])),
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
        style = pick(rng, ("cabinet", "shelf", "shelf", "sofa") if kind != "shop" else ("shelf",))
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
            col = _jitter(rng, pick(rng, FABRIC))
            out.append(_box((x0, x1, y0, y1, 0.0, h), "sofa", col))
            bx = {
                2: (x0, x0 + 0.22, y0, y1),
                3: (x1 - 0.22, x1, y0, y1),
                4: (x0, x1, y0, y0 + 0.22),
                5: (x0, x1, y1 - 0.22, y1),
            }[wall]
            out.append(_box((*bx, h, 0.9), "sofa", col * F32(0.9)))
        else:
            col = _jitter(rng, pick(rng, WOOD + PAINTED[:2]))
            out.append({**_box((x0, x1, y0, y1, 0.0, h), style, col), "wall": wall})
    return out


def _centre_items(rng, kind: str, size, cam) -> list[dict]:
    """Tables, plinths, counters and columns away from the walls."""
    W, D, H = size
    out = []
    wood = _jitter(rng, pick(rng, WOOD))
    if kind == "hall" or (kind == "museum" and rng.random() < 0.4):
        cs = float(rng.uniform(0.4, 0.9))
        col = _jitter(rng, pick(rng, WALL_COLOURS[:4] + [(200, 195, 185)]))
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
            chair = _jitter(rng, pick(rng, WOOD + PAINTED))
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
    col = np.array(pick(rng, LIGHT_COLOURS), F32)
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


def _low_tile(rng: np.random.Generator) -> np.ndarray:
    """256 x 256 smooth noise: 17 x 17 random values (wrapped) interpolated bilinearly."""
    g = rng.uniform(-1.0, 1.0, (17, 17)).astype(F32)
    g[16, :], g[:, 16] = g[0, :], g[:, 0]
    c = np.arange(256, dtype=F32) / F32(16.0)
    return cnd.bilinear(
        g, np.broadcast_to(c[None, :], (256, 256)), np.broadcast_to(c[:, None], (256, 256))
    )


def make_room(
    rng: np.random.Generator, *, kind: str | None = None, opening: str | None = None
) -> dict:
    """Draw a room of ``kind`` (default: random of :data:`ROOM_KINDS`) and a camera position in
    it. ``opening`` ``'door'`` or ``'arcade'`` opens the front wall (``y = D``) for a
    half-indoor shot and puts the camera 0.6-4 m behind it."""
    kind = kind or pick(rng, ROOM_KINDS)
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
                "frame": _jitter(rng, pick(rng, WOOD + PAINTED[:2])),
            }
        ], []
    top = H - float(rng.uniform(0.25, 0.6))
    rect = {"type": "opening", "wall": 5, "u": (0.25, W - 0.25), "v": (0.0, top), "frame": None}
    ps = float(rng.uniform(0.3, 0.6))
    col = _jitter(rng, pick(rng, WALL_COLOURS[:6] + [(200, 190, 170)]))
    pillars = [
        _box((x - ps / 2, x + ps / 2, D - ps - 0.02, D - 0.02, 0.0, H), "plain", col)
        for x in np.arange(
            float(rng.uniform(0.5, 1.5)), W - 0.3, float(rng.uniform(2.5, 4.0))
        ).tolist()
    ]
    return [rect], pillars
