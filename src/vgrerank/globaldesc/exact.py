"""CPU-independent VLAD arithmetic: integer descriptors, fixed-point centroids, exact sums.

Floating-point results of BLAS, faiss and numpy's SIMD kernels depend on the CPU (summation
order, FMA, AVX2 vs AVX-512 kernels), and a last-bit difference in a distance can flip a
nearest-centroid assignment or a retrieval rank. Here every quantity that decides anything is an
integer computed exactly:

* local descriptors are quantised to integers (:func:`quantize`, e.g. RootSIFT x 255, 8 bits);
* centroids are fixed point with :data:`FRAC` = 16 steps per descriptor unit;
* nearest-centroid scores ``|c|^2 - 2 F x.c`` (the squared distance less a constant, in units of
  1 / F^2) are integer dot products below 2^53, so float64 matrix products give them exactly,
  whatever the BLAS kernel or summation order; ties go to the lowest centroid index;
* k-means means are exact integer sums divided once and rounded to the fixed-point grid;
* VLAD residual sums are exact int64, their squared norms exact int64, and what follows (sqrt,
  division, the signed square-root power law, a correctly rounded ``math.fsum`` for the global
  norm) is IEEE-exact elementwise arithmetic.

So the same images give the same vocabulary and the same VLAD bytes on every x86 CPU. Powers other
than 0.5 use ``np.power``, whose SIMD kernels may round differently.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

FRAC = 16  # fixed-point steps per descriptor unit of the centroids
_EXACT = 2.0**53  # float64 holds every integer below this exactly


def quantize(desc: np.ndarray, scale: float) -> np.ndarray:
    """Descriptors [n, d] rounded to integers of ``desc * scale`` (float64, integer valued)."""
    return np.rint(np.asarray(desc, dtype=np.float64) * float(scale))


def _check_range(x: np.ndarray, c_fx: np.ndarray) -> None:
    d = x.shape[1]
    bound = d * (float(np.abs(x).max(initial=0)) * float(np.abs(c_fx).max(initial=0)) * 2 * FRAC)
    bound += d * float(np.abs(c_fx).max(initial=0)) ** 2
    if bound >= _EXACT:
        raise DataError(
            f"exact VLAD: descriptor values up to {np.abs(x).max():.0f} are too large for exact "
            "float64 products (lower the descriptor quantisation scale)"
        )


def assign(x: np.ndarray, c_fx: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Nearest fixed-point centroid [n] int64 of integer descriptors ``x`` [n, d] (exact)."""
    if not len(x):
        return np.zeros(0, np.int64)
    _check_range(x, c_fx)
    cn = (c_fx * c_fx).sum(axis=1)  # integer valued, exact in any order
    ct = np.ascontiguousarray(c_fx.T)
    out = np.empty(len(x), np.int64)
    for s in range(0, len(x), chunk):
        score = cn[None, :] - (2 * FRAC) * (x[s : s + chunk] @ ct)
        out[s : s + chunk] = score.argmin(axis=1)  # first minimum: lowest index wins ties
    return out


def word_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-word sums [k, d] of integer descriptors (one-hot product: integer sums below 2^53
    are exact in any summation order)."""
    if len(x) * float(np.abs(x).max(initial=0)) >= _EXACT:
        raise DataError(f"exact VLAD: {len(x)} descriptors overflow exact float64 sums")
    onehot = np.zeros((k, len(x)))
    onehot[labels, np.arange(len(x))] = 1.0
    return onehot @ x


def _to_fixed(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.rint(sums * FRAC / counts[:, None])


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding over distinct integer rows: each next centre drawn with probability
    proportional to the squared distance to the nearest centre so far (exact integers, so the
    same draws on every CPU)."""
    first = int(rng.integers(len(x)))
    centres = [first]
    d2 = ((x - x[first]) ** 2).sum(axis=1)
    for _ in range(1, k):
        cum = np.cumsum(d2)  # integers below 2^53: exact
        nxt = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        nxt = min(nxt, len(x) - 1)
        centres.append(nxt)
        d2 = np.minimum(d2, ((x - x[nxt]) ** 2).sum(axis=1))
    return x[centres]


def kmeans(x: np.ndarray, k: int, niter: int, seed: int) -> np.ndarray:
    """Lloyd's k-means of integer descriptors ``x`` [n, d]: fixed-point centroids [k, d]
    (float64, integer valued, in 1 / :data:`FRAC` units). Initial centroids: k-means++ over the
    distinct descriptors, drawn with ``seed``; an emptied cluster restarts at the descriptor farthest from
    its centroid (lowest index on ties). Stops early when no assignment changes."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    uniq = np.unique(x, axis=0)
    if len(uniq) < k:
        raise DataError(f"VLAD: only {len(uniq)} distinct local descriptors for k={k} words")
    c_fx = _kmeans_pp(uniq, k, np.random.default_rng(seed)) * FRAC
    labels = None
    for _ in range(int(niter)):
        new = assign(x, c_fx)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        sums = word_sums(x, labels, k)
        empty = np.flatnonzero(counts == 0)
        full = counts > 0
        c_fx[full] = _to_fixed(sums[full], counts[full])
        for j in empty:
            resid = ((x * FRAC - c_fx[labels]) ** 2).sum(axis=1)  # exact integers
            far = int(resid.argmax())
            c_fx[j] = x[far] * FRAC
            labels[far] = j
    return c_fx


def vlad(x: np.ndarray, c_fx: np.ndarray, intra_norm: bool, power: float | None) -> np.ndarray:
    """VLAD [k*d] float32 of integer descriptors ``x`` [n, d] with fixed-point centroids:
    residual sums, intra-normalisation, power law, global L2 (exact up to the final rounding)."""
    k, d = c_fx.shape
    r = np.zeros((k, d), np.int64)
    if len(x):
        labels = assign(x, c_fx)
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        r = (FRAC * word_sums(x, labels, k) - counts[:, None] * c_fx).astype(np.int64)
    if d * float(np.abs(r).max(initial=0)) ** 2 >= 2.0**63:
        raise DataError(f"exact VLAD: residual sums of {len(x)} descriptors overflow int64")
    out = r.astype(np.float64)
    if intra_norm:
        sq = (r * r).sum(axis=1)  # exact int64
        norms = np.sqrt(sq.astype(np.float64))
        out = np.divide(out, norms[:, None], out=np.zeros_like(out), where=sq[:, None] > 0)
    out = out.reshape(-1)
    if power is not None and power != 1:
        mag = np.sqrt(np.abs(out)) if power == 0.5 else np.abs(out) ** float(power)
        out = np.sign(out) * mag
    norm = math.sqrt(math.fsum((out * out).tolist()))
    if norm > 0:
        out = out / norm
    return out.astype(np.float32)
