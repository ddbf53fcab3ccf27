"""Per-run evaluation files: one CSV row per (dataset, split, method), per-query outcomes and
depth sweeps, every Recall@N with its 95 % bootstrap interval over queries.

``recall/<gdesc>-K<k>/retrieval.csv`` holds two rows, ``retrieval`` and ``chance`` (the expected
recall of a random ranking), ``recall/<gdesc>-K<k>/<method>.csv`` the method's row. Columns:
``dataset, split, gdesc, method, K, depth, threshold_m, queries`` then ``R@N, R@N_lo, R@N_hi``
for each configured N. ``K`` is the number of candidates re-ranked (the same on every row of a
run, also on the retrieval and chance rows), ``depth`` the number of candidates in the ranking
(the retrieval depth: a re-ranked list is the re-ordered top-K followed by the untouched tail).
R@N with N > depth is not computed and left empty.

``<name>.queries.csv`` holds each query's first-hit rank (0-based position of its first
positive in the final ranking, -1 = none ranked), the input of paired comparisons between
methods; ``<method>.sweep.csv`` holds the recall when only the first k candidates are re-ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate import chance_probabilities, hits, rerank_predictions
from ..io.atomic import atomic_path
from ..rerank import score_matrix
from ..stats import bootstrap_mean, bootstrap_recall, first_hit_ranks, split_seed

COLUMNS = ["dataset", "split", "gdesc", "method", "K", "depth", "threshold_m", "queries"]


def recall_columns(ns: Sequence[int]) -> list[str]:
    return [c for n in ns for c in (f"R@{n}", f"R@{n}_lo", f"R@{n}_hi")]


def _row(ident: dict, method: str, k: int, depth: int, stats: dict) -> dict:
    row = {**ident, "method": method, "K": k, "depth": depth}
    for n, (r, lo, hi) in stats.items():
        row.update({f"R@{n}": round(r, 6), f"R@{n}_lo": round(lo, 6), f"R@{n}_hi": round(hi, 6)})
    return row


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def write_query_ranks(query_names: Sequence[str], ranks: dict[str, np.ndarray], path: Path):
    """Per-query first-hit ranks of one or more rankings (one column per method)."""
    df = pd.DataFrame({"query_name": list(query_names), **{m: r for m, r in ranks.items()}})
    write_csv(df, path)


def _ident(dataset, split, gdesc, threshold_m, num_queries) -> dict:
    return {
        "dataset": dataset,
        "split": split,
        "gdesc": gdesc,
        "threshold_m": threshold_m,
        "queries": num_queries,
    }


def evaluate_retrieval(
    indices: np.ndarray,
    positives,
    num_db: int,
    out: Path,
    queries_out: Path,
    query_names: Sequence[str],
    *,
    dataset: str,
    split: str,
    gdesc: str,
    k: int,
    threshold_m: float,
    ns=(1, 5, 10, 20, 100),
    seed: int = 0,
    num_boot: int = 10000,
) -> pd.DataFrame:
    """Rows ``retrieval`` (the global descriptor's ranking, to its own depth) and ``chance``
    (random ranking of the whole database, same N), each with bootstrap intervals.

    ``k``: the number of candidates re-ranked by the methods of this run; recorded on both rows
    as ``min(k, depth)`` so a table has one K."""
    indices = np.asarray(indices)
    depth = indices.shape[1]
    k_eff = min(int(k), depth)
    seeds = split_seed(seed, dataset, split)
    ident = _ident(dataset, split, gdesc, threshold_m, len(indices))
    ranks = first_hit_ranks(hits(indices, positives))
    ret = bootstrap_recall(ranks, ns, seed=seeds, num_boot=num_boot, max_rank=depth)
    chance = {}
    for n in ns:
        if n > depth:
            chance[n] = (float("nan"),) * 3
        else:
            probs = chance_probabilities(num_db, positives, n)
            chance[n] = bootstrap_mean(probs, seed=seeds, num_boot=num_boot)
    df = pd.DataFrame(
        [
            _row(ident, "retrieval", k_eff, depth, ret),
            _row(ident, "chance", k_eff, depth, chance),
        ]
    )
    write_csv(df, out)
    write_query_ranks(query_names, {"retrieval": ranks}, queries_out)
    return df


def evaluate_rerank(
    indices: np.ndarray,
    rerank_df: pd.DataFrame,
    positives,
    out: Path,
    sweep_out: Path,
    queries_out: Path,
    query_names: Sequence[str],
    *,
    dataset: str,
    split: str,
    gdesc: str,
    method: str,
    threshold_m: float,
    ns=(1, 5, 10, 20, 100),
    k_sweep=(1, 5, 10, 20, 50, 100),
    seed: int = 0,
    num_boot: int = 10000,
) -> pd.DataFrame:
    """The method's row: its re-ranked top-K followed by the untouched retrieval tail."""
    indices = np.asarray(indices)
    depth = indices.shape[1]
    k = int(rerank_df["retrieval_rank"].max()) + 1
    seeds = split_seed(seed, dataset, split)
    ident = _ident(dataset, split, gdesc, threshold_m, len(indices))
    scores = score_matrix(rerank_df, len(indices), k)
    ranks = first_hit_ranks(hits(rerank_predictions(indices, scores, k), positives))
    stats = bootstrap_recall(ranks, ns, seed=seeds, num_boot=num_boot, max_rank=depth)
    df = pd.DataFrame([_row(ident, method, k, depth, stats)])
    write_csv(df, out)
    write_query_ranks(query_names, {method: ranks}, queries_out)
    rows = []
    for kk in k_sweep:
        if kk > k:
            continue
        r = first_hit_ranks(hits(rerank_predictions(indices, scores, kk), positives))
        s = bootstrap_recall(r, ns, seed=seeds, num_boot=num_boot, max_rank=depth)
        rows.append(_row(ident, method, kk, depth, s))
    write_csv(pd.DataFrame(rows), sweep_out)
    return df
