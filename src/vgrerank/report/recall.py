"""Per-run evaluation files: one CSV row per (dataset, split, method) plus depth sweeps.

``recall/<gdesc>-K<k>/retrieval.csv`` holds two rows, ``retrieval`` and ``chance`` (the expected
recall of a random ranking). ``recall/<gdesc>-K<k>/<method>.csv`` holds the method's row;
``<method>.sweep.csv`` its recall when only the first k candidates are re-ranked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate import chance_recall, depth_sweep, recall_at_n, rerank_predictions
from ..io.atomic import atomic_path
from ..rerank import score_matrix

COLUMNS = ["dataset", "split", "gdesc", "method", "K", "threshold_m"]


def _row(dataset, split, gdesc, method, k, thr, rec: dict[int, float]) -> dict:
    row = {
        "dataset": dataset,
        "split": split,
        "gdesc": gdesc,
        "method": method,
        "K": k,
        "threshold_m": thr,
    }
    row.update({f"R@{n}": round(v, 6) for n, v in rec.items()})
    return row


def write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def evaluate_retrieval(
    indices: np.ndarray,
    positives,
    num_db: int,
    out: Path,
    *,
    dataset: str,
    split: str,
    gdesc: str,
    k: int,
    threshold_m: float,
    ns=(1, 5, 10, 20, 100),
) -> pd.DataFrame:
    rows = [
        _row(
            dataset, split, gdesc, "retrieval", k, threshold_m, recall_at_n(indices, positives, ns)
        ),
        _row(dataset, split, gdesc, "chance", k, threshold_m, chance_recall(num_db, positives, ns)),
    ]
    df = pd.DataFrame(rows)
    write_csv(df, out)
    return df


def evaluate_rerank(
    indices: np.ndarray,
    rerank_df: pd.DataFrame,
    positives,
    out: Path,
    sweep_out: Path,
    *,
    dataset: str,
    split: str,
    gdesc: str,
    method: str,
    threshold_m: float,
    ns=(1, 5, 10, 20, 100),
    k_sweep=(1, 5, 10, 20, 50, 100),
) -> pd.DataFrame:
    k = int(rerank_df["retrieval_rank"].max()) + 1
    scores = score_matrix(rerank_df, len(indices), k)
    preds = rerank_predictions(indices, scores, k)
    df = pd.DataFrame(
        [_row(dataset, split, gdesc, method, k, threshold_m, recall_at_n(preds, positives, ns))]
    )
    write_csv(df, out)
    sweep = depth_sweep(indices, scores, positives, depths=k_sweep, ns=ns)
    sweep_df = pd.DataFrame(
        [_row(dataset, split, gdesc, method, kk, threshold_m, r) for kk, r in sweep.items()]
    )
    write_csv(sweep_df, sweep_out)
    return df
