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
    x0, y0, nx, ny = _grid(city)
    S = np.full((ny, nx), -1.0, np.float32)
    a, e = math.radians(azimuth_deg), math.radians(max(elevation_deg, 3.0))
    sx, sy = math.sin(a), math.cos(a)  # towards the sun
    cot, tan = 1.0 / math.tan(e), math.tan(e)
    from .city import BUILDING, CANOPY

    sel = (city.boxes.kind == BUILDING) | (city.boxes.kind == CANOPY)
    for bx0, bx1, by0, by1, bz0, bz1 in city.boxes.xyz[sel]:
        reach = min(bz1 * cot, 250.0)
        wx0, wx1 = min(bx0, bx0 - sx * reach), max(bx1, bx1 - sx * reach)
        wy0, wy1 = min(by0, by0 - sy * reach), max(by1, by1 - sy * reach)
        i0, i1 = max(0, int((wx0 - x0) / GRID)), min(nx, int((wx1 - x0) / GRID) + 1)
        j0, j1 = max(0, int((wy0 - y0) / GRID)), min(ny, int((wy1 - y0) / GRID) + 1)
        if i0 >= i1 or j0 >= j1:
            continue
        px = (x0 + (np.arange(i0, i1) + 0.5) * GRID)[None, :]
        py = (y0 + (np.arange(j0, j1) + 0.5) * GRID)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            if abs(sx) > 1e-9:
                ta, tb = (bx0 - px) / sx, (bx1 - px) / sx
                txmin, txmax = np.minimum(ta, tb), np.maximum(ta, tb)
            else:
                inside = (px >= bx0) & (px <= bx1)
                txmin = np.where(inside, -np.inf, np.inf)
                txmax = np.where(inside, np.inf, -np.inf)
            if abs(sy) > 1e-9:
                ta, tb = (by0 - py) / sy, (by1 - py) / sy
                tymin, tymax = np.minimum(ta, tb), np.maximum(ta, tb)
            else:
                inside = (py >= by0) & (py <= by1)
                tymin = np.where(inside, -np.inf, np.inf)
                tymax = np.where(inside, np.inf, -np.inf)
        tin = np.maximum(np.maximum(txmin, tymin), 0.0)
        tout = np.minimum(txmax, tymax)
        hit = tout >= tin
        # ray from (p, z) rises tan(e) per metre; it is inside the box height span while
        # z + t*tan in [bz0, bz1] for some t in [tin, tout]
        top = np.where(hit, bz1 - tin * tan, -1.0).astype(np.float32)
        low = bz0 - tout * tan  # below this height the ray passes under (canopies)
        top = np.where(hit & (low <= 0.5), top, np.where(hit, -1.0, top))
        np.maximum(S[j0:j1, i0:i1], top, out=S[j0:j1, i0:i1])
    if len([k for k in city.cache if isinstance(k, tuple) and k[0] == "shadow"]) > 8:
        for k in [k for k in city.cache if isinstance(k, tuple) and k[0] == "shadow"]:
            del city.cache[k]
    city.cache[key] = S
    return S


def sample_map(city, m: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a light map at world points (1-D arrays)."""
    x0, y0, _, _ = _grid(city)
    mx = ((x - x0) / GRID - 0.5).astype(np.float32).reshape(1, -1)
    my = ((y - y0) / GRID - 0.5).astype(np.float32).reshape(1, -1)
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


def camera_response(rad: np.ndarray, cond: dict, rng: np.random.Generator) -> np.ndarray:
    """Linear radiance [H, W, 3] -> sRGB uint8: exposure / auto-exposure, bloom, blur, sensor
    noise (amplified by the gain), a filmic tone curve."""
    gain = float(cond["exposure"])
    if cond["auto_exposure"]:
        lum = rad[::4, ::4].mean(axis=2)
        key = math.exp(float(np.mean(np.log(lum + 1e-4))))
        gain *= float(np.clip(cond["key"] / key, 1.0, cond["max_gain"]))
    rad = rad * np.float32(gain * 1.6)  # a new array: the caller's radiance is kept
    if cond["condition"] != "day":
        bright = np.maximum(rad - 1.0, 0)
        small = cv2.resize(
            bright, (rad.shape[1] // 4, rad.shape[0] // 4), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (0, 0), 3.0)
        rad += 0.35 * cv2.resize(
            small, (rad.shape[1], rad.shape[0]), interpolation=cv2.INTER_LINEAR
        )
    if cond["blur_sigma"] > 0:
        rad = cv2.GaussianBlur(rad, (0, 0), float(cond["blur_sigma"]))
    if cond["noise"] > 0:
        # sensor noise in the sensor's units (before gain): read noise + shot noise
        var = np.maximum(rad, 0)
        var *= np.float32(0.0008 * cond["noise"] ** 2 * gain)
        var += np.float32(0.00002 * (cond["noise"] * gain) ** 2)
        rad += np.sqrt(var) * _noise_bank(rng, rad.shape)
    idx = np.clip(rad, 0, _TONE_MAX - 1e-3)
    idx *= np.float32(_TONE_N / _TONE_MAX)
    return _TONE_LUT[idx.astype(np.int32)]


_TONE_MAX, _TONE_N = 8.0, 8192
_x = np.linspace(0, _TONE_MAX, _TONE_N, endpoint=False) + 0.5 * _TONE_MAX / _TONE_N
_TONE_LUT = (np.clip(_x * (1 + _x / 6.0) / (1 + _x), 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(
    np.uint8
)
_BANK: dict = {}


def _noise_bank(rng: np.random.Generator, shape) -> np.ndarray:
    """A random window of a fixed bank of Gaussian noise (much cheaper than fresh samples)."""
    if "bank" not in _BANK:
        _BANK["bank"] = np.random.default_rng(12345).standard_normal(
            (1100, 1300, 3), dtype=np.float32
        )
    bank = _BANK["bank"]
    h, w = shape[:2]
    if h > bank.shape[0] - 16 or w > bank.shape[1] - 16:
        return rng.standard_normal(shape, dtype=np.float32)
    y, x = int(rng.integers(bank.shape[0] - h)), int(rng.integers(bank.shape[1] - w))
    flip = bank[y : y + h, x : x + w]
    return flip[::-1] if rng.random() < 0.5 else flip
