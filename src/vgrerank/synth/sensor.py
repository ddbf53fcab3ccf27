"""Night-camera realism: what a hand-held phone/camera at high ISO does to a night photograph.

:func:`apply` takes the tone-mapped sRGB uint8 image of :func:`.conditions.camera_response_planes`
and, in this order (a physical pipeline: scene light, optics, sensor, camera processing, codec),

1. ``light_pools``: local lighting. Night light comes from a few lamps and windows, so the
   illumination of a surface is a set of pools (bright under a light, dark between) that has
   nothing to do with the day's sun and sky; a smooth random field of 3-6 pools multiplies the
   linear image (0 = off, 1 = areas between pools at 30 %, pools up to ~3x).
2. ``motion_blur_px``: a long exposure from the hand: a line kernel of that length (px) in a
   random direction.
3. ``glare``: bloom and a cross of streaks around every near-saturated light (lamps, lit
   windows, signs): lens scatter and the diffraction / smear of a small phone lens.
4. ``iso_noise``: sensor noise at high ISO (shot + read noise, sd ``iso_noise * sqrt(0.02 * lin +
   0.0004)`` in linear units), made blotchy by demosaicing and the camera's denoiser:
   ``noise_grain`` is the sd (px) of the Gaussian that correlates it, ``chroma_noise`` the
   share (0..1) of it that is independent per colour channel, ``row_noise`` the sd of a
   per-row offset (readout banding) relative to the pixel noise.
5. ``grey``: 1 converts to grey (the Gardens Point night frames are grey).
6. ``equalize``: blend (0..1) towards a global histogram equalisation of the luma: the
   contrast enhancement that makes a dark frame usable and amplifies its noise.
7. ``jpeg_quality``: re-encode with that JPEG quality (0 = off): low-light phone JPEGs are coded
   coarsely, and the blocks and ringing make corners of their own.

Every parameter is 0 (off) unless the condition sets it (:data:`.conditions.PRESETS` sets them
for ``night`` only), so day and dusk images are unchanged and no random number is drawn for them.

Determinism: everything is float64 numpy with + - * / sqrt, filters are ``scipy.ndimage``
correlations in float64 with kernels built from Python's ``math`` and rounded to a 2**-40 grid,
reductions are exact (integer counts, ``math.fsum``), the image is quantised to uint8 once, and
all randomness comes from the given ``numpy.random.Generator``. JPEG coding is libjpeg's integer
DCT (as in :mod:`.writer`). The same image, condition and seed give the same bytes on any CPU.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

from ..errors import DataError

KEYS = (
    "light_pools",
    "motion_blur_px",
    "glare",
    "iso_noise",
    "noise_grain",
    "chroma_noise",
    "row_noise",
    "grey",
    "equalize",
    "jpeg_quality",
)
_GRID = float(2**40)


def params(cond: dict) -> dict[str, float]:
    """The sensor parameters of a resolved condition (missing ones are 0 = off)."""
    return {k: float(cond.get(k, 0.0) or 0.0) for k in KEYS}


def active(p: dict[str, float]) -> bool:
    return any(p[k] > 0 for k in KEYS if k not in ("noise_grain", "chroma_noise", "row_noise"))


def _round(w: np.ndarray) -> np.ndarray:
    return np.round(w * _GRID) / _GRID


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian (radius 3 sigma) from ``math.exp``, on a 2**-40 grid."""
    r = max(1, int(math.ceil(3.0 * sigma)))
    w = [math.exp(-0.5 * (k / sigma) ** 2) for k in range(-r, r + 1)]
    s = math.fsum(w)
    return _round(np.array([v / s for v in w]))


def _blur(a: np.ndarray, sigma: float, axes=(0, 1)) -> np.ndarray:
    w = gaussian_kernel(sigma)
    for ax in axes:
        a = ndimage.correlate1d(a, w, axis=ax, mode="reflect")
    return a


