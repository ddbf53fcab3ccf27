"""Recall@N, chance level and re-ranking depth sweeps.

A query counts as localised at N when one of its first N predictions is a positive (a database
image within the threshold, see :mod:`vgrerank.datasets.positives`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

from .stats import first_hit_ranks, localized

RECALL_NS = (1, 5, 10, 20, 100)
K_SWEEP = (1, 5, 10, 20, 50, 100)


def hits(predictions: np.ndarray, positives: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean [Q, K]: prediction j of query i is a positive."""
    predictions = np.asarray(predictions)
    if len(predictions) != len(positives):
        raise ValueError(f"{len(predictions)} prediction rows but {len(positives)} positive lists")
    out = np.zeros(predictions.shape, dtype=bool)
    for i, pos in enumerate(positives):
        if len(pos):
            out[i] = np.isin(predictions[i], pos)
    return out


def recall_at_n(
    predictions: np.ndarray, positives: Sequence[np.ndarray], ns: Sequence[int] = RECALL_NS
) -> dict[int, float]:
    """Fraction of queries with a positive in their first N predictions, for each N.

    N beyond the number of predictions uses all predictions. Queries without any positive count
    as failures (they stay in the denominator), so recall is never inflated by dropping them.
    """
    h = hits(predictions, positives)
    if len(h) == 0:
        raise ValueError("recall of an empty query set is undefined")
    first = first_hit_ranks(h)
    return {n: float(np.mean(localized(first, n))) for n in ns}


def chance_probabilities(num_db: int, positives: Sequence[np.ndarray], n: int) -> np.ndarray:
    """[Q] probability that a uniformly random ranking of the whole database puts a positive of
    the query among its first N: 1 - C(D-P, N) / C(D, N) for P positives among D images."""
    p = np.array([len(x) for x in positives], dtype=np.float64)
    d = float(num_db)
    n_ = min(n, num_db)
    with np.errstate(invalid="ignore"):
        log_miss = (
            gammaln(d - p + 1) - gammaln(d - p - n_ + 1) - gammaln(d + 1) + gammaln(d - n_ + 1)
        )
    miss = np.where(d - p >= n_, np.exp(log_miss), 0.0)
    return 1.0 - miss


def chance_recall(
    num_db: int, positives: Sequence[np.ndarray], ns: Sequence[int] = RECALL_NS
) -> dict[int, float]:
    """Expected Recall@N of a uniformly random ranking of the whole database (the mean over
    queries of :func:`chance_probabilities`)."""
    return {n: float(np.mean(chance_probabilities(num_db, positives, n))) for n in ns}


def rerank_predictions(
    retrieval: np.ndarray, scores: np.ndarray, depth: int | None = None
) -> np.ndarray:
    """Re-order the first ``depth`` retrieval candidates of each query by descending score.

    ``retrieval`` [Q, K] database indices in retrieval order; ``scores`` [Q, K2] scores of the
    first K2 >= depth candidates. Ties keep retrieval order (stable sort); candidates after
    ``depth`` keep their retrieval order.
    """
    retrieval = np.asarray(retrieval)
    scores = np.asarray(scores, dtype=np.float64)
    depth = scores.shape[1] if depth is None else min(depth, scores.shape[1])
    order = np.argsort(-scores[:, :depth], axis=1, kind="stable")
    head = np.take_along_axis(retrieval[:, :depth], order, axis=1)
    return np.concatenate([head, retrieval[:, depth:]], axis=1)


def depth_sweep(
    retrieval: np.ndarray,
    scores: np.ndarray,
    positives: Sequence[np.ndarray],
    depths: Sequence[int] = K_SWEEP,
    ns: Sequence[int] = RECALL_NS,
) -> dict[int, dict[int, float]]:
    """Recall@N when only the first k candidates are re-ranked, from cached scores."""
    kmax = scores.shape[1]
    return {
        k: recall_at_n(rerank_predictions(retrieval, scores, k), positives, ns)
        for k in depths
        if k <= kmax
    }
