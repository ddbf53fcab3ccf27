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
- ``light_pools``, ``motion_blur_px``, ``glare``, ``iso_noise``, ``noise_grain``, ``chroma_noise``,
  ``row_noise``, ``grey``, ``equalize``, ``jpeg_quality``: night-camera effects of
  :mod:`.sensor` (0 = off; set for ``night`` only).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ConfigError
from . import sensor

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
        "light_pools": 0.0,
        "motion_blur_px": 0.0,
        "glare": 0.0,
        "iso_noise": 0.0,
        "noise_grain": 0.0,
        "chroma_noise": 0.0,
        "row_noise": 0.0,
        "grey": 0.0,
        "equalize": 0.0,
        "jpeg_quality": 0.0,
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
        "light_pools": 0.0,
        "motion_blur_px": 0.0,
        "glare": 0.0,
        "iso_noise": 0.0,
        "noise_grain": 0.0,
        "chroma_noise": 0.0,
        "row_noise": 0.0,
        "grey": 0.0,
        "equalize": 0.0,
        "jpeg_quality": 0.0,
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
        # night-camera realism (vgrerank.synth.sensor). Calibrated with bench/realism.py and the
        # demo: with these values learned features beat SIFT/RootSIFT on the retrieval top-K as
        # on real night frames, and re-ranking still recovers part of the day-night gap. The
        # Gardens Point look (grey, equalised, heavy blotchy noise: iso_noise (0.25, 0.4),
        # motion_blur_px (1, 3), row_noise 0.05, grey 1, equalize 1, jpeg_quality 60) defeats
        # every method on SynthCity's retrieval top-10 (R@1 11-15 %, retrieval 11 %).
        "light_pools": (0.3, 0.7),
        "motion_blur_px": (0.5, 1.5),
        "glare": 0.25,
        "iso_noise": 0.12,
        "noise_grain": 1.2,
        "chroma_noise": 0.3,
        "row_noise": 0.03,
        "grey": 0.0,
        "equalize": 0.0,
        "jpeg_quality": 70.0,
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


# ---- deterministic numerics -------------------------------------------------------------------
# Images must be bit-identical on every CPU, whatever SIMD level numpy and OpenCV dispatch to.
# IEEE + - * / sqrt, min/max, floor/rint and integer arithmetic are exactly rounded (identical
# for any vector width), and numpy never fuses separate ufunc calls into an FMA. Transcendental
# ufuncs (exp, log, power, arctan, ...) and OpenCV's float filters/remap are *not* (their SIMD
# kernels differ in the last bits), so the renderer uses the helpers below instead: polynomials
# built from exactly rounded operations, bilinear lookups in numpy, and OpenCV only on integer
# data through its bit-exact fixed-point paths.

_LN2_HI = 0.693359375  # 9 significant bits: k * _LN2_HI is exact for |k| < 2**14
_LN2_LO = -2.12194440054690583e-4
_EXP_C = (1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1.0)  # Taylor, |r| <= ln2 / 2


def exp_det(x):
    """``exp(x)`` (float32 or float64 array, or a scalar -> float64) from + - * and ``ldexp``
    only, so the same on any CPU (relative error < 3e-7; ``x`` clipped to -87..88)."""
    x = np.asarray(x)
    dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    x = np.clip(x, dt.type(-87.0), dt.type(88.0), dtype=dt)
    k = np.rint(x * dt.type(1.0 / math.log(2.0)))
    r = x - k * dt.type(_LN2_HI)
    r -= k * dt.type(_LN2_LO)
    p = np.full_like(r, _EXP_C[0])
    for c in _EXP_C[1:]:
        p *= r
        p += dt.type(c)
    return np.ldexp(p, k.astype(np.int32))


def log_det(x: np.ndarray) -> np.ndarray:
    """Natural log of positive float64 values from ``frexp`` and + - * / only (rel. err ~1e-12)."""
    m, e = np.frexp(np.asarray(x, np.float64))
    small = m < math.sqrt(0.5)
    m = np.where(small, m * 2.0, m)
    e = e - small
    s = (m - 1.0) / (m + 1.0)  # |s| <= 0.172
    s2 = s * s
    p = np.full_like(s, 1 / 13)
    for c in (1 / 11, 1 / 9, 1 / 7, 1 / 5, 1 / 3, 1.0):
        p *= s2
        p += c
    return 2.0 * s * p + e * math.log(2.0)


