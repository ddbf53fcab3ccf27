"""Figure stage: keypoints, matches before/after re-ranking and prediction strips for one
dataset split, from the cached features and re-ranking tables (nothing is re-extracted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets.base import Dataset
from ..imageio import load_image
from ..io.local_h5 import FeatureStore
from ..local.base import matched_points
from ..local.registry import build_method
from ..rerank import read_rerank, reranked_predictions
from ..retrieval import read_retrieval
from .figures import keypoint_figure, matches_figure, prediction_strips


def _pick_queries(
    before_ok: np.ndarray, after_ok: np.ndarray, n: int, failures_only: bool
) -> list[int]:
    """Queries re-ranking fixed first, then ones it broke, then the rest (or failures only)."""
    idx = np.arange(len(before_ok))
    fixed = idx[~before_ok & after_ok]
    broken = idx[before_ok & ~after_ok]
    if failures_only:
        pool = np.concatenate([idx[~after_ok & ~before_ok], broken])
    else:
        pool = np.concatenate(
            [fixed, broken, idx[before_ok & after_ok], idx[~before_ok & ~after_ok]]
        )
    return [int(i) for i in pool[:n]]


def make_figures(
    ds: Dataset,
    split: str,
    retrieval_h5: Path,
    runs: list[dict],
    outdir: Path,
    num_queries: int = 4,
    failures_only: bool = False,
) -> list[Path]:
    """``runs``: dicts with ``method`` (parsed method), ``parquet``, ``queries_h5``, ``database_h5``.
    Writes ``strips_<method tag>.png`` per method, ``matches.png`` and ``keypoints.png``."""
    outdir = Path(outdir)
    ret = read_retrieval(retrieval_h5)
    positives = ds.positives(split)
    pos_sets = [set(p.tolist()) for p in positives]
    written = []
    match_panels, kp_rows = [], []
    seen_extractors = set()
    for run in runs:
        method = run["method"]
        df = read_rerank(run["parquet"])
        after = reranked_predictions(df, ret.indices)
        before = ret.indices
        ok = lambda preds: np.array([preds[i, 0] in pos_sets[i] for i in range(len(preds))])  # noqa: E731
        b_ok, a_ok = ok(before), ok(after)
        chosen = _pick_queries(b_ok, a_ok, num_queries, failures_only)
        blocks = [
            {
                "query": ret.query_names[i],
                "before": [ret.db_names[j] for j in before[i, :5] if j >= 0],
                "after": [ret.db_names[j] for j in after[i, :5] if j >= 0],
                "correct_before": [int(j) in pos_sets[i] for j in before[i, :5] if j >= 0],
                "correct_after": [int(j) in pos_sets[i] for j in after[i, :5] if j >= 0],
            }
            for i in chosen
        ]
        path = outdir / f"strips_{method['tag']}.png"
        prediction_strips(ds.root, blocks, path)
        written.append(path)
        if not chosen:
            continue
        qi = chosen[0]
        with FeatureStore(run["queries_h5"]) as qs, FeatureStore(run["database_h5"]) as dbs:
            qname = ret.query_names[qi]
            qf = qs[qname]
            built = build_method(method, parts=("matcher", "scorer"))
            matcher, scorer = built["matcher"], built["scorer"]
            qimg = load_image(ds.root / qname)
            for label, j in (
                ("before (retrieval top-1)", before[qi, 0]),
                ("after re-ranking top-1", after[qi, 0]),
            ):
                name = ret.db_names[j]
                cf = dbs[name]
                m = matcher.match(qf, cf)
                k0, k1 = matched_points(m, qf, cf)
                s = scorer.score(k0, k1, qf, cf, matches=m)
                verdict = "correct" if int(j) in pos_sets[qi] else "wrong"
                match_panels.append(
                    {
                        "img0": qimg,
                        "img1": load_image(ds.root / name),
                        "k0": k0,
                        "k1": k1,
                        "inliers": s.inlier_mask,
                        "title": f"{method['tag']}: {label}, {verdict}, {s.inliers} inliers / {len(k0)} matches",
                    }
                )
            etag = method["extractor"]["tag"]
            if etag not in seen_extractors:
                cands = [int(j) for j in before[qi] if j >= 0 and int(j) in pos_sets[qi]]
                cands = [j for j in cands if ret.db_names[j] in dbs]
                if cands:
                    pname = ret.db_names[cands[0]]
                    kp_rows.append((etag, qimg, qf, load_image(ds.root / pname), dbs[pname]))
                    seen_extractors.add(etag)
    if match_panels:
        matches_figure(match_panels, outdir / "matches.png")
        written.append(outdir / "matches.png")
    if kp_rows:
        keypoint_figure(
            kp_rows, outdir / "keypoints.png", titles=(f"{split} query", "database positive")
        )
        written.append(outdir / "keypoints.png")
    return written
