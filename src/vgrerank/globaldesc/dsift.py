"""Dense SIFT (VLFeat ``vl_dsift`` / PHOW style, as in DenseVLAD, Torii et al. 2015) whose
output is bit-identical on every x86 CPU and SIMD level.

Only operations whose results do not depend on SIMD dispatch are used: elementwise float32
``+ - * /`` and ``np.sqrt`` (IEEE correctly rounded, numpy never contracts them into FMAs),
comparisons, ``floor``/``rint``, integer arithmetic and gathers. No BLAS, no numpy
transcendental ufuncs (the orientation comes from ``atan_det`` on the octant's ratio, the
Gaussian taps from ``exp_det``), no OpenCV filters, and every float reduction is a Python loop
adding whole arrays in a fixed order.

Per patch width ``w`` (bin size ``b = w / 4``):

1. the image (float32) is smoothed with a Gaussian of sigma ``b / 6`` (VLFeat PHOW: ``sigma =
   binSize / magnif``, magnif 6), a separable kernel of radius ``ceil(3 sigma)`` applied as a
   fixed-order sum of shifted arrays, border replicated;
2. central-difference gradients; the direction is soft-binned into 8 orientation maps
   (triangular weights between the two nearest of 8 bins: bin ``k`` at angle ``k * 45``
   degrees, measured from +x towards -y, i.e. counter-clockwise on screen, as OpenCV's SIFT);
3. each orientation map is filtered with the separable triangular kernel ``1 - |d| / b``
   (``|d| < b``): the bilinear spatial interpolation of SIFT, so that the value of the filtered
   map at a spatial bin's centre is that bin's histogram entry;
4. the descriptor of a keypoint is the 4 x 4 bins x 8 orientations gathered at the bin centres
   (``centre + (i - 1.5) b``; bilinear gather when a centre is not on a pixel), in OpenCV's layout
   (row-major bins, then orientation).

The spatial window is **flat** (every bin weighs the same), as in VLFeat's fast dense mode used
by PHOW/DenseVLAD: it makes a descriptor a pure gather from the filtered maps (no per-keypoint
weighting), the dense grid is sampled at every location anyway, and a Gaussian window mainly
buys robustness to keypoint mislocalisation, which a regular grid does not have.

Then L2 normalise, clamp at 0.2, renormalise and quantise ``min(rint(512 v), 255)`` to uint8
(OpenCV's and VLFeat's scale; ``rint`` rounds half to even).

Grid: as ``vlad.dense_rootsift`` (centres ``step`` apart, starting half a patch inside the image,
at least half a patch from every border, rows outer, columns inner, one block per width), except
that a width whose patch does not fit (``min(h, w) < width + 1``) gives no keypoints (the OpenCV
path then shrinks the margin instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from ..synth.conditions import atan_det, exp_det

F32 = np.float32
NBINS = 4
NORI = 8
MAGNIF = 6.0
CLAMP = 0.2


def _check(gray: np.ndarray, step: int, scales: Sequence[float]) -> None:
    if not isinstance(gray, np.ndarray):
        raise DataError(f"dsift: image must be a numpy array, got {type(gray).__name__}")
    if gray.dtype != np.uint8:
        raise DataError(f"dsift: image must be uint8 grayscale, got dtype {gray.dtype}")
    if gray.ndim != 2:
        raise DataError(f"dsift: image must be 2-D [H, W] grayscale, got shape {gray.shape}")
    if int(step) != step or step < 1:
        raise DataError(f"dsift: step must be a positive integer, got {step!r}")
    for s in scales:
        if not (float(s) > 0):
            raise DataError(f"dsift: patch widths must be positive, got {s!r}")


def _filter_1d(a: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """``sum_d taps[d] * a[shifted by d - r]`` along ``axis`` (border replicated), the taps
    added in a fixed order (centre first, then +-1, +-2, ...)."""
    r = (len(taps) - 1) // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r, r)
    p = np.pad(a, pad, mode="edge")
    n = a.shape[axis]

    def sl(off: int) -> np.ndarray:
        return p[r + off : r + off + n] if axis == 0 else p[:, r + off : r + off + n]

    out = sl(0) * taps[r]
    for d in range(1, r + 1):
        out += (sl(-d) + sl(d)) * taps[r + d]
    return out


def _gauss_taps(sigma: float) -> np.ndarray:
    r = max(1, math.ceil(3.0 * sigma))
    d = np.arange(-r, r + 1, dtype=np.float64)
    g = exp_det(-(d * d) / (2.0 * sigma * sigma)).astype(np.float64)
    s = g[r]
    for i in range(1, r + 1):  # fixed order (symmetric pairs)
        s += g[r - i] + g[r + i]
    return (g / s).astype(F32)


def _tri_taps(b: float) -> np.ndarray:
    r = math.ceil(b) - 1
    d = np.arange(-r, r + 1, dtype=np.float64)
    return np.maximum(0.0, 1.0 - np.abs(d) / b).astype(F32)


def _orientation_maps(img: np.ndarray) -> list[np.ndarray]:
    """8 float32 maps: gradient magnitude soft-binned by direction."""
    p = np.pad(img, 1, mode="edge")
    gx = (p[1:-1, 2:] - p[1:-1, :-2]) * F32(0.5)
    gy = (p[:-2, 1:-1] - p[2:, 1:-1]) * F32(0.5)  # y up, as OpenCV
    mag = np.sqrt(gx * gx + gy * gy)
    ax, ay = np.abs(gx), np.abs(gy)
    hi = np.maximum(ax, ay)
    lo = np.minimum(ax, ay)
    t = np.divide(lo, hi, out=np.zeros_like(lo), where=hi > 0)
    a = atan_det(t).astype(F32)  # [0, pi/4]
    a = np.where(ay > ax, F32(math.pi / 2) - a, a)
    a = np.where(gx < 0, F32(math.pi) - a, a)
    a = np.where(gy < 0, F32(2 * math.pi) - a, a)
    nt = a * F32(NORI / (2 * math.pi))
    b0 = np.floor(nt)
    w1 = nt - b0
    w0 = F32(1.0) - w1
    b0 = b0.astype(np.int64) % NORI
    b1 = (b0 + 1) % NORI
    m0, m1 = mag * w0, mag * w1
    zero = F32(0.0)
    return [np.where(b0 == k, m0, zero) + np.where(b1 == k, m1, zero) for k in range(NORI)]


def _grid(h: int, w: int, step: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    half = float(width) / 2.0
    if min(h, w) < width + 1:
        return np.zeros(0, F32), np.zeros(0, F32)
    xs = np.arange(half, w - half, step, dtype=np.float32)
    ys = np.arange(half, h - half, step, dtype=np.float32)
    return xs, ys


def _gather(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``m`` at float64 coordinates (exact gather at integer ones)."""
    h, w = m.shape
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(F32)
    fy = (y - y0).astype(F32)
    xi = np.clip(x0.astype(np.int64), 0, w - 1)
    yi = np.clip(y0.astype(np.int64), 0, h - 1)
    if not (fx.any() or fy.any()):
        return m[yi, xi]
    xj = np.clip(xi + 1, 0, w - 1)
    yj = np.clip(yi + 1, 0, h - 1)
    top = m[yi, xi] * (F32(1) - fx) + m[yi, xj] * fx
    bot = m[yj, xi] * (F32(1) - fx) + m[yj, xj] * fx
    return top * (F32(1) - fy) + bot * fy