def atan_det(t):
    """``arctan(t)`` (float32 or float64 array) from + - * / sqrt only (abs. error < 1e-7)."""
    t = np.asarray(t)
    dt = t.dtype if t.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    t = t.astype(dt, copy=False)
    a = np.abs(t)
    inv = a > 1
    with np.errstate(divide="ignore"):
        u = np.where(inv, dt.type(1.0) / a, a)
    for _ in range(2):  # atan(u) = 2 atan(u / (1 + sqrt(1 + u^2))): |u| <= tan(pi / 16)
        u = u / (dt.type(1.0) + np.sqrt(dt.type(1.0) + u * u))
    u2 = u * u
    p = np.full_like(u, -1 / 11)
    for c in (1 / 9, -1 / 7, 1 / 5, -1 / 3, 1.0):
        p *= u2
        p += dt.type(c)
    r = p * u * dt.type(4.0)
    r = np.where(inv, dt.type(math.pi / 2) - r, r)
    return np.copysign(r, t)


def bilinear(m: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a float32 map ``m`` [h, w] at pixel coordinates ``(mx, my)`` (any
    equal shapes), border replicated, in float32 numpy (``cv2.remap`` of float maps is not
    bit-exact across SIMD levels)."""
    h, w = m.shape
    f32 = np.float32
    x = np.maximum(mx, f32(-1.0), dtype=f32)
    np.minimum(x, f32(w - 1), out=x)
    y = np.maximum(my, f32(-1.0), dtype=f32)
    np.minimum(y, f32(h - 1), out=y)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    xb, yb = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1) * w
    xa, ya = np.maximum(x0, 0, out=x0), np.maximum(y0, 0, out=y0) * w
    flat = m.ravel()
    top = flat[ya + xa]
    top += (flat[ya + xb] - top) * fx
    bot = flat[yb + xa]
    bot += (flat[yb + xb] - bot) * fx
    bot -= top
    bot *= fy
    top += bot
    return top


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
        q = 1.0 + r2 / r0**2  # q ** 1.5 as q * sqrt(q): exactly rounded everywhere
        m[j0:j1, i0:i1] += (1.0 / (q * np.sqrt(q))).astype(np.float32)
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
    mx = ((x - x0) / GRID - 0.5 - origin[0]).astype(np.float32).reshape(-1)
    my = ((y - y0) / GRID - 0.5 - origin[1]).astype(np.float32).reshape(-1)
    return bilinear(m, mx, my)


# lookup tables from Python's scalar math (numpy's power ufunc is SIMD-dispatched)
_SRGB_TO_LIN = np.array([(i / 255.0) ** 2.2 for i in range(256)], np.float32)
_LIN_TO_SRGB = np.array(
    [(i / 4095) ** (1 / 2.2) * 255 + 0.5 for i in range(4096)], np.float64
).astype(np.uint8)


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
    -> sRGB uint8 [H, W, 3]. Bit-identical on any CPU: the auto-exposure gain comes from
    :func:`log_det` and an exact sum, the bloom and blur filter uint16 fixed point with
    OpenCV's bit-exact integer paths, everything else is exactly rounded float32 arithmetic."""
    f32 = np.float32
    gain = float(cond["exposure"])
    if cond["auto_exposure"]:
        lum = planes[0][::4, ::4].astype(np.float64)
        lum += planes[1][::4, ::4]
        lum += planes[2][::4, ::4]
        lum /= 3.0
        lum += 1e-4
        # exact sum (math.fsum) of a deterministic log: the gain is the same on any CPU
        mean_log = math.fsum(log_det(lum).ravel().tolist()) / lum.size
        key = float(exp_det(mean_log))
        gain *= float(np.clip(cond["key"] / key, 1.0, cond["max_gain"]))
    H, W = planes[0].shape
    for p in planes:
        p *= f32(gain * 1.6)
    if cond["condition"] != "day":
        for p in planes:
            bright = np.subtract(p, f32(1.0))
            np.clip(bright, f32(0.0), f32(_BLOOM_MAX), out=bright)
            up = _bloom(_to_fixed(bright, _BLOOM_ONE))
            up *= f32(0.35 / _BLOOM_ONE)
            p += up
    if cond["blur_sigma"] > 0:
        # a Gaussian on uint16 fixed point: OpenCV's bit-exact path (its float one is not)
        sigma = float(cond["blur_sigma"])
        for p in planes:
            np.clip(p, f32(0.0), f32(_BLUR_MAX), out=p)
            q = cv2.GaussianBlur(_to_fixed(p, _BLUR_ONE), (0, 0), sigma)
            np.multiply(q, f32(1.0 / _BLUR_ONE), out=p, casting="unsafe")
    out = []
    noise = _noise_bank(rng, (H, W)) if cond["noise"] > 0 else None
    # tone-curve index = rad * scale; the noise is added in index units
    scale = _TONE_N / _TONE_MAX
    a = 0.0008 * cond["noise"] ** 2 * gain * scale**2
    b = 0.00002 * (cond["noise"] * gain) ** 2 * scale**2
    for c, p in enumerate(planes):
        idx = np.multiply(p, f32(scale))
        if noise is not None:
            # sensor noise in the sensor's units (before gain): read noise + shot noise,
            # sd = sqrt(a * max(rad, 0) + b)
            sd = np.multiply(p, f32(a))
            sd += f32(b)
            np.maximum(sd, f32(b), out=sd)
            np.sqrt(sd, out=sd)
            sd *= noise[c]
            idx += sd
        np.minimum(idx, f32(_TONE_N), out=idx)
        out.append(np.take(_TONE_LUT, idx.astype(np.int32), mode="clip"))
    return sensor.apply(cv2.merge(out), cond, rng, transposed=True)  # night camera: sensor.py


_TONE_MAX, _TONE_N = 8.0, 8192
_x = np.linspace(0, _TONE_MAX, _TONE_N, endpoint=False) + 0.5 * _TONE_MAX / _TONE_N
_TONE_LUT = np.array(
    [
        min(max(v, 0.0), 1.0) ** (1 / 2.2) * 255 + 0.5
        for v in (_x * (1 + _x / 6.0) / (1 + _x)).tolist()
    ],
    np.float64,
).astype(np.uint8)
_BANK: dict = {}
# fixed point (uint16) for the filters: bloom of radiance above 1 (up to 1 + _BLOOM_MAX) and
# blur of radiance up to _BLUR_MAX (the tone curve saturates at _TONE_MAX)
_BLOOM_MAX, _BLOOM_ONE = 63.0, 1024.0
_BLUR_MAX, _BLUR_ONE = 15.99, 4096.0


def _to_fixed(p: np.ndarray, one: float) -> np.ndarray:
    """Non-negative float32 plane (already clipped to the range) -> uint16 ``rint(p * one)``."""
    q = np.multiply(p, np.float32(one))
    np.rint(q, out=q)
    return q.astype(np.uint16)


def _bloom(q: np.ndarray) -> np.ndarray:
    """Wide glow of a uint16 plane [H, W] -> float32 [H, W] in the same units: 4x4 box average
    (exact integer sums), a Gaussian (sigma 3, bit-exact uint16 path) and bilinear upsampling
    (``INTER_LINEAR_EXACT``)."""
    H, W = q.shape
    h4, w4 = max(1, H // 4), max(1, W // 4)
    if H < 4 or W < 4:
        return np.zeros((H, W), np.float32)
    s = q[: 4 * h4, : 4 * w4].reshape(h4, 4, w4, 4).sum(axis=(1, 3), dtype=np.uint32)
    small = ((s + 8) >> 4).astype(np.uint16)
    small = cv2.GaussianBlur(small, (0, 0), 3.0)
    up = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR_EXACT)
    return up.astype(np.float32)


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
