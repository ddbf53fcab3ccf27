"""Exact nearest-neighbour search with integer scores: the same ranks on every CPU.

faiss (and any float32 BLAS) computes distances whose last bits depend on the CPU's kernels, so
two database images at nearly the same distance from a query can swap ranks between an AVX2 and
an AVX-512 machine. Here rows are L2-normalised in float64 with a fixed summation order, rounded
to integers of ``x * 2**SCALE_BITS`` and compared by integer dot products. Those are below 2^53
(by Cauchy-Schwarz, ``|q . p| <= 2**(2 * SCALE_BITS)``), so float64 matrix products compute them
exactly in any summation order; ties go to the lower database index. The squared L2 distance of
the normalised vectors is reported as ``2 - 2 q.p / 2**(2 * SCALE_BITS)`` (float32).

The quantisation step 2^-20 perturbs a cosine by about 1e-7 at most in practice, far below what
separates two images.
"""

from __future__ import annotations

import numpy as np

SCALE_BITS = 20


def sum_squares(x: np.ndarray) -> np.ndarray:
    """Row-wise sum of squares [n] float64 in a fixed (pairwise, elementwise) order."""
    s = np.asarray(x, dtype=np.float64)
    s = s * s
    while s.shape[1] > 1:
        h = s.shape[1] // 2
        rest = s[:, 2 * h :]
        s = s[:, :h] + s[:, h : 2 * h]
        if rest.shape[1]:
            s = np.concatenate([s[:, :-1], s[:, -1:] + rest], axis=1)
    return s[:, 0] if s.shape[1] else np.zeros(len(s))


def quantize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalised rows rounded to integers of ``2**SCALE_BITS`` (float64; zero rows stay 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {x.shape}")
    norm = np.sqrt(sum_squares(x)) if x.shape[1] else np.zeros(len(x))
    unit = np.divide(x, norm[:, None], out=np.zeros_like(x), where=norm[:, None] > 0)
    return np.rint(unit * float(2**SCALE_BITS))


def topk(
    db, queries: np.ndarray, k: int, db_chunk: int | None = None, q_chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by integer score: (indices [Q, k] int64, squared L2 distances [Q, k] float32
    of the normalised vectors), ordered by (score, database index). ``db`` is an [N, D] array or
    an object that slices rows (streamed in chunks of ``db_chunk`` rows)."""
    n = db.shape[0]
    k = min(int(k), n)
    qi = quantize_rows(queries)
    step = int(db_chunk) if db_chunk else n
    best_s = np.zeros((len(qi), 0))
    best_i = np.zeros((len(qi), 0), np.int64)
    for s in range(0, n, step):
        di = quantize_rows(db[s : s + step])
        ids = np.arange(s, s + len(di), dtype=np.int64)
        scores = np.zeros((len(qi), len(di)))
        for a in range(0, len(qi), q_chunk):
            scores[a : a + q_chunk] = qi[a : a + q_chunk] @ di.T  # exact: integers below 2^53
        cand_s = np.concatenate([best_s, scores], axis=1)
        cand_i = np.concatenate([best_i, np.broadcast_to(ids, scores.shape)], axis=1)
        order = np.lexsort((cand_i, -cand_s), axis=-1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    dist = 2.0 - 2.0 * best_s / float(2 ** (2 * SCALE_BITS))
    return best_i, np.maximum(dist, 0.0).astype(np.float32)
