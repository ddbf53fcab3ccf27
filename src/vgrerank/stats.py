"""Uncertainty of Recall@N: bootstrap intervals over queries and paired method comparisons.

Everything here is seeded and exact: resamples are integer draws from numpy's PCG64 (identical on
every CPU), recalls are integer counts divided by the number of queries, and quantiles pick an
order statistic (no interpolation), so intervals are byte-reproducible.

A query's outcome is summarised by its *first-hit rank*: the 0-based position of its first
positive in the final ranking, or -1 when no positive is among the ranked candidates. Recall@N is
the fraction of queries with ``0 <= rank < N``.

* :func:`bootstrap_recall` percentile bootstrap over queries (one resample matrix for all N);
  when all queries share one outcome (R@N = 0 or 1) the open side is the exact binomial bound.
* :func:`paired_comparison` two methods on the same queries: the R@N difference with a paired
  bootstrap interval and the exact McNemar test on the discordant queries.
* :func:`unpaired_difference` the same method on two query sets (e.g. day vs night).
* :func:`holm` Holm's step-down adjustment for a family of p-values.

The same ``seed`` and number of queries give the same resamples, so every method evaluated on
one split is resampled identically: intervals of different methods are paired by construction.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from scipy.stats import binom

NO_HIT = -1


def split_seed(seed: int, *parts: str) -> list[int]:
    """A seed sequence for one (dataset, split): the config seed plus a CRC of the names, so
    every method of a split shares its resamples while splits differ."""
    return [int(seed)] + [zlib.crc32(str(p).encode()) for p in parts]


def first_hit_ranks(hits: np.ndarray) -> np.ndarray:
    """[Q, K] boolean hits -> [Q] first-hit rank (-1 = no positive)."""
    hits = np.asarray(hits, dtype=bool)
    return np.where(hits.any(1), hits.argmax(1), NO_HIT).astype(np.int64)


def localized(ranks: np.ndarray, n: int) -> np.ndarray:
    """[Q] boolean: the query is localised at N (a positive among the first N)."""
    ranks = np.asarray(ranks)
    return (ranks >= 0) & (ranks < n)


def resample_indices(num_queries: int, num_boot: int, seed) -> np.ndarray:
    """[B, Q] query indices drawn with replacement (integer draws, CPU-independent)."""
    if num_queries < 1:
        raise ValueError("bootstrap of an empty query set is undefined")
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_queries, size=(num_boot, num_queries), dtype=np.int64)


def _interval(values: np.ndarray, den: float, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap statistics, divided by ``den`` (e.g. counts out of Q
    queries), by order statistics (no interpolation)."""
    alpha = (1.0 - level) / 2.0
    lo = np.quantile(values, alpha, method="inverted_cdf")
    hi = np.quantile(values, 1.0 - alpha, method="inverted_cdf")
    return float(lo) / den, float(hi) / den


def bootstrap_recall(
    ranks: np.ndarray,
    ns: Sequence[int],
    *,
    seed,
    num_boot: int = 10000,
    level: float = 0.95,
    max_rank: int | None = None,
) -> dict[int, tuple[float, float, float]]:
    """Recall@N with its percentile-bootstrap interval: ``{N: (recall, lo, hi)}``.

    ``max_rank``: number of ranked candidates; N beyond it is not reported (NaN), since a
    ranking of that depth cannot show it.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    q = len(ranks)
    idx = resample_indices(q, num_boot, seed)
    alpha = (1.0 - level) / 2.0
    out = {}
    for n in ns:
        if max_rank is not None and n > max_rank:
            out[n] = (float("nan"),) * 3
            continue
        ok = localized(ranks, n)
        k = int(ok.sum())
        counts = ok[idx].sum(1)
        lo, hi = _interval(counts, q, level)
        # every query has the same outcome: the bootstrap has no spread, so the open side is
        # the exact (Clopper-Pearson) bound, e.g. 0 of 20 -> [0, 16.8 %]
        if k == 0:
            hi = 1.0 - alpha ** (1.0 / q)
        elif k == q:
            lo = alpha ** (1.0 / q)
        out[n] = (k / q, lo, hi)
    return out


def bootstrap_mean(
    values: np.ndarray, *, seed, num_boot: int = 10000, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of per-query values (e.g. chance probabilities) with its bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    q = len(values)
    idx = resample_indices(q, num_boot, seed)
    # math.fsum is exactly rounded, so the means do not depend on SIMD summation order
    sums = np.array([math.fsum(values[row]) for row in idx])
    lo, hi = _interval(sums, q, level)
    return math.fsum(values) / q, lo, hi


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Exact (binomial) McNemar test on paired binary outcomes.

    Returns (b_only, a_only, p): queries right only for ``b``, only for ``a``, and the two-sided
    p-value of equal discordance (1.0 when there is no discordant query)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(b & ~a))
    n = a_only + b_only
    if n == 0:
        return b_only, a_only, 1.0
    p = min(1.0, 2.0 * float(binom.cdf(min(a_only, b_only), n, 0.5)))
    return b_only, a_only, p


def paired_comparison(
    ranks_a: np.ndarray,
    ranks_b: np.ndarray,
    n: int = 1,
    *,
    seed,
    num_boot: int = 10000,
    level: float = 0.95,
) -> dict:
    """R@N of ``b`` minus ``a`` on the same queries: difference, paired bootstrap interval,
    McNemar counts and exact p-value."""
    ranks_a = np.asarray(ranks_a)
    ranks_b = np.asarray(ranks_b)
    if ranks_a.shape != ranks_b.shape:
        raise ValueError(
            f"paired comparison needs the same queries: {len(ranks_a)} vs {len(ranks_b)}"
        )
    a = localized(ranks_a, n)
    b = localized(ranks_b, n)
    q = len(a)
    idx = resample_indices(q, num_boot, seed)
    d = b.astype(np.int64) - a.astype(np.int64)
    lo, hi = _interval(d[idx].sum(1), q, level)
    b_only, a_only, p = mcnemar_exact(a, b)
    return {
        "diff": int(d.sum()) / q,
        "diff_lo": lo,
        "diff_hi": hi,
        "b_only": b_only,
        "a_only": a_only,
        "p_mcnemar": p,
    }


def unpaired_difference(
    ranks_a: np.ndarray,
    ranks_b: np.ndarray,
    n: int = 1,
    *,
    seed,
    num_boot: int = 10000,
    level: float = 0.95,
) -> dict:
    """R@N of ``b`` minus ``a`` on two independent query sets, with a two-sample bootstrap
    interval (each set resampled on its own)."""
    a = localized(np.asarray(ranks_a), n)
    b = localized(np.asarray(ranks_b), n)
    rng_a, rng_b = np.random.SeedSequence(seed).spawn(2)
    ia = resample_indices(len(a), num_boot, rng_a)
    ib = resample_indices(len(b), num_boot, rng_b)
    # differences of fractions with unequal denominators: compare exactly via cross-multiplying
    ca = a[ia].sum(1).astype(np.int64) * len(b)
    cb = b[ib].sum(1).astype(np.int64) * len(a)
    lo, hi = _interval(cb - ca, len(a) * len(b), level)
    diff = float(b.mean() - a.mean())
    return {"diff": diff, "diff_lo": lo, "diff_hi": hi}


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), same order as input."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        adj[j] = running
    return adj
