"""Ground-truth positives: database images within a distance (and optionally a heading bound)
of each query, found with a KD-tree (never an all-pairs distance matrix)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def heading_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute angular difference in degrees, in [0, 180]."""
    d = np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)
    return d


def positives_within(
    db_utm: np.ndarray,
    q_utm: np.ndarray,
    threshold_m: float,
    db_heading: np.ndarray | None = None,
    q_heading: np.ndarray | None = None,
    max_heading_deg: float | None = None,
) -> list[np.ndarray]:
    """For each query, sorted int64 indices of database images within ``threshold_m`` metres.

    With ``max_heading_deg`` set, a positive must also look in a direction within that many
    degrees of the query's heading (headings must then be known for all images).
    """
    db_utm = np.asarray(db_utm, dtype=np.float64).reshape(-1, 2)
    q_utm = np.asarray(q_utm, dtype=np.float64).reshape(-1, 2)
    if len(db_utm) == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(len(q_utm))]
    tree = cKDTree(db_utm)
    lists = tree.query_ball_point(q_utm, r=threshold_m)
    out = [np.array(sorted(ix), dtype=np.int64) for ix in lists]
    if max_heading_deg is not None:
        if db_heading is None or q_heading is None:
            raise ValueError("heading-aware positives need database and query headings")
        if np.isnan(db_heading).any() or np.isnan(q_heading).any():
            raise ValueError(
                "heading-aware positives need every image's heading (some are unknown)"
            )
        out = [
            ix[heading_difference(db_heading[ix], q_heading[i]) <= max_heading_deg]
            for i, ix in enumerate(out)
        ]
    return out