def _l2_normalise(d: np.ndarray) -> np.ndarray:
    s = d[:, 0] * d[:, 0]
    for j in range(1, d.shape[1]):  # fixed order over the 128 columns
        s += d[:, j] * d[:, j]
    n = np.sqrt(s)
    return np.divide(d, n[:, None], out=np.zeros_like(d), where=n[:, None] > 0)


def dsift(
    gray: np.ndarray, step: int = 8, scales: Sequence[float] = (16, 24, 32)
) -> tuple[np.ndarray, np.ndarray]:
    """Dense SIFT of ``gray`` (uint8 [H, W]): descriptors uint8 [n, 128] and keypoints float32
    [n, 3] (x, y, patch width), one block per width in ``scales``, rows outer, columns inner."""
    _check(gray, step, scales)
    h, w = gray.shape
    img = gray.astype(F32)
    descs, kps = [], []
    for width in scales:
        xs, ys = _grid(h, w, int(step), float(width))
        if len(xs) == 0 or len(ys) == 0:
            continue
        b = float(width) / NBINS
        sm = _filter_1d(_filter_1d(img, _gauss_taps(b / MAGNIF), 0), _gauss_taps(b / MAGNIF), 1)
        tri = _tri_taps(b)
        maps = [_filter_1d(_filter_1d(o, tri, 0), tri, 1) for o in _orientation_maps(sm)]
        gx, gy = np.meshgrid(xs.astype(np.float64), ys.astype(np.float64))
        cx, cy = gx.ravel(), gy.ravel()
        n = len(cx)
        d = np.empty((n, NBINS, NBINS, NORI), F32)
        for i in range(NBINS):  # bin row (y)
            for j in range(NBINS):  # bin column (x)
                bx = cx + (j - 1.5) * b
                by = cy + (i - 1.5) * b
                for k in range(NORI):
                    d[:, i, j, k] = _gather(maps[k], bx, by)
        descs.append(d.reshape(n, -1))
        kps.append(np.stack([cx, cy, np.full(n, float(width))], axis=1).astype(F32))
    if not descs:
        return np.zeros((0, 128), np.uint8), np.zeros((0, 3), F32)
    d = _l2_normalise(np.concatenate(descs))
    np.minimum(d, F32(CLAMP), out=d)
    d = _l2_normalise(d)
    q = np.minimum(np.rint(d * F32(512.0)), F32(255.0)).astype(np.uint8)
    return q, np.concatenate(kps)


