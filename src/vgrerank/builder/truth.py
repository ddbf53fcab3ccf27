"""Score the builder's stages against the photo collection's ground truth (SynthCity only).

The generator writes ``truth.csv`` beside the served collection (never served): each photo's true
position, condition (day/dusk/night), indoorness level (0 street .. 9 room), panoramic flag and
burst id. Here each filter stage (:data:`.stages.STAGES`, scored by its :data:`SCORERS` entry)
is scored on the photos that reached it, and the built set as a whole:
how many kept photos are truly outdoor night photos within ``threshold_m`` of the position they
were finally given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import schema_default
from ..errors import DataError
from .filters import indoor_keep_rule
from .geotag import haversine_m, latlon_to_utm, nearest_database
from .stages import STAGES, build_default

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
    """Whether each photo of the truth is one the indoor stage should keep (same rule)."""
    keep = indoor_keep_rule(truth["indoor_level"], truth["panoramic"], keep_levels, drop_panoramic)
    return pd.Series(keep, index=truth.index)


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


@dataclass(frozen=True)
class TruthOptions:
    """What the stages were asked to keep (the built split's conf), for scoring them."""

    keep_levels: int = build_default("indoor.keep_levels")
    drop_panoramic: bool = build_default("indoor.drop_panoramic")
    keep_conditions: tuple[str, ...] = tuple(build_default("daynight.keep"))
    threshold_m: float = float(schema_default("datasets.*.threshold_m"))
    db_utm: np.ndarray | None = None
    zone: tuple[int, str] | None = None


def _score_indoor(table: pd.DataFrame, truth: pd.DataFrame, o: TruthOptions) -> dict:
    t = _aligned(table, truth, "indoor")
    s = binary_scores(table["keep"], truly_outdoor(t, o.keep_levels, o.drop_panoramic))
    return {"target": "outdoor (kept)", **s}


def _score_daynight(table: pd.DataFrame, truth: pd.DataFrame, o: TruthOptions) -> dict:
    t = _aligned(table, truth, "daynight")
    s = binary_scores(table["keep"], t["condition"].isin(o.keep_conditions))
    return {"target": "/".join(o.keep_conditions) + " (kept)", **s}


def _score_geotag(table: pd.DataFrame, truth: pd.DataFrame, o: TruthOptions) -> dict | None:
    if o.db_utm is None or o.zone is None:
        return None
    # truth: the photo's TRUE position has a database image within threshold_m
    t = _aligned(table, truth, "geotag")
    q = latlon_to_utm(t["true_lat"].to_numpy(), t["true_lon"].to_numpy(), o.zone)
    _, d = nearest_database(q, o.db_utm)
    s = binary_scores(table["keep"], d <= o.threshold_m)
    return {"target": "true position has a positive (kept)", **s}


def _score_dedup(table: pd.DataFrame, truth: pd.DataFrame, o: TruthOptions) -> dict:
    return score_dedup(truth, table)


# how each builder stage is scored against the truth, by stage name (.stages.STAGES; one entry
# per stage, None: not scored here); a scorer returns the row's target and scores, or None
# when the inputs it needs are missing. The corrections' positions are scored in score_final.
SCORERS: dict[str, Callable[[pd.DataFrame, pd.DataFrame, TruthOptions], dict | None] | None] = {
    "indoor": _score_indoor,
    "daynight": _score_daynight,
    "dedup": _score_dedup,
    "corrections": None,
    "geotag": _score_geotag,
}


def score_stages(
    truth: pd.DataFrame,
    stages: dict[str, pd.DataFrame],
    *,
    keep_levels: int = TruthOptions.keep_levels,
    drop_panoramic: bool = TruthOptions.drop_panoramic,
    keep_conditions: tuple[str, ...] = TruthOptions.keep_conditions,
    threshold_m: float = TruthOptions.threshold_m,
    db_utm: np.ndarray | None = None,
    zone: tuple[int, str] | None = None,
) -> pd.DataFrame:
    """One row per scored stage, in the order of :data:`.stages.STAGES`: what it was asked to
    keep, and how well it did (defaults: the config schema's).

    ``stages``: stage tables by stage name (``indoor``, ``daynight``, ``dedup``,
    ``corrections``, ``geotag``; any subset), each listing the photos that reached it with
    ``keep``; the geotag stage is scored only given ``db_utm`` and ``zone``.
    """
    unknown = sorted(set(stages) - set(SCORERS))
    if unknown:
        raise DataError(f"truth: no builder stage {unknown} (stages: {', '.join(SCORERS)})")
    opts = TruthOptions(
        keep_levels, drop_panoramic, tuple(keep_conditions), threshold_m, db_utm, zone
    )
    rows = []
    for st in STAGES:
        scorer = SCORERS[st.name]
        if scorer is None or st.name not in stages:
            continue
        row = scorer(stages[st.name], truth, opts)
        if row is not None:
            rows.append({"stage": st.name, **row})
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
    keep_levels: int = TruthOptions.keep_levels,
    drop_panoramic: bool = TruthOptions.drop_panoramic,
    keep_conditions: tuple[str, ...] = TruthOptions.keep_conditions,
    threshold_m: float = TruthOptions.threshold_m,
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
