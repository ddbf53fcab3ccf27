"""The city model: axis-aligned boxes (buildings, lamps, trees; cars and people per snapshot),
their textures in one :class:`~.atlas.Atlas`, the ground, skies and the street network.

World frame: x east, y north, z up, metres. Street centre lines are ``x = i * P`` (``i = 0..
blocks_x``) and ``y = j * P`` with ``P = block_size_m + street_width_m``. Blocks ``(i, j)`` for
``i = -1..blocks_x``, ``j = -1..blocks_y`` (the outer ring only for scenery) carry buildings on
their rim. Box faces are numbered 0 S (y = y0), 1 E (x = x1), 2 N (y = y1), 3 W (x = x0); a
face's ``u`` runs left to right as seen from outside, ``v = z - z0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import textures as tx
from .atlas import Atlas
from .config import resolve_conf
from .ground import ground_texture

BUILDING, POLE, LAMP, TRUNK, CANOPY, CAR, CABIN, PERSON = range(8)
N_CAR_STYLES = 10
N_PERSON_STYLES = 12
SKY_VARIANTS = {"day": 4, "dusk": 2, "night": 1}
CAR_COLORS = [
    (200, 200, 205),
    (25, 25, 28),
    (150, 20, 25),
    (30, 60, 140),
    (240, 240, 238),
    (110, 110, 115),
    (60, 90, 60),
    (210, 170, 40),
    (90, 50, 35),
    (170, 180, 190),
]


@dataclass
class Boxes:
    """Axis-aligned boxes: ``xyz`` [N, 6] = x0, x1, y0, y1, z0, z1; ``items`` [N, 4] atlas item
    per face (S, E, N, W); ``flat`` [N, 3] sRGB albedo of top/bottom; ``flat_emit`` [N] emission
    id of top/bottom; ``kind`` [N]."""

    xyz: np.ndarray
    items: np.ndarray
    flat: np.ndarray
    flat_emit: np.ndarray
    kind: np.ndarray

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        return Boxes(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Boxes.__annotations__)
        )


class _BoxList:
    def __init__(self):
        self.rows: list = []

    def add(self, xyz, items, flat, kind, flat_emit=0):
        self.rows.append((xyz, items, flat, flat_emit, kind))

    def build(self) -> Boxes:
        if not self.rows:
            return Boxes(
                np.zeros((0, 6)), np.zeros((0, 4), np.int32), np.zeros((0, 3), np.uint8),
                np.zeros(0, np.uint8), np.zeros(0, np.int8),
            )  # fmt: skip
        c = list(zip(*self.rows, strict=True))
        return Boxes(
            np.array(c[0], np.float64),
            np.array(c[1], np.int32),
            np.array(c[2], np.uint8),
            np.array(c[3], np.uint8),
            np.array(c[4], np.int8),
        )


@dataclass
class City:
    conf: dict
    seed: int
    layout: dict
    boxes: Boxes  # static: buildings, lamps, trees
    atlas: Atlas
    item_ppm: np.ndarray  # texels per metre of every atlas item
    ground_item: int
    ground_origin: tuple[float, float]  # (x0, y1) of the ground texture
    ground_ppm: float
    sky_items: dict  # condition -> list of item ids
    lamps: np.ndarray  # [L, 3] light positions
    parking: np.ndarray  # [S, 3] x, y, axis (0: along x, 1: along y)
    walkway: np.ndarray  # [W, 3] x, y, street axis of candidate pedestrians
    car_styles: list  # per style: (dims_x_axis, items_x_axis, items_y_axis, cabin...)
    person_items: list
    cache: dict = field(default_factory=dict, repr=False)

    def face_point(self, boxes: Boxes, box: np.ndarray, face: np.ndarray, u, v) -> np.ndarray:
        """World points [N, 3] of face coordinates (u, v) on ``boxes``."""
        b = boxes.xyz[np.asarray(box)]
        face = np.asarray(face)
        u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
        x = np.select(
            [face == 0, face == 1, face == 2, face == 3],
            [b[:, 0] + u, b[:, 1], b[:, 1] - u, b[:, 0]],
        )
        y = np.select(
            [face == 0, face == 1, face == 2, face == 3],
            [b[:, 2], b[:, 2] + u, b[:, 3], b[:, 3] - u],
        )
        return np.stack([x, y, b[:, 4] + v], axis=1)

    def street_segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Centre-line segments (start, end) of the mapped street grid."""
        L = self.layout
        P, bx, by = L["pitch"], L["blocks_x"], L["blocks_y"]
        segs = [(np.array([i * P, 0.0]), np.array([i * P, by * P])) for i in range(bx + 1)]
        segs += [(np.array([0.0, j * P]), np.array([bx * P, j * P])) for j in range(by + 1)]
        return segs


