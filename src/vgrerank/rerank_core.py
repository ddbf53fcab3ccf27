"""Re-ranking core: score one query's top-K candidates, then order them.

Library-only (no Snakemake, no file I/O): the workflow loads cached features and calls these.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .errors import VGError
from .features import Features
from .local.base import Matcher, Scorer, matched_points
from .local.scorers import DegenerateScore


def score_candidates(
    query: Features,
    candidates: list[Features],
    matcher: Matcher,
    scorer: Scorer,
    query_name: str | None = None,
    candidate_names: Sequence[str] | None = None,
) -> dict:
    """Match ``query`` against every candidate (``matcher.match_many``, the only matching of
    the pair) and score the matches: the scorer receives each pair's matcher output
    (``matches=``) beside its matched coordinates.

    Returns numpy arrays ``score`` (float64), ``inliers`` and ``num_matches`` (int64), one entry
    per candidate in the given order, the seconds ``t_match`` / ``t_score`` spent matching
    and scoring (``time.perf_counter``, summed over the candidates), and ``degenerate``: the
    reason per candidate whose matches admit no model (:class:`DegenerateScore`, score 0), else
    ``""``. A scorer error (:class:`~vgrerank.errors.VGError`) is re-raised with the query and
    candidate names (``query_name`` / ``candidate_names``, default: positions) prefixed.
    """
    k = len(candidates)
    score = np.zeros(k, dtype=np.float64)
    inliers = np.zeros(k, dtype=np.int64)
    num_matches = np.zeros(k, dtype=np.int64)
    t0 = time.perf_counter()
    matches = matcher.match_many(query, candidates) if k else []
    t_match = time.perf_counter() - t0
    t_score = 0.0
    degenerate = [""] * k
    for i, (cand, m) in enumerate(zip(candidates, matches, strict=True)):
        t0 = time.perf_counter()
        try:
            k0, k1 = matched_points(m, query, cand)
            s = scorer.score(k0, k1, query, cand, matches=m)
        except VGError as exc:
            qn = query_name if query_name is not None else "<query>"
            cn = candidate_names[i] if candidate_names is not None else f"<candidate {i}>"
            raise type(exc)(f"scoring query {qn!r} against candidate {cn!r}: {exc}") from exc
        t_score += time.perf_counter() - t0
        score[i], inliers[i], num_matches[i] = s.score, s.inliers, s.num_matches
        if isinstance(s, DegenerateScore):
            degenerate[i] = s.reason or "degenerate"
    return {
        "score": score,
        "inliers": inliers,
        "num_matches": num_matches,
        "t_match": t_match,
        "t_score": t_score,
        "degenerate": degenerate,
    }


def rerank_order(retrieval_rank_scores: np.ndarray) -> np.ndarray:
    """Indices that sort candidates (given in retrieval order) by descending score.

    The sort is stable, so candidates with equal scores keep their retrieval order.
    """
    s = np.asarray(retrieval_rank_scores, dtype=np.float64).ravel()
    if np.isnan(s).any():
        s = np.where(np.isnan(s), -np.inf, s)  # NaN ranks last, not first
    return np.argsort(-s, kind="stable")