def rootsift_from_uint8(desc: np.ndarray) -> np.ndarray:
    """RootSIFT float32 [n, 128] of uint8 SIFT descriptors: L1 normalised with exact integer
    sums, then sqrt (both correctly rounded, so the same on any CPU)."""
    s = desc.astype(np.int64).sum(axis=1, keepdims=True)
    r = desc.astype(F32) / np.maximum(s, 1).astype(F32)
    return np.sqrt(r, out=r)


def dense_rootsift_det(
    gray: np.ndarray, step: int = 8, scales: Sequence[float] = (16, 24, 32)
) -> np.ndarray:
    """Drop-in for ``vlad.dense_rootsift``: RootSIFT float32 [n, 128] of ``dsift``."""
    desc, _ = dsift(gray, step, scales)
    return rootsift_from_uint8(desc)


def to_gray_det(image: np.ndarray) -> np.ndarray:
    """RGB uint8 -> grey uint8 with OpenCV's integer BT.601 weights (``(4899 R + 9617 G + 1868 B
    + 8192) >> 14``), in int32 numpy arithmetic: exact on every CPU. A grey image passes through."""
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(
            f"to_gray_det: expected an RGB uint8 image, got {image.dtype} {image.shape}"
        )
    c = image.astype(np.int32)
    return ((4899 * c[..., 0] + 9617 * c[..., 1] + 1868 * c[..., 2] + 8192) >> 14).astype(np.uint8)


def _area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Box-filter (area) resampling taps: output pixel ``i`` averages the input interval
    ``[i r, (i + 1) r)`` with ``r = n_in / n_out``, each input pixel weighted by its overlap.
    Returns indices and float64 weights [n_out, T] (padding taps have weight 0)."""
    r = n_in / n_out
    t = int(math.ceil(r)) + 1
    idx = np.zeros((n_out, t), np.int64)
    wts = np.zeros((n_out, t), np.float64)
    for i in range(n_out):
        lo, hi = i * r, (i + 1) * r
        j0 = int(math.floor(lo))
        for k in range(t):
            j = j0 + k
            if j >= n_in or j >= hi:
                break
            idx[i, k] = j
            wts[i, k] = (min(hi, j + 1) - max(lo, j)) / r
    return idx, wts


def _area_1d(a: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    idx, wts = _area_taps(a.shape[axis], n_out)
    out = np.zeros(a.shape[:axis] + (n_out,) + a.shape[axis + 1 :], np.float64)
    shape = [1] * a.ndim
    shape[axis] = n_out
    for k in range(idx.shape[1]):  # a fixed-order sum of weighted gathers
        out += np.take(a, idx[:, k], axis=axis) * wts[:, k].reshape(shape)
    return out


def resize_max_det(gray: np.ndarray, max_side: int | None) -> np.ndarray:
    """Area downscaling of a grey uint8 image so its longer side is at most ``max_side`` (the
    output size as ``imageio.resize_max``), from elementwise float64 operations in a fixed order
    and ``rint``: the same bytes on every CPU. Upscaling is never done."""
    h, w = gray.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return gray
    s = max_side / max(h, w)
    new_w, new_h = max(1, round(w * s)), max(1, round(h * s))
    out = _area_1d(_area_1d(gray.astype(np.float64), new_h, 0), new_w, 1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