def _layout(conf: dict) -> dict:
    s, b = conf["street_width_m"], conf["block_size_m"]
    P = s + b
    bx, by = conf["blocks_x"], conf["blocks_y"]
    m = 40.0
    return {
        "pitch": P,
        "street_w": s,
        "sidewalk": conf["sidewalk_m"],
        "blocks_x": bx,
        "blocks_y": by,
        "road_half": s / 2 - conf["sidewalk_m"],
        "mapped_extent": (0.0, 0.0, bx * P, by * P),
        "ground_extent": (-P - m, -P - m, (bx + 1) * P + m, (by + 1) * P + m),
    }


def _in_block(layout: dict, x: float, y: float) -> bool:
    P, s = layout["pitch"], layout["street_w"]
    bx, by = layout["blocks_x"], layout["blocks_y"]
    if not (-P + s / 2 <= x <= (bx + 1) * P - s / 2 and -P + s / 2 <= y <= (by + 1) * P - s / 2):
        return False
    return s / 2 <= x % P <= P - s / 2 and s / 2 <= y % P <= P - s / 2


def _lots(rng, layout):
    """Building footprints on the rim of every block: list of (x0, x1, y0, y1, street_sides)."""
    P, s = layout["pitch"], layout["street_w"]
    lots = []
    for i in range(-1, layout["blocks_x"] + 1):
        for j in range(-1, layout["blocks_y"] + 1):
            bx0, bx1 = i * P + s / 2, (i + 1) * P - s / 2
            by0, by1 = j * P + s / 2, (j + 1) * P - s / 2
            nx, ny = int(rng.integers(2, 5)), int(rng.integers(2, 4))
            wx = rng.uniform(0.6, 1.4, nx)
            wy = rng.uniform(0.6, 1.4, ny)
            cx = bx0 + np.concatenate([[0], np.cumsum(wx / wx.sum())]) * (bx1 - bx0)
            cy = by0 + np.concatenate([[0], np.cumsum(wy / wy.sum())]) * (by1 - by0)
            for a in range(nx):
                for c in range(ny):
                    if 0 < a < nx - 1 and 0 < c < ny - 1:
                        continue  # courtyard
                    x0, x1, y0, y1 = cx[a], cx[a + 1], cy[c], cy[c + 1]
                    # setbacks from the street on street-facing sides
                    if a == 0 and rng.random() < 0.3:
                        x0 += rng.uniform(0.3, 1.5)
                    if a == nx - 1 and rng.random() < 0.3:
                        x1 -= rng.uniform(0.3, 1.5)
                    if c == 0 and rng.random() < 0.3:
                        y0 += rng.uniform(0.3, 1.5)
                    if c == ny - 1 and rng.random() < 0.3:
                        y1 -= rng.uniform(0.3, 1.5)
                    # keep rim buildings shallow when a courtyard exists
                    depth = rng.uniform(12, 20)
                    if nx > 2 and ny > 2:
                        if c == 0 and 0 < a < nx - 1:
                            y1 = min(y1, y0 + depth)
                        if c == ny - 1 and 0 < a < nx - 1:
                            y0 = max(y0, y1 - depth)
                    lots.append((x0, x1, y0, y1))
    return lots


def _height(rng) -> float:
    r = rng.random()
    if r < 0.15:
        return rng.uniform(5, 8)
    if r < 0.9:
        return rng.uniform(9, 24)
    return rng.uniform(26, 45)


class _Items:
    """Atlas items in the order they are added, with their texels per metre."""

    def __init__(self, ppm: float):
        self.atlas = Atlas()
        self.ppm: list[float] = []
        self.default_ppm = ppm

    def add(self, rgb, emit=None, p=None) -> int:
        self.ppm.append(self.default_ppm if p is None else p)
        return self.atlas.add(rgb, emit)