def _light_pools(lin: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    H, W = lin.shape[:2]
    field = np.zeros((H, W))
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0, W), rng.uniform(0.1 * H, 1.1 * H)
        rad = rng.uniform(0.12, 0.35) * W
        amp = rng.uniform(0.8, 2.6)
        gx = np.array([math.exp(-0.5 * ((x - cx) / rad) ** 2) for x in range(W)])
        gy = np.array([amp * math.exp(-0.5 * ((y - cy) / rad) ** 2) for y in range(H)])
        field += _round(gy)[:, None] * _round(gx)[None, :]
    gain = np.maximum((1.0 - 0.7 * s) + s * field, 0.0)
    return lin * gain[:, :, None]


def _motion_blur(lin: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """Line kernel of ``length`` px in a random direction, as a sum of shifted copies of the
    edge-padded image (bilinear weights of ``n`` points along the line)."""
    theta = rng.uniform(0.0, math.pi)
    dy, dx = math.sin(theta), math.cos(theta)
    n = max(2, int(math.ceil(length)) + 1)
    taps: dict[tuple[int, int], float] = {}
    for i in range(n):
        t = (i / (n - 1) - 0.5) * length
        y, x = t * dy, t * dx
        y0, x0 = math.floor(y), math.floor(x)
        fy, fx = y - y0, x - x0
        for oy, ox, w in (
            (y0, x0, (1 - fy) * (1 - fx)),
            (y0, x0 + 1, (1 - fy) * fx),
            (y0 + 1, x0, fy * (1 - fx)),
            (y0 + 1, x0 + 1, fy * fx),
        ):
            if w > 0:
                taps[(oy, ox)] = taps.get((oy, ox), 0.0) + w / n
    r = int(math.ceil(length / 2)) + 1
    H, W = lin.shape[:2]
    pad = np.pad(lin, ((r, r), (r, r), (0, 0)), mode="edge")
    acc = np.zeros_like(lin)
    for (oy, ox), w in sorted(taps.items()):
        acc += float(_round(np.array(w))) * pad[r + oy : r + oy + H, r + ox : r + ox + W]
    return acc


def _streak_kernel(length: float) -> np.ndarray:
    r = max(1, int(math.ceil(3.0 * length)))
    w = [math.exp(-abs(k) / length) for k in range(-r, r + 1)]
    s = math.fsum(w)
    return _round(np.array([v / s for v in w]))


def _glare(lin: np.ndarray, g: float) -> np.ndarray:
    """Bloom (Gaussian) and a cross of exponential streaks around near-saturated pixels,
    computed at 1/4 resolution (block means) and upsampled bilinearly."""
    H, W, C = lin.shape
    bright = np.maximum(lin - 0.55, 0.0)
    if not bright.any():
        return lin
    h, w = H // 4, W // 4
    if h < 2 or w < 2:
        return lin
    small = np.zeros((h, w, C))
    for i in range(4):
        for j in range(4):
            small += bright[i : 4 * h : 4, j : 4 * w : 4]
    small *= 1.0 / 16.0
    bloom = _blur(small, 0.012 * W / 4)
    k = _streak_kernel(0.03 * W / 4)
    streaks = ndimage.correlate1d(small, k, axis=0, mode="constant")
    streaks += ndimage.correlate1d(small, k, axis=1, mode="constant")
    add = 6.0 * bloom + 3.0 * streaks
    up = _upsample4(_upsample4(add, 0), 1)
    up = np.pad(up, ((0, H - 4 * h), (0, W - 4 * w), (0, 0)), mode="edge")
    return lin + g * up


def _upsample4(a: np.ndarray, axis: int) -> np.ndarray:
    """Bilinear 4x upsampling along ``axis`` (pixel centres aligned, edges replicated)."""
    n = a.shape[axis]
    pad = [(0, 0)] * a.ndim
    pad[axis] = (1, 1)
    p = np.pad(a, pad, mode="edge")
    prev, cur, nxt = (p.take(np.arange(k, k + n), axis=axis) for k in range(3))
    parts = (
        0.375 * prev + 0.625 * cur,
        0.125 * prev + 0.875 * cur,
        0.875 * cur + 0.125 * nxt,
        0.625 * cur + 0.375 * nxt,
    )
    out = np.stack(parts, axis=axis + 1)
    shape = list(a.shape)
    shape[axis] = 4 * n
    return out.reshape(shape)


def _noise(lin: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    H, W, C = lin.shape
    c = min(max(p["chroma_noise"], 0.0), 1.0) if C == 3 else 0.0
    n = rng.standard_normal((H, W, 1))
    if c > 0:
        n = math.sqrt(1.0 - c) * n + math.sqrt(c) * rng.standard_normal((H, W, 3))
    if p["noise_grain"] > 0:
        w = gaussian_kernel(p["noise_grain"])
        n = _blur(n, p["noise_grain"]) * (1.0 / math.fsum((w * w).tolist()))
    if p["row_noise"] > 0:
        n = n + p["row_noise"] * rng.standard_normal((H, 1, 1))
    sd = p["iso_noise"] * np.sqrt(0.02 * lin + 0.0004)
    return np.maximum(lin + sd * n, 0.0)


def _equalize(v: np.ndarray, e: float) -> np.ndarray:
    """Blend luma ``v`` (0..1) towards its global histogram equalisation (1024 bins)."""
    q = np.minimum((v * 1024.0).astype(np.int64), 1023)
    cdf = np.cumsum(np.bincount(q.ravel(), minlength=1024))
    lo = int(cdf[int(q.min())])  # the darkest occupied bin maps to 0
    den = max(1, int(cdf[-1]) - lo)
    lut = (cdf - lo).astype(np.float64) / float(den)
    return (1.0 - e) * v + e * np.maximum(lut[q], 0.0)


def apply(
    img: np.ndarray, cond: dict, rng: np.random.Generator, transposed: bool = False
) -> np.ndarray:
    """The effects of ``cond`` (see the module doc) on an sRGB uint8 image [H, W, 3]; with
    ``transposed`` the image is [W, H, 3] (render's canvas) and so is the result. Returns
    ``img`` itself when every effect is off."""
    p = params(cond)
    if not active(p):
        return img
    x = img.astype(np.float64) * (1.0 / 255.0)
    if transposed:
        x = x.transpose(1, 0, 2)
    lin = x * x  # gamma 2: only products and square roots
    grey = p["grey"] > 0
    if grey:  # one channel from here on (the luma in linear units)
        lin = (0.299 * lin[:, :, 0] + 0.587 * lin[:, :, 1] + 0.114 * lin[:, :, 2])[:, :, None]
    if p["light_pools"] > 0:
        lin = _light_pools(lin, p["light_pools"], rng)
    if p["motion_blur_px"] > 0:
        lin = _motion_blur(lin, p["motion_blur_px"], rng)
    if p["glare"] > 0:
        lin = _glare(lin, p["glare"])
    if p["iso_noise"] > 0:
        lin = _noise(lin, p, rng)
    v = np.sqrt(np.minimum(lin, 1.0))
    if p["equalize"] > 0:
        y = v[:, :, 0] if grey else 0.299 * v[:, :, 0] + 0.587 * v[:, :, 1] + 0.114 * v[:, :, 2]
        y2 = _equalize(y, min(p["equalize"], 1.0))
        v = y2[:, :, None] if grey else v * (y2 / np.maximum(y, 1e-6))[:, :, None]
    out = np.clip(np.floor(v * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if p["jpeg_quality"] > 0:
        out = _jpeg(out, int(p["jpeg_quality"]))
    if grey:
        out = np.repeat(out, 3, axis=2)
    if transposed:
        out = out.transpose(1, 0, 2)
    return np.ascontiguousarray(out)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode [H, W, 1|3] uint8 (grey is coded as one channel)."""
    grey = img.shape[2] == 1
    src = img[:, :, 0] if grey else img[:, :, ::-1]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(src), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DataError(
            f"sensor: OpenCV could not JPEG-encode a {src.shape} image at quality {quality}"
        )
    dec = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    return dec[:, :, None] if grey else dec[:, :, ::-1]
