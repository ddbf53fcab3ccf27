"""Score the builder's stages against the photo collection's ground truth (SynthCity only).

The generator writes ``truth.csv`` beside the served collection (never served): each photo's true
position, condition (day/dusk/night), indoorness level (0 street .. 9 room), panoramic flag and
burst id. Here each filter is scored on the photos that reached it, and the built set as a whole:
how many kept photos are truly outdoor night photos within ``threshold_m`` of the position they
were finally given.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ..errors import DataError
from .geotag import haversine_m, latlon_to_utm, nearest_database

TRUTH_COLUMNS = ("id", "true_lat", "true_lon", "condition", "indoor_level", "panoramic", "burst")


def read_truth(path: str | os.PathLike) -> pd.DataFrame:
    """``truth.csv`` of a photo collection, indexed by photo id (str)."""
    try:
        df = pd.read_csv(path, dtype={"id": str})
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable truth table ({exc})") from exc
    missing = [c for c in TRUTH_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    return df.set_index("id")


def binary_scores(pred: np.ndarray, true: np.ndarray) -> dict:
    """Precision, recall, accuracy and counts of a boolean prediction of a boolean truth."""
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    tp = int((pred & true).sum())
    fp = int((pred & ~true).sum())
    fn = int((~pred & true).sum())
    n = len(pred)
    return {
        "n": n,
        "positives": int(true.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "accuracy": float((pred == true).mean()) if n else math.nan,
    }


def truly_outdoor(truth: pd.DataFrame, keep_levels: int, drop_panoramic: bool) -> pd.Series:
    out = truth["indoor_level"] < keep_levels
    if drop_panoramic:
        out &= ~truth["panoramic"].astype(bool)
    return out


def _aligned(stage: pd.DataFrame, truth: pd.DataFrame, name: str) -> pd.DataFrame:
    unknown = sorted(set(stage["photo_id"]) - set(truth.index))
    if unknown:
        raise DataError(f"{name}: photo id(s) {unknown[:5]} are not in the collection's truth")
    return truth.loc[stage["photo_id"]]


def position_error_m(lat, lon, true_lat, true_lon) -> np.ndarray:
    """Metres between given and true WGS84 positions (great circle)."""
    return haversine_m(
        np.asarray(lat, float),
        np.asarray(lon, float),
        np.asarray(true_lat, float),
        np.asarray(true_lon, float),
    )


def score_stages(
    truth: pd.DataFrame,
    stages: dict[str, pd.DataFrame],
    *,
    keep_levels: int = 6,
    drop_panoramic: bool = True,
    keep_conditions=("night",),
    threshold_m: float = 25.0,
    db_utm: np.ndarray | None = None,
    zone: tuple[int, str] | None = None,
) -> pd.DataFrame:
    """One row per scored filter: what it was asked to keep, and how well it did.

    ``stages``: stage tables by name (``indoor``, ``daynight``, ``geotag``, ``dedup``, and ``corrected`` /
    ``final`` for the positions); each lists the photos that reached it with ``keep``.
    """
    rows = []
    if "indoor" in stages:
        st = stages["indoor"]
        t = _aligned(st, truth, "indoor")
        s = binary_scores(st["keep"], truly_outdoor(t, keep_levels, drop_panoramic))
        rows.append({"stage": "indoor", "target": "outdoor (kept)", **s})
    if "daynight" in stages:
        st = stages["daynight"]
        t = _aligned(st, truth, "daynight")
        s = binary_scores(st["keep"], t["condition"].isin(keep_conditions))
        rows.append({"stage": "daynight", "target": "/".join(keep_conditions) + " (kept)", **s})
    if "geotag" in stages and db_utm is not None and zone is not None:
        # truth: the photo's TRUE position has a database image within threshold_m
        st = stages["geotag"]
        t = _aligned(st, truth, "geotag")
        q = latlon_to_utm(t["true_lat"].to_numpy(), t["true_lon"].to_numpy(), zone)
        _, d = nearest_database(q, db_utm)
        s = binary_scores(st["keep"], d <= threshold_m)
        rows.append({"stage": "geotag", "target": "true position has a positive (kept)", **s})
    if "dedup" in stages:
        rows.append(score_dedup(truth, stages["dedup"]))
    return pd.DataFrame(rows)


def score_dedup(truth: pd.DataFrame, dedup: pd.DataFrame) -> dict:
    """Pairwise precision/recall of the near-duplicate clusters against the true bursts (a photo
    outside every burst is its own group)."""
    from .dedup import score_grouping

    t = _aligned(dedup, truth, "dedup")
    true_groups = {
        pid: (f"b{b}" if b >= 0 else f"s{pid}")
        for pid, b in zip(dedup["photo_id"], t["burst"], strict=True)
    }
    g = score_grouping(dict(zip(dedup["photo_id"], dedup["cluster"], strict=True)), true_groups)
    return {
        "stage": "dedup",
        "target": "same burst (photo pairs)",
        "n": len(dedup),
        "positives": g["true_pairs"],
        "tp": g["common_pairs"],
        "fp": g["pred_pairs"] - g["common_pairs"],
        "fn": g["true_pairs"] - g["common_pairs"],
        "precision": g["precision"],
        "recall": g["recall"],
        "accuracy": math.nan,
    }


def truth_markdown(scores: pd.DataFrame, built: dict, title: str) -> str:
    """The stage scores and the built-set summary as Markdown."""
    lines = [
        f"# {title}",
        "",
        "| stage | target | photos | true | TP | FP | FN | precision | recall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in scores.itertuples():
        lines.append(
            f"| {r.stage} | {r.target} | {r.n} | {r.positives} | {r.tp} | {r.fp} | {r.fn} "
            f"| {100 * r.precision:.1f} | {100 * r.recall:.1f} |"
        )
    lines += ["", "Built set:", ""] + [f"- {k}: {v}" for k, v in built.items()] + [""]
    return "\n".join(lines)


def score_final(
    truth: pd.DataFrame,
    final: pd.DataFrame,
    *,
    keep_levels: int = 6,
    drop_panoramic: bool = True,
    keep_conditions=("night",),
    threshold_m: float = 25.0,
) -> dict:
    """The built set against the truth: kept photos that are truly outdoor, of a kept condition,
    and within ``threshold_m`` of the position they were given (after corrections)."""
    t = _aligned(final, truth, "final")
    outdoor = truly_outdoor(t, keep_levels, drop_panoramic).to_numpy()
    cond = t["condition"].isin(keep_conditions).to_numpy()
    err = position_error_m(final["latitude"], final["longitude"], t["true_lat"], t["true_lon"])
    near = err <= threshold_m
    good = outdoor & cond & near
    bursts = t["burst"].to_numpy()
    in_burst = bursts >= 0
    return {
        "kept": len(final),
        "truly_outdoor": int(outdoor.sum()),
        "truly_" + "_".join(keep_conditions): int(cond.sum()),
        f"within_{threshold_m:g}m": int(near.sum()),
        "all_three": int(good.sum()),
        "fraction_all_three": float(good.mean()) if len(final) else math.nan,
        "bursts_with_two_kept": int(
            pd.Series(bursts[in_burst]).value_counts().gt(1).sum() if in_burst.any() else 0
        ),
        "median_position_error_m": float(np.median(err)) if len(err) else math.nan,
    }