def _face_probes(f: int, x0: float, x1: float, y0: float, y1: float) -> list:
    """Points just outside face ``f`` (0 S, 1 E, 2 N, 3 W) of a lot, at a few positions."""
    ts = np.linspace(0.1, 0.9, 5)
    if f == 0:
        return [(x0 + t * (x1 - x0), y0 - 2.0) for t in ts]
    if f == 1:
        return [(x1 + 2.0, y0 + t * (y1 - y0)) for t in ts]
    if f == 2:
        return [(x0 + t * (x1 - x0), y1 + 2.0) for t in ts]
    return [(x0 - 2.0, y0 + t * (y1 - y0)) for t in ts]


def _buildings(rng, layout: dict, boxes: _BoxList, items: _Items, ppm: float) -> None:
    """One box per lot: full-resolution facades on street faces inside the city, low-resolution
    ones on outer street faces and tall backs, shared plain walls elsewhere."""
    P, s = layout["pitch"], layout["street_w"]
    bx, by = layout["blocks_x"], layout["blocks_y"]
    ppm_low = float(max(1, round(ppm / 4)))
    add = items.add
    lots = _lots(rng, layout)
    heights = [_height(rng) for _ in lots]
    plain_items: dict = {}
    outer = (-P + s / 2, (bx + 1) * P - s / 2)
    outer_y = (-P + s / 2, (by + 1) * P - s / 2)
    for (x0, x1, y0, y1), h in zip(lots, heights, strict=True):
        st = tx.building_style(rng)
        faces = []
        for f in range(4):
            length = (x1 - x0) if f % 2 == 0 else (y1 - y0)
            pts = _face_probes(f, x0, x1, y0, y1)
            street = any(not _in_block(layout, px, py) for px, py in pts)
            outside = all(
                not (outer[0] < px < outer[1] and outer_y[0] < py < outer_y[1]) for px, py in pts
            )
            if street and not outside:
                rgb, emit = tx.facade(rng, st, length, h, ppm, shops=st["shops"])
                faces.append(add(rgb, emit))
            elif street or h > 12:
                rgb, emit = tx.facade(rng, st, length, h, ppm_low, shops=False)
                faces.append(add(rgb, emit, ppm_low))
            else:
                key = tuple(int(c) for c in st["base"] // 16)
                if key not in plain_items:
                    plain_items[key] = add(tx.plain(rng, st["base"], 8, 8, 1.0), None, 1.0)
                faces.append(plain_items[key])
        boxes.add((x0, x1, y0, y1, 0.0, h), faces, (90, 90, 90), BUILDING)


def _street_lines(layout: dict):
    """(axis, line centre c, span end) of every street line (axis 0: along y at x = c)."""
    P, s = layout["pitch"], layout["street_w"]
    bx, by = layout["blocks_x"], layout["blocks_y"]
    for axis, n_lines, span in ((0, bx, (by + 1) * P - s / 2), (1, by, (bx + 1) * P - s / 2)):
        for i in range(n_lines + 1):
            yield axis, i * P, span


def _lamps(conf: dict, layout: dict, boxes: _BoxList, pole_item: int, head_item: int):
    """Street lamps along both sides of every street line, alternating -> (lamp positions
    [(x, y, z)], tree slots [(x, y)])."""
    P, s, rh = layout["pitch"], layout["street_w"], layout["road_half"]
    spacing = conf["lamp_spacing_m"]
    lo = -P + s / 2
    lamps, trees_slots = [], []
    for axis, c, hi in _street_lines(layout):
        k = 0
        for t in np.arange(lo + 2.0, hi - 2.0, spacing):
            d = (t + P / 2) % P - P / 2
            if abs(d) < s / 2 + 1.5:
                continue
            side = 1 if k % 2 == 0 else -1
            k += 1
            off = side * (rh + 0.45)
            px, py = (c + off, t) if axis == 0 else (t, c + off)
            arm = -side * 1.0  # the head reaches over the road
            hx, hy = (px + arm, py) if axis == 0 else (px, py + arm)
            boxes.add(
                (px - 0.09, px + 0.09, py - 0.09, py + 0.09, 0.0, 6.3),
                [pole_item] * 4,
                (70, 72, 75),
                POLE,
            )
            ax0, ax1 = sorted((px, hx))
            ay0, ay1 = sorted((py, hy))
            boxes.add(
                (ax0 - 0.18, ax1 + 0.18, ay0 - 0.18, ay1 + 0.18, 6.05, 6.3),
                [head_item] * 4, (230, 220, 200), LAMP, tx.LAMP_ID,
            )  # fmt: skip
            lamps.append((hx, hy, 6.0))
        for t in np.arange(lo + 4.0, hi - 4.0, 8.0):
            d = (t + P / 2) % P - P / 2
            if abs(d) < s / 2 + 3.0:
                continue
            for side in (-1, 1):
                off = side * (rh + 1.3)
                trees_slots.append((c + off, t) if axis == 0 else (t, c + off))
    return lamps, trees_slots


def _trees(rng, boxes: _BoxList, slots, lamp_arr, trunk_item: int, leaf_items: list) -> None:
    """A tree (trunk and canopy) on about 30 % of the slots, none close to a lamp."""
    for px, py in slots:
        if rng.random() > 0.3:
            continue
        dx, dy = lamp_arr[:, 0] - px, lamp_arr[:, 1] - py
        if len(lamp_arr) and np.min(dx * dx + dy * dy) < 3.5**2:
            continue
        r = rng.uniform(1.1, 1.6)
        ztop = rng.uniform(5.0, 7.0)
        leaf = leaf_items[int(rng.integers(len(leaf_items)))]
        boxes.add(
            (px - 0.15, px + 0.15, py - 0.15, py + 0.15, 0.0, 2.6),
            [trunk_item] * 4,
            (75, 58, 42),
            TRUNK,
        )
        boxes.add((px - r, px + r, py - r, py + r, 2.4, ztop), [leaf] * 4, (50, 75, 38), CANOPY)


def _slots(rng, layout: dict) -> tuple[list, list]:
    """Parking slots and walkway points (x, y, axis), filled per snapshot in
    :func:`dynamic_boxes`."""
    P, s, rh = layout["pitch"], layout["street_w"], layout["road_half"]
    lo = -P + s / 2
    parking, walk = [], []
    for axis, c, span in _street_lines(layout):
        for t in np.arange(lo + 3.0, span - 3.0, 6.0):
            d = (t + P / 2) % P - P / 2
            if abs(d) < s / 2 + 6.0:
                continue
            for side in (-1, 1):
                off = side * (rh - 1.15)
                parking.append((c + off, t, 0) if axis == 0 else (t, c + off, 1))
                woff = side * (rh + rng.uniform(0.8, 2.5))
                walk.append((c + woff, t, 0) if axis == 0 else (t, c + woff, 1))
    return parking, walk


def _car_styles(rng, items: _Items) -> list[dict]:
    car_styles = []
    add = items.add
    for k in range(N_CAR_STYLES):
        color = np.array(CAR_COLORS[k % len(CAR_COLORS)]) * rng.uniform(0.85, 1.1)
        length, width = rng.uniform(3.8, 4.9), rng.uniform(1.7, 1.9)
        body_h, cab_h, cab_l = (
            rng.uniform(0.8, 1.0),
            rng.uniform(0.45, 0.65),
            length * rng.uniform(0.45, 0.65),
        )
        style = {"dims": (length, width, body_h, cab_h, cab_l), "color": color}
        for ax, (lx, ly) in enumerate(((length, width), (width, length))):
            body = tx.car_faces(rng, color, lx, ly, body_h, 24.0)
            style[f"body{ax}"] = [add(im, None, 24.0) for im in body]
            clx, cly = (cab_l, width * 0.9) if ax == 0 else (width * 0.9, cab_l)
            cab = tx.car_faces(rng, (40, 45, 52), clx, cly, cab_h, 24.0)
            style[f"cab{ax}"] = [add(im, None, 24.0) for im in cab]
        car_styles.append(style)
    return car_styles


def make_city(conf: dict | None = None, seed: int | None = None) -> City:
    """Build the city for ``conf`` (see :mod:`.config`); ``seed`` defaults to ``conf['seed']``."""
    conf = resolve_conf(conf)
    seed = conf["seed"] if seed is None else int(seed)
    rng = np.random.default_rng([seed, 7])
    layout = _layout(conf)
    items = _Items(float(max(4, round(conf["texels_per_m"]))))
    add = items.add
    boxes = _BoxList()
    _buildings(rng, layout, boxes, items, items.default_ppm)
    pole_item = add(tx.plain(rng, (70, 72, 75), 0.2, 7.0, 16.0), None, 16.0)
    head_item = add(tx.plain(rng, (60, 62, 66), 1.0, 0.3, 16.0), None, 16.0)
    trunk_item = add(tx.plain(rng, (75, 58, 42), 0.3, 3.0, 16.0), None, 16.0)
    leaf_items = [add(tx.leaves(rng, 3.2, 4.5, 10.0), None, 10.0) for _ in range(4)]
    lamps, trees_slots = _lamps(conf, layout, boxes, pole_item, head_item)
    lamp_arr = np.array(lamps, np.float64).reshape(-1, 3)
    _trees(rng, boxes, trees_slots, lamp_arr, trunk_item, leaf_items)
    parking, walk = _slots(rng, layout)
    car_styles = _car_styles(rng, items)
    person_items = [
        [add(tx.person_face(rng, w, 24.0), None, 24.0) for w in (0.45, 0.3, 0.45, 0.3)]
        for _ in range(N_PERSON_STYLES)
    ]
    extent = np.subtract(layout["ground_extent"][2:], layout["ground_extent"][:2])
    gppm = min(8.0, 3900.0 / max(e for e in extent))
    g_rgb, gx0, gy1 = ground_texture(rng, layout, gppm)
    ground_item = add(g_rgb, None, gppm)
    sky_items = {
        k: [add(tx.sky(rng, k), None, 1.0) for _ in range(n)] for k, n in SKY_VARIANTS.items()
    }
    items.atlas.build()
    return City(
        conf=conf,
        seed=seed,
        layout=layout,
        boxes=boxes.build(),
        atlas=items.atlas,
        item_ppm=np.array(items.ppm, np.float32),
        ground_item=ground_item,
        ground_origin=(gx0, gy1),
        ground_ppm=gppm,
        sky_items=sky_items,
        lamps=lamp_arr,
        parking=np.array(parking, np.float64).reshape(-1, 3),
        walkway=np.array(walk, np.float64).reshape(-1, 3),
        car_styles=car_styles,
        person_items=person_items,
    )


def dynamic_boxes(city: City, traffic: float, people: float, seed) -> Boxes:
    """Parked cars (a fraction ``traffic`` of the slots) and pedestrians (``people`` per walkway
    slot) of one snapshot, drawn from ``seed``."""
    key = ("dyn", round(traffic, 4), round(people, 4), str(seed))
    if key in city.cache:
        return city.cache[key]
    rng = np.random.default_rng(seed)
    out = _BoxList()
    styles = city.car_styles
    n_styles = len(styles)
    cols = [tuple(int(c) for c in np.clip(st["color"] * 0.85, 0, 255)) for st in styles]
    sign = (-1, 1)  # rng.choice([-1, 1]) draws exactly rng.integers(2), only slower
    for x, y, ax in city.parking.tolist():
        if rng.random() >= traffic:
            continue
        si = int(rng.integers(n_styles))
        st = styles[si]
        length, width, bh, ch, cl = st["dims"]
        ax = int(ax)
        jitter = rng.uniform(-0.6, 0.6)
        if ax == 1:
            y += jitter
            hx, hy = width / 2, length / 2
            cx0, cy0 = width * 0.45, cl / 2
            shift = (0.0, sign[int(rng.integers(2))] * length * 0.08)
        else:
            x += jitter
            hx, hy = length / 2, width / 2
            cx0, cy0 = cl / 2, width * 0.45
            shift = (sign[int(rng.integers(2))] * length * 0.08, 0.0)
        col = cols[si]
        out.add((x - hx, x + hx, y - hy, y + hy, 0.0, bh), st[f"body{ax}"], col, CAR)
        sx, sy = x + shift[0], y + shift[1]
        out.add(
            (sx - cx0, sx + cx0, sy - cy0, sy + cy0, bh, bh + ch),
            st[f"cab{ax}"],
            (45, 50, 58),
            CABIN,
        )
    for x, y, ax in city.walkway.tolist():
        if rng.random() >= people:
            continue
        j = rng.uniform(-2.5, 2.5)
        x, y = (x, y + j) if ax == 0 else (x + j, y)
        items = city.person_items[int(rng.integers(len(city.person_items)))]
        out.add(
            (x - 0.22, x + 0.22, y - 0.15, y + 0.15, 0.0, rng.uniform(1.6, 1.85)),
            items,
            (40, 35, 30),
            PERSON,
        )
    b = out.build()
    if len(city.cache) > 64:
        city.cache.clear()
    city.cache[key] = b
    return b
