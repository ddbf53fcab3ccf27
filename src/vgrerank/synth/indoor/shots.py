"""Indoor photos (:func:`indoor_image`, :func:`render_room`) and half-indoor shots
(:func:`half_indoor`) through SynthCity's camera response."""

from __future__ import annotations

import numpy as np

from .. import conditions as cnd
from .albedo import rect_uv
from .layout import F32, HALF_KINDS, make_room, pick
from .lighting import shade
from .trace import footprint, hit_boxes, hit_room, rays


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
    cam, dirs = rays(room, yaw_deg, pitch_deg, width, height, fov_deg)
    t, sid = hit_room(room, dirs)
    face = np.zeros(t.shape, np.int8)
    hit_boxes(room, cam, dirs, t, sid, face)
    p = [F32(room["cam"][i]) + t * dirs[i] for i in range(3)]
    kind = cond["condition"]
    lights_on = kind != "day" or bool(rng.random() < 0.5)
    planes, opening = shade(room, kind, lights_on, p, sid, face, footprint(cam, dirs, t, sid))
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
    cam, dirs = rays(room, yaw, pitch, w, h, fov)
    t, sid = hit_room(room, dirs)
    face = np.zeros(t.shape, np.int8)
    hit_boxes(room, cam, dirs, t, sid, face)
    see = np.zeros(t.shape, bool)
    o = room["cam"]
    for r in room["rects"]:
        if r["type"] != "opening":
            continue
        m = sid == r["wall"]
        p = [F32(o[i]) + t[m] * dirs[i][m] for i in range(3)]
        u, v = (p[1], p[2]) if r["wall"] in (2, 3) else (p[0], p[2])
        see[m] |= rect_uv(r, u, v)
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
    kind = kind or pick(rng, HALF_KINDS)
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
