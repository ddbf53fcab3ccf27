"""Spots, poses and renders of the photo collection (:mod:`.photos`): street, sidewalk and plaza
spots, a spot inside a building for rooms, burst and free-snapshot poses, the frame (size,
field of view), the condition, and the render of one photo (street, panorama, half-indoor,
indoor).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ConfigError
from . import conditions as cnd
from . import indoor
from .camera import Camera
from .city import BUILDING, City, dynamic_boxes
from .render import render


def _heading(dx: float, dy: float) -> float:
    """Compass heading (0 north, clockwise) of the direction (dx, dy)."""
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _blocked(xyz: np.ndarray, x: float, y: float, z: float, margin: float = 0.35) -> bool:
    """Whether a camera at (x, y, z) is inside (or within ``margin`` of) one of the boxes."""
    if not len(xyz):
        return False
    inside = (xyz[:, 0] - margin < x) & (x < xyz[:, 1] + margin)
    inside &= (xyz[:, 2] - margin < y) & (y < xyz[:, 3] + margin)
    inside &= xyz[:, 4] < z + 0.3
    return bool(inside.any())


def street_spot(city: City, kind: str, opts: dict, rng: np.random.Generator) -> dict:
    """A random spot of ``kind`` (street, sidewalk, plaza) off every static box: x, y and,
    on sidewalks, the heading towards the street (``facing``) and the outward normal."""
    L = city.layout
    segs = city.street_segments()
    lengths = np.array([float(np.linalg.norm(b - a)) for a, b in segs])
    s, rh = L["street_w"], L["road_half"]
    for _ in range(50):
        if kind == "plaza":
            i, j = int(rng.integers(L["blocks_x"] + 1)), int(rng.integers(L["blocks_y"] + 1))
            x = i * L["pitch"] + float(rng.uniform(-s / 2 + 0.5, s / 2 - 0.5))
            y = j * L["pitch"] + float(rng.uniform(-s / 2 + 0.5, s / 2 - 0.5))
            spot = {"x": x, "y": y, "facing": None, "normal": None}
        else:
            k = int(rng.choice(len(segs), p=lengths / lengths.sum()))
            a, b = segs[k]
            d = (b - a) / lengths[k]
            nrm = (-float(d[1]), float(d[0]))
            along = a + d * float(rng.uniform(0, lengths[k]))
            if kind == "street":
                lat = float(rng.uniform(-opts["lateral_m"], opts["lateral_m"]))
                spot = {"facing": None, "normal": None}
            else:
                side = 1.0 if rng.random() < 0.5 else -1.0
                lat = side * float(rng.uniform(rh + 0.3, max(rh + 0.4, s / 2 - 0.8)))
                out = (side * nrm[0], side * nrm[1])
                spot = {"facing": _heading(-out[0], -out[1]), "normal": out}
            spot["x"] = float(along[0]) + nrm[0] * lat
            spot["y"] = float(along[1]) + nrm[1] * lat
        if not _blocked(city.boxes.xyz, spot["x"], spot["y"], 1.6, 0.6):
            return spot
    raise ConfigError(f"synth conf: no free {kind} spot found in the city (is it all props?)")


def indoor_spot(city: City, opts: dict, rng: np.random.Generator) -> dict:
    """A point 1.5-5 m inside a building behind a random sidewalk spot."""
    bld = city.boxes.xyz[city.boxes.kind == BUILDING]
    for _ in range(30):
        sp = street_spot(city, "sidewalk", opts, rng)
        nx, ny = sp["normal"]
        for step in np.arange(0.5, 8.0, 0.5).tolist():
            x, y = sp["x"] + nx * step, sp["y"] + ny * step
            hit = (bld[:, 0] < x) & (x < bld[:, 1]) & (bld[:, 2] < y) & (y < bld[:, 3])
            if hit.any():
                b = bld[int(np.flatnonzero(hit)[0])]
                depth = float(rng.uniform(1.5, 5.0))
                x = min(max(x + nx * depth, b[0] + 0.5), b[1] - 0.5)
                y = min(max(y + ny * depth, b[2] + 0.5), b[3] - 0.5)
                return {"x": x, "y": y, "facing": None, "normal": None}
    raise ConfigError("synth conf: no building found behind the sidewalks for indoor photos")


def draw_frame(kind: str, opts: dict, rng: np.random.Generator) -> dict:
    """Image size and horizontal field of view of one photo (panoramas: 3:1, 180 degrees)."""
    long = opts["long_side"]
    short = int(round(long * 3 / 4))
    if kind == "panorama":
        return {"width": 3 * short, "height": short, "hfov": 180.0}
    f_long = float(rng.uniform(*opts["fov_deg"]))
    if rng.random() < opts["portrait"]:
        h = 2 * math.degrees(math.atan(math.tan(math.radians(f_long) / 2) * short / long))
        return {"width": short, "height": long, "hfov": h}
    return {"width": long, "height": short, "hfov": f_long}


def draw_condition(city: City, kind: str, rng: np.random.Generator) -> dict:
    n_sky = {k: len(v) for k, v in city.sky_items.items()}
    return cnd.resolve({"condition": kind}, rng, n_sky)


def free_snapshot(city: City, cond: dict, poses: list, rng: np.random.Generator) -> dict:
    """``cond`` with a traffic snapshot whose cars and people leave every camera free."""
    for _ in range(12):
        dyn = dynamic_boxes(city, cond["traffic"], cond["people"], cond["traffic_seed"]).xyz
        if not any(_blocked(dyn, p["x"], p["y"], p["z"], 0.3) for p in poses):
            return cond
        cond = {**cond, "traffic_seed": int(rng.integers(2**31))}
    return {**cond, "traffic": 0.0, "people": 0.0}


def draw_poses(city: City, group: dict, spot: dict, opts: dict, rng: np.random.Generator) -> list:
    """Camera poses of the group's photos: the first at the spot, burst shots < 0.5 m and a
    few degrees from it."""
    if spot["facing"] is not None:  # on a sidewalk: not into the facade right behind
        spread = 35.0 if group["kind"] == "half_indoor" else 100.0
        heading = spot["facing"] + float(rng.uniform(-spread, spread))
    else:
        heading = float(rng.uniform(0.0, 360.0))
    pitch = 0.0 if group["kind"] == "panorama" else float(rng.uniform(*opts["pitch_deg"]))
    base = {
        "x": spot["x"],
        "y": spot["y"],
        "z": float(rng.uniform(*opts["height_m"])),
        "heading": heading % 360.0,
        "pitch": pitch,
        "exposure": 1.0,
        "dt": 0,
    }
    poses = [base]
    for _ in range(1, group["size"]):
        r, a = float(rng.uniform(0.0, 0.45)), float(rng.uniform(0.0, 2 * math.pi))
        p = {
            **base,
            "x": base["x"] + r * math.cos(a),
            "y": base["y"] + r * math.sin(a),
            "heading": (base["heading"] + float(rng.uniform(-4.0, 4.0))) % 360.0,
            "pitch": base["pitch"] + float(rng.uniform(-2.0, 2.0)),
            "exposure": float(rng.uniform(0.7, 1.35)),
            "dt": poses[-1]["dt"] + int(rng.integers(1, 4)),
        }
        if _blocked(city.boxes.xyz, p["x"], p["y"], p["z"]):
            p["x"], p["y"] = base["x"], base["y"]
        poses.append(p)
    return poses


def _panorama(city: City, pose: dict, cond: dict, height: int, rng) -> np.ndarray:
    """180-degree cylindrical panorama [height, 3 * height, 3]: three level renders 60 degrees
    apart (exposure locked), stitched with a fixed-point ``cv2.remap``."""
    Hp, Wp = height, 3 * height
    fc = Wp / math.pi
    Ws = 2 * math.ceil(fc * math.tan(math.radians(31.0))) + 2
    Hs = 2 * math.ceil((Hp / 2) / math.cos(math.radians(31.0))) + 4
    fov = 2 * math.degrees(math.atan((Ws / 2) / fc))
    c = dict(cond, auto_exposure=False)
    c["exposure"] = float(c["exposure"]) * {"day": 1.0, "dusk": 2.0, "night": 3.5}[c["condition"]]
    subs = []
    for k in (-1, 0, 1):
        cam = Camera(pose["x"], pose["y"], pose["z"], pose["heading"] + 60.0 * k, 0.0, Ws, Hs, fov)
        subs.append(render(city, cam, c, rng))
    f = cam.f
    mapx, scale = [], []
    for j in range(Wp):
        theta = (j - (Wp - 1) / 2) / fc
        k = 0 if theta < -math.pi / 6 else 1 if theta <= math.pi / 6 else 2
        d = theta - (k - 1) * math.pi / 3
        mapx.append(k * Ws + (Ws - 1) / 2 + f * math.tan(d))
        scale.append(f / fc / math.cos(d))
    rows = np.arange(Hp, dtype=np.float64)[:, None] - (Hp - 1) / 2
    my = (rows * np.array(scale)[None, :] + (Hs - 1) / 2).astype(np.float32)
    mx = np.broadcast_to(np.array(mapx, np.float32)[None, :], (Hp, Wp)).copy()
    m1, m2 = cv2.convertMaps(mx, my, cv2.CV_16SC2)
    return cv2.remap(np.hstack(subs), m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def render_photo(city: City, kind: str, pose: dict, frame: dict, cond: dict, rng) -> tuple:
    """(RGB uint8 image, indoor level 0-9) of one photo."""
    W, H, fov = frame["width"], frame["height"], frame["hfov"]
    c = dict(cond, exposure=float(cond["exposure"]) * pose["exposure"])
    if kind == "indoor":
        img, frac = indoor.indoor_image(
            c, rng, width=W, height=H, fov_deg=fov, pitch_deg=pose["pitch"]
        )
        return img, int(round(9 * frac))
    if kind == "panorama":
        return _panorama(city, pose, c, H, rng), 0
    cam = Camera(pose["x"], pose["y"], pose["z"], pose["heading"], pose["pitch"], W, H, fov)
    img = render(city, cam, c, rng)
    if kind == "half_indoor":
        img, frac = indoor.half_indoor(img, c, rng, fov_deg=fov, pitch_deg=pose["pitch"])
        return img, min(8, max(1, int(round(9 * frac))))
    return img, 0
