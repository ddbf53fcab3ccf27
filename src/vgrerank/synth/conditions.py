"""Imaging conditions (day, dusk, night), light maps and the camera's response.

A condition is a dict; :func:`resolve` fills every missing parameter, drawing the random ones from
``rng``. Parameters (defaults per condition in :data:`PRESETS`; a pair means uniform random):

- ``ambient``: sky/ambient light relative to the full sun (night severity: 0.03 = very dark).
- ``sun``: sun strength; ``sun_azimuth_deg`` (compass), ``sun_elevation_deg``.
- ``lamps``: street-lamp strength; ``lit_windows``: fraction of windows lit (signs and shop
  windows are lit with probability ``0.5 + lit_windows``).
- ``exposure``: fixed exposure multiplier (day) or a factor on the auto-exposure gain.
- ``auto_exposure``: scale the image so its log-mean luminance reaches ``key`` with at most
  ``max_gain``; ``noise``: sensor noise scale (read + shot noise, amplified by the gain);
  ``blur_sigma``: camera shake/defocus blur (px); ``fog_m``: fog visibility distance (0 = none).
- ``traffic``: fraction of parking slots with a car; ``people``: pedestrians per walkway slot;
  ``traffic_seed``: snapshot of cars and people (the database uses one snapshot for all views).
- ``sky``: index of the sky panorama of that condition.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ConfigError

PRESETS: dict[str, dict] = {
    "day": {
        "ambient": (0.28, 0.42),
        "sun": 1.0,
        "sun_azimuth_deg": (0.0, 360.0),
        "sun_elevation_deg": (18.0, 65.0),
        "lamps": 0.0,
        "lit_windows": 0.0,
        "exposure": (0.7, 1.35),
        "auto_exposure": False,
        "key": 0.18,
        "max_gain": 1.0,
        "noise": 0.3,
        "blur_sigma": 0.0,
        "fog_m": 0.0,
        "traffic": (0.3, 0.8),
        "people": (0.0, 0.25),
    },
    "dusk": {
        "ambient": (0.08, 0.16),
        "sun": 0.35,
        "sun_azimuth_deg": (0.0, 360.0),
        "sun_elevation_deg": (2.0, 8.0),
        "lamps": 0.8,
        "lit_windows": 0.2,
        "exposure": (0.8, 1.2),
        "auto_exposure": True,
        "key": 0.16,
        "max_gain": 4.0,
        "noise": 0.6,
        "blur_sigma": 0.4,
        "fog_m": 0.0,
        "traffic": (0.3, 0.8),
        "people": (0.0, 0.2),
    },
    "night": {
        "ambient": 0.03,
        "sun": 0.0,
        "sun_azimuth_deg": 0.0,
        "sun_elevation_deg": 45.0,
        "lamps": 1.0,
        "lit_windows": 0.3,
        "exposure": (0.8, 1.2),
        "auto_exposure": True,
        "key": 0.025,
        "max_gain": 4.0,
        "noise": 1.0,
        "blur_sigma": (0.5, 1.1),
        "fog_m": 0.0,
        "traffic": (0.2, 0.6),
        "people": (0.0, 0.1),
    },
}
SUN_COLOR = {"day": (1.0, 0.97, 0.9), "dusk": (1.0, 0.6, 0.35), "night": (0, 0, 0)}
AMBIENT_COLOR = {"day": (0.8, 0.9, 1.1), "dusk": (0.7, 0.7, 1.0), "night": (0.55, 0.65, 1.0)}
LAMP_COLOR = (1.0, 0.68, 0.32)  # sodium
FOG_COLOR = {"day": (0.75, 0.78, 0.8), "dusk": (0.45, 0.38, 0.4), "night": (0.05, 0.045, 0.04)}


def resolve(condition: dict | None, rng: np.random.Generator, n_sky: dict) -> dict:
    cond = dict(condition or {})
    kind = cond.pop("condition", "day")
    if kind not in PRESETS:
        raise ConfigError(f"condition={kind!r}: must be one of {sorted(PRESETS)}")
    out = {"condition": kind}
    for key, default in PRESETS[kind].items():
        v = cond.pop(key, default)
        if isinstance(v, tuple | list):
            v = float(rng.uniform(*v))
        out[key] = v
    out["traffic_seed"] = cond.pop("traffic_seed", None)
    if out["traffic_seed"] is None:
        out["traffic_seed"] = int(rng.integers(2**31))
    out["sky"] = int(cond.pop("sky", rng.integers(n_sky[kind]))) % n_sky[kind]
    out["window_seed"] = int(cond.pop("window_seed", rng.integers(2**31)))
    for key in ("n", "lateral_m", "pitch_deg", "height_m"):
        cond.pop(key, None)
    if cond:
        raise ConfigError(f"condition {kind}: unknown parameter(s) {sorted(cond)}")
    if not 0 <= out["ambient"] <= 2:
        raise ConfigError(f"condition {kind}: ambient={out['ambient']} must be within 0..2")
    return out


GRID = 0.5  # metres per cell of the light maps


def _grid(city):
    x0, y0, x1, y1 = city.layout["ground_extent"]
    nx, ny = int(math.ceil((x1 - x0) / GRID)), int(math.ceil((y1 - y0) / GRID))
    return x0, y0, nx, ny


def lamp_map(city) -> np.ndarray:
    """Ground illuminance from all street lamps (1.0 right below one), [ny, nx] float32, row 0 = y0."""
    if "lamp_map" in city.cache:
        return city.cache["lamp_map"]
    x0, y0, nx, ny = _grid(city)
    m = np.zeros((ny, nx), np.float32)
    r0, reach = 5.0, 30.0
    k = int(reach / GRID)
    for lx, ly, _ in city.lamps:
        ci, cj = int((lx - x0) / GRID), int((ly - y0) / GRID)
        i0, i1, j0, j1 = max(0, ci - k), min(nx, ci + k), max(0, cj - k), min(ny, cj + k)
        if i0 >= i1 or j0 >= j1:
            continue
        xs = x0 + (np.arange(i0, i1) + 0.5) * GRID - lx
        ys = y0 + (np.arange(j0, j1) + 0.5) * GRID - ly
        r2 = ys[:, None] ** 2 + xs[None, :] ** 2
        m[j0:j1, i0:i1] += (1.0 / (1.0 + r2 / r0**2) ** 1.5).astype(np.float32)
    city.cache["lamp_map"] = m
    return m


def shadow_map(city, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Height below which each ground cell's vertical line is in a building's shadow, [ny, nx]."""
    key = ("shadow", round(azimuth_deg, 3), round(elevation_deg, 3))
    if key in city.cache:
        return city.cache[key]
    _, _, nx, ny = _grid(city)
    S = _shadow(city, azimuth_deg, elevation_deg, (0, nx, 0, ny))
    if len([k for k in city.cache if isinstance(k, tuple) and k[0] == "shadow"]) > 8:
        for k in [k for k in city.cache if isinstance(k, tuple) and k[0] == "shadow"]:
            del city.cache[k]
    city.cache[key] = S
    return S


