"""Re-rank retrieval candidates with one method (extractor + matcher + scorer).

Reads the retrieval file, the cached local features of the queries and of the candidate
database images, matches and scores each query against its top-K candidates and writes one
parquet row per (query, candidate)::

    query          int     query index in the split
    query_name     str
    retrieval_rank int     0-based rank in the retrieval list
    rank           int     0-based rank after re-ranking (ties keep retrieval order)
    db_index       int     database index
    db_name        str
    score          float   the scorer's score (higher is better)
    inliers        int
    num_matches    int
    t_extract      float   seconds to extract the query's features (per query, repeated)
    t_match        float   seconds to match the query against its K candidates (per query)
    t_score        float   seconds to score the K candidates (per query)

The parquet schema metadata (key ``vgrerank``) holds the method conf, provenance, ``k`` (the
effective re-ranking depth), ``k_requested``, ``degenerate_pairs`` / ``degenerate_reasons``
(pairs whose matches admit no geometric model and score 0; see
:class:`vgrerank.local.scorers.DegenerateScore`) and ``device``, the torch device type the
matcher ran on ('cpu' | 'cuda', from :func:`vgrerank.device.resolve_device`).

Depth: re-ranking K = min(K, database size) when the database holds fewer than K images
(recorded as ``k`` with ``k_requested`` and logged as a warning); a retrieval file that holds
fewer candidates per query than K for any other reason is a :class:`DataError`.

Read these files with :func:`read_rerank` / :func:`read_parquet_meta` (errors name the file).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .errors import DataError
from .evaluate import rerank_predictions
from .io.atomic import atomic_path
from .io.local_h5 import FeatureStore
from .io.provenance import provenance
from .local.registry import build_method
from .rerank_core import rerank_order, score_candidates
from .retrieval import read_retrieval

log = logging.getLogger(__name__)


def write_parquet(df: pd.DataFrame, path: Path, meta: dict) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[b"vgrerank"] = json.dumps(meta, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_rerank(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A re-ranking table (all columns or ``columns``); :class:`DataError` naming the file when
    it is missing, truncated or not parquet, or lacks a requested column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: re-ranking file not found")
    try:
        return pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable re-ranking parquet file ({exc})") from exc


def read_parquet_meta(path: str | Path) -> dict:
    """The ``vgrerank`` schema metadata of a re-ranking file (``{}`` when absent)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: re-ranking file not found")
    try:
        md = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    try:
        return json.loads(md.get(b"vgrerank", b"{}"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: schema metadata 'vgrerank' is not valid JSON ({exc})") from exc


def effective_k(k: int, depth: int, num_db: int, path: Path) -> int:
    """Re-ranking depth for a retrieval file holding ``depth`` candidates per query over a
    database of ``num_db`` images: ``k`` when ``depth >= k``; ``depth`` (with a warning) when the
    database itself is smaller than ``k``; otherwise a :class:`DataError` naming the file."""
    k = int(k)
    if k < 1:
        raise DataError(f"{path}: re-ranking K={k} must be >= 1")
    if depth >= k:
        return k
    if depth >= num_db:
        log.warning(
            "%s: the database holds only %d images, fewer than the re-ranking K=%d: "
            "re-ranking all %d candidates (effective K=%d, recorded in the output metadata)",
            path,
            num_db,
            k,
            depth,
            depth,
        )
        return depth
    raise DataError(
        f"{path}: holds {depth} candidates per query, fewer than the re-ranking K={k} "
        f"(database: {num_db} images); rerun retrieval with retrieval.k >= {k}"
    )


def rerank(
    method: dict,
    retrieval_h5: Path,
    query_features: Path,
    db_features: Path,
    out: Path,
    k: int,
    device: str = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """Run ``method`` (a parsed method from :func:`vgrerank.local.registry.parse_method`)."""
    ret = read_retrieval(retrieval_h5)
    indices = np.asarray(ret.indices)
    q_names, db_names = list(ret.query_names), list(ret.db_names)
    if len(q_names) == 0:
        raise DataError(f"{retrieval_h5}: no queries to re-rank")
    k_requested = int(k)
    k = effective_k(k_requested, indices.shape[1], len(db_names), Path(retrieval_h5))
    from .device import resolve_device

    used = resolve_device(device)  # ConfigError naming `device` before any work
    built = build_method(method, device=str(used), seed=seed, parts=("matcher", "scorer"))
    matcher, scorer = built["matcher"], built["scorer"]
    rows = []
    degenerate: Counter[str] = Counter()
    num_pairs = 0
    with FeatureStore(query_features) as qstore, FeatureStore(db_features) as dbstore:
        for i, qname in enumerate(tqdm(q_names, desc=f"rerank {method['tag']}", mininterval=2)):
            qf = qstore[qname]
            cand = indices[i, :k]
            valid = np.flatnonzero(cand >= 0)  # approximate indices may return fewer than k
            cnames = [db_names[cand[j]] for j in valid]
            part = score_candidates(
                qf, [dbstore[n] for n in cnames], matcher, scorer, qname, cnames
            )
            degenerate.update(r for r in part["degenerate"] if r)
            num_pairs += len(valid)
            res = {
                "score": np.full(k, -np.inf),
                "inliers": np.zeros(k, int),
                "num_matches": np.zeros(k, int),
            }
            for key in res:
                res[key][valid] = part[key]
            res["t_match"], res["t_score"] = part["t_match"], part["t_score"]
            new_rank = np.empty(k, dtype=np.int64)
            new_rank[rerank_order(res["score"])] = np.arange(k)
            for r in range(k):
                rows.append(
                    (
                        i,
                        qname,
                        r,
                        int(new_rank[r]),
                        int(cand[r]),
                        db_names[cand[r]] if cand[r] >= 0 else "",
                        float(res["score"][r]),
                        int(res["inliers"][r]),
                        int(res["num_matches"][r]),
                        qstore.time(qname),
                        float(res["t_match"]),
                        float(res["t_score"]),
                    )
                )
    df = pd.DataFrame(
        rows,
        columns=[
            "query",
            "query_name",
            "retrieval_rank",
            "rank",
            "db_index",
            "db_name",
            "score",
            "inliers",
            "num_matches",
            "t_extract",
            "t_match",
            "t_score",
        ],
    )
    n_degenerate = sum(degenerate.values())
    if n_degenerate:
        reasons = ", ".join(f"{r}: {c}" for r, c in sorted(degenerate.items()))
        log.warning(
            "rerank %s: %d of %d (query, candidate) pairs are degenerate and score 0 (%s)",
            method["tag"],
            n_degenerate,
            num_pairs,
            reasons,
        )
    else:
        log.info("rerank %s: 0 of %d pairs degenerate", method["tag"], num_pairs)
    meta = {
        "method": method,
        "k": k,
        "k_requested": k_requested,
        "pairs": num_pairs,
        "degenerate_pairs": n_degenerate,
        "degenerate_reasons": dict(sorted(degenerate.items())),
        "retrieval": str(retrieval_h5),
        "device": used.type,
        **provenance(method),
    }
    write_parquet(df, Path(out), meta)
    return df


def score_matrix(df: pd.DataFrame, num_queries: int, k: int) -> np.ndarray:
    """[Q, K] scores in retrieval order from a re-ranking table."""
    scores = np.full((num_queries, k), -np.inf)
    scores[df["query"].to_numpy(), df["retrieval_rank"].to_numpy()] = df["score"].to_numpy()
    return scores


def reranked_predictions(df: pd.DataFrame, retrieval_indices: np.ndarray) -> np.ndarray:
    k = int(df["retrieval_rank"].max()) + 1
    return rerank_predictions(retrieval_indices, score_matrix(df, len(retrieval_indices), k), k)