def shadow_window(city, azimuth_deg: float, elevation_deg: float, win) -> np.ndarray:
    """``shadow_map(...)[j0:j1, i0:i1]`` for ``win = (i0, i1, j0, j1)``: the cached full map when
    there is one, otherwise only that window is computed (the full map is built and cached when
    the same sun is asked for again, as for a database under one sun)."""
    key = ("shadow", round(azimuth_deg, 3), round(elevation_deg, 3))
    i0, i1, j0, j1 = win
    if key in city.cache:
        return city.cache[key][j0:j1, i0:i1]
    seen = ("shadow_seen", *key[1:])
    if seen in city.cache:
        return shadow_map(city, azimuth_deg, elevation_deg)[j0:j1, i0:i1]
    city.cache[seen] = True
    return _shadow(city, azimuth_deg, elevation_deg, win)


def _shadow(city, azimuth_deg: float, elevation_deg: float, win) -> np.ndarray:
    x0, y0, nx, ny = _grid(city)
    wi0, wi1, wj0, wj1 = win
    S = np.full((wj1 - wj0, wi1 - wi0), -1.0, np.float32)
    a, e = math.radians(azimuth_deg), math.radians(max(elevation_deg, 3.0))
    sx, sy = math.sin(a), math.cos(a)  # towards the sun
    cot, tan = 1.0 / math.tan(e), math.tan(e)
    from .city import BUILDING, CANOPY

    sel = (city.boxes.kind == BUILDING) | (city.boxes.kind == CANOPY)
    bx0, bx1, by0, by1, bz0, bz1 = (c[:, None] for c in city.boxes.xyz[sel].T)
    # each box touches the cells of its footprint swept away from the sun by its shadow reach
    reach = np.minimum(bz1 * cot, 250.0)
    wx0, wx1 = np.minimum(bx0, bx0 - sx * reach), np.maximum(bx1, bx1 - sx * reach)
    wy0, wy1 = np.minimum(by0, by0 - sy * reach), np.maximum(by1, by1 - sy * reach)
    i0 = np.maximum(0, ((wx0 - x0) / GRID).astype(np.int64))
    i1 = np.minimum(nx, ((wx1 - x0) / GRID).astype(np.int64) + 1)
    j0 = np.maximum(0, ((wy0 - y0) / GRID).astype(np.int64))
    j1 = np.minimum(ny, ((wy1 - y0) / GRID).astype(np.int64) + 1)
    ci = np.arange(wi0, wi1)[None, :]
    ri = np.arange(wj0, wj1)[None, :]
    xs = x0 + (ci + 0.5) * GRID
    ys = y0 + (ri + 0.5) * GRID

    def slab(lo, hi, p, d):
        if abs(d) > 1e-9:
            ta, tb = (lo - p) / d, (hi - p) / d
            return np.minimum(ta, tb), np.maximum(ta, tb)
        inside = (p >= lo) & (p <= hi)
        return np.where(inside, -np.inf, np.inf), np.where(inside, np.inf, -np.inf)

    # The ray from a cell towards the sun is inside the box while t is in [tin, tout], tin =
    # max(tx_min, ty_min, 0), tout = min(tx_max, ty_max): tx_* depend only on the cell's column
    # and ty_* only on its row, so they are computed for all boxes at once ([boxes, nx] and
    # [boxes, ny]) and each box's 2-D work is a few outer compares / minima.
    with np.errstate(divide="ignore", invalid="ignore"):
        txmin, txmax = slab(bx0, bx1, xs, sx)
        tymin, tymax = slab(by0, by1, ys, sy)
    np.maximum(txmin, 0.0, out=txmin)
    np.maximum(tymin, 0.0, out=tymin)
    cols = (txmax >= txmin) & (ci >= i0) & (ci < i1) & (bz0 - txmax * tan <= 0.5)
    rows = (tymax >= tymin) & (ri >= j0) & (ri < j1) & (bz0 - tymax * tan <= 0.5)
    topx = (bz1 - txmin * tan).astype(np.float32)  # bz1 - tin * tan = min(topx, topy)
    topy = (bz1 - tymin * tan).astype(np.float32)
    txmax = np.where(cols, txmax, -np.inf)
    tymax = np.where(rows, tymax, -np.inf)
    c0, c1 = cols.argmax(axis=1), cols.shape[1] - cols[:, ::-1].argmax(axis=1)
    r0, r1 = rows.argmax(axis=1), rows.shape[1] - rows[:, ::-1].argmax(axis=1)
    for b in np.flatnonzero(cols.any(axis=1) & rows.any(axis=1)):
        cs, rs = slice(c0[b], c1[b]), slice(r0[b], r1[b])
        hit = txmax[b, None, cs] >= tymin[b, rs, None]
        hit &= tymax[b, rs, None] >= txmin[b, None, cs]
        top = np.minimum(topx[b, None, cs], topy[b, rs, None])
        sub = S[rs, cs]
        np.maximum(sub, top, out=sub, where=hit)
    return S


def sample_map(city, m: np.ndarray, x: np.ndarray, y: np.ndarray, origin=(0, 0)) -> np.ndarray:
    """Bilinear lookup of a light map at world points (1-D arrays); ``m`` may be the window of a
    map whose cell (0, 0) is the map's cell ``origin = (i0, j0)``."""
    x0, y0, _, _ = _grid(city)
    mx = ((x - x0) / GRID - 0.5 - origin[0]).astype(np.float32).reshape(1, -1)
    my = ((y - y0) / GRID - 0.5 - origin[1]).astype(np.float32).reshape(1, -1)
    out = np.empty(mx.shape, np.float32)
    # cv2.remap maps are limited to 32767 columns: do it in chunks
    flat_out = []
    for k in range(0, mx.shape[1], 32000):
        flat_out.append(
            cv2.remap(
                m,
                mx[:, k : k + 32000],
                my[:, k : k + 32000],
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )
    out = np.concatenate(flat_out, axis=1) if flat_out else out
    return out.reshape(-1)


_SRGB_TO_LIN = ((np.arange(256) / 255.0) ** 2.2).astype(np.float32)
_LIN_TO_SRGB = (np.clip(np.linspace(0, 1, 4096), 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def srgb_to_linear(img: np.ndarray) -> np.ndarray:
    return _SRGB_TO_LIN[img]


def srgb_to_linear_img(img: np.ndarray) -> np.ndarray:
    """uint8 image (any number of channels) -> linear float32, same shape (``cv2.LUT``)."""
    return cv2.LUT(img, _SRGB_TO_LIN)


def camera_response(rad: np.ndarray, cond: dict, rng: np.random.Generator) -> np.ndarray:
    """Linear radiance [H, W, 3] -> sRGB uint8: exposure / auto-exposure, bloom, blur, sensor
    noise (amplified by the gain), a filmic tone curve."""
    return camera_response_planes([p.copy() for p in cv2.split(rad)], cond, rng)


def camera_response_planes(planes: list, cond: dict, rng: np.random.Generator) -> np.ndarray:
    """:func:`camera_response` on three float32 radiance planes [H, W] (modified in place)
    -> sRGB uint8 [H, W, 3]."""
    gain = float(cond["exposure"])
    if cond["auto_exposure"]:
        lum = sum(p[::4, ::4].astype(np.float64) for p in planes) / 3.0
        key = math.exp(float(np.mean(np.log(lum + 1e-4))))
        gain *= float(np.clip(cond["key"] / key, 1.0, cond["max_gain"]))
    H, W = planes[0].shape
    for p in planes:
        p *= np.float32(gain * 1.6)
    if cond["condition"] != "day":
        for p in planes:
            bright = np.subtract(p, np.float32(1.0))
            np.maximum(bright, 0, out=bright)
            small = cv2.resize(bright, (W // 4, H // 4), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), 3.0)
            up = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
            cv2.scaleAdd(up, 0.35, p, dst=p)
    if cond["blur_sigma"] > 0:
        planes = [cv2.GaussianBlur(p, (0, 0), float(cond["blur_sigma"])) for p in planes]
    out = []
    noise = _noise_bank(rng, (H, W)) if cond["noise"] > 0 else None
    # tone-curve index = rad * scale; the noise is added in index units
    scale = _TONE_N / _TONE_MAX
    a = 0.0008 * cond["noise"] ** 2 * gain * scale**2
    b = 0.00002 * (cond["noise"] * gain) ** 2 * scale**2
    for c, p in enumerate(planes):
        if noise is not None:
            # sensor noise in the sensor's units (before gain): read noise + shot noise,
            # sd = sqrt(a * max(rad, 0) + b)
            sd = cv2.addWeighted(p, a, p, 0.0, b)
            cv2.max(sd, b, dst=sd)
            cv2.sqrt(sd, dst=sd)
            np.multiply(sd, noise[c], out=sd)
            idx = cv2.scaleAdd(p, scale, sd)
        else:
            idx = np.multiply(p, np.float32(scale))
        np.minimum(idx, np.float32(_TONE_N), out=idx)
        out.append(np.take(_TONE_LUT, idx.astype(np.int32), mode="clip"))
    return cv2.merge(out)


_TONE_MAX, _TONE_N = 8.0, 8192
_x = np.linspace(0, _TONE_MAX, _TONE_N, endpoint=False) + 0.5 * _TONE_MAX / _TONE_N
_TONE_LUT = (np.clip(_x * (1 + _x / 6.0) / (1 + _x), 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(
    np.uint8
)
_BANK: dict = {}


def _noise_bank(rng: np.random.Generator, shape) -> np.ndarray:
    """A random window [3, h, w] of a fixed bank of Gaussian noise (much cheaper than fresh
    samples)."""
    if "bank" not in _BANK:
        _BANK["bank"] = np.random.default_rng(12345).standard_normal(
            (3, 1100, 1300), dtype=np.float32
        )
    bank = _BANK["bank"]
    h, w = shape[:2]
    if h > bank.shape[1] - 16 or w > bank.shape[2] - 16:
        return rng.standard_normal((3, h, w), dtype=np.float32)
    y, x = int(rng.integers(bank.shape[1] - h)), int(rng.integers(bank.shape[2] - w))
    win = bank[:, y : y + h, x : x + w]
    return win[:, ::-1] if rng.random() < 0.5 else win
