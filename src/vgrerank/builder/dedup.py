"""Near-duplicate removal: bursts and re-uploads of the same view are merged into clusters and only
the sharpest photo of each cluster is kept.

Two photos ``a`` and ``b`` are linked (same cluster) when all of the following hold:

- **place**: their geotags are at most ``max_distance_m`` metres apart (haversine); a photo
  without a position is linked to nothing (unless ``max_distance_m`` is ``None``, which compares
  every pair regardless of position);
- **time** (only with ``max_time_s`` set): their ``taken`` dates are not both known and more than
  ``max_time_s`` seconds apart;
- **appearance**: the perceptual hash distance (Hamming, bits) is at most ``max_hash_distance``
  **or** the cosine similarity of their global descriptors is at least ``min_similarity`` (only
  when descriptors are given).

Clusters are the connected components of these links (union-find), so a burst that drifts a
little is merged as a chain. In each cluster the photo with the highest sharpness (variance of
the Laplacian of the grey image resized to a longer side of ``sharpness_side`` pixels) is kept;
ties go to the smallest photo id. Photo ids are ordered by :func:`id_key` (numeric ids by value,
then other ids as strings).

Output table (:func:`dedup_table`), one row per input row, in input order: ``photo_id``,
``cluster`` (0.. in order of each cluster's smallest photo id), ``cluster_size``, ``sharpness``,
``phash``, ``dhash`` (hex), ``keep``, ``reason`` ('' or 'near-duplicate of <kept id>').
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from scipy.spatial import cKDTree

from ..errors import ConfigError, DataError
from ..imageio import load_image, to_gray
from ..io.atomic import atomic_path
from .geotag import EARTH_RADIUS_M, haversine_m
from .stages import build_default

HASH_KINDS = ("phash", "dhash", "both")
DEDUP_COLUMNS = (
    "photo_id",
    "cluster",
    "cluster_size",
    "sharpness",
    "phash",
    "dhash",
    "keep",
    "reason",
)


@dataclass(frozen=True)
class DedupConfig:
    """Thresholds of the near-duplicate rule (see the module docstring).

    ``hash_kind``: 'phash', 'dhash' or 'both' (both distances must be within
    ``max_hash_distance``). ``max_hash_distance=None`` disables the hash criterion,
    ``min_similarity=None`` the descriptor one (one of the two must stay enabled).
    """

    max_distance_m: float | None = build_default("dedup.max_distance_m")
    max_hash_distance: int | None = build_default("dedup.hash_distance")
    min_similarity: float | None = build_default("dedup.descriptor_similarity")
    hash_kind: str = "phash"
    hash_size: int = 8
    max_time_s: float | None = None
    sharpness_side: int = 512

    def __post_init__(self) -> None:
        if self.hash_kind not in HASH_KINDS:
            raise ConfigError(f"dedup.hash_kind={self.hash_kind!r}: expected one of {HASH_KINDS}")
        if self.max_hash_distance is None and self.min_similarity is None:
            raise ConfigError(
                "dedup: max_hash_distance and min_similarity are both disabled (None); "
                "enable at least one appearance criterion"
            )
        if self.max_distance_m is not None and self.max_distance_m < 0:
            raise ConfigError(f"dedup.max_distance_m={self.max_distance_m}: must be >= 0")
        if self.hash_size < 2 or self.sharpness_side < 8:
            raise ConfigError(
                f"dedup.hash_size={self.hash_size} (>= 2) / "
                f"dedup.sharpness_side={self.sharpness_side} (>= 8): too small"
            )


@dataclass
class Signatures:
    """Per-photo perceptual hashes (hex and bits [N, B]) and sharpness [N]."""

    phash: list[str]
    dhash: list[str]
    phash_bits: np.ndarray
    dhash_bits: np.ndarray
    sharpness: np.ndarray

    def __len__(self) -> int:
        return len(self.sharpness)


def id_key(photo_id: str) -> tuple[int, int, str]:
    """Sort key for photo ids: numeric ids by value first, then the others as strings."""
    s = str(photo_id)
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


# --- per-image signatures -------------------------------------------------------------------


def sharpness(gray: np.ndarray, side: int = 512) -> float:
    """Variance of the Laplacian of ``gray`` resized so its longer side is ``side`` pixels."""
    h, w = gray.shape[:2]
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(gray, size, interpolation=interp) if s != 1 else gray
    return float(cv2.Laplacian(small.astype(np.float64), cv2.CV_64F).var())


def image_signature(
    path: str | os.PathLike, hash_size: int = 8, sharpness_side: int = 512
) -> tuple[imagehash.ImageHash, imagehash.ImageHash, float]:
    """(phash, dhash, sharpness) of one image file; :class:`DataError` naming an unreadable one."""
    rgb = load_image(path)
    pil = Image.fromarray(rgb)
    ph = imagehash.phash(pil, hash_size=hash_size)
    dh = imagehash.dhash(pil, hash_size=hash_size)
    return ph, dh, sharpness(to_gray(rgb), sharpness_side)


def _image_paths(rows: pd.DataFrame, root: Path) -> list[Path]:
    paths = []
    for pid, rel in zip(rows["photo_id"], rows["path"], strict=True):
        if not isinstance(rel, str) or rel == "":
            raise DataError(f"{root}: photo {pid} has no image path")
        paths.append(root / rel)
    return paths


def compute_signatures(
    rows: pd.DataFrame, root: str | os.PathLike, config: DedupConfig = DedupConfig()
) -> Signatures:
    """Hashes and sharpness of the images of ``rows`` (``path`` relative to ``root``)."""
    ph, dh, sharp = [], [], []
    for path in _image_paths(rows, Path(root)):
        p, d, s = image_signature(path, config.hash_size, config.sharpness_side)
        ph.append(p)
        dh.append(d)
        sharp.append(s)
    bits = config.hash_size * config.hash_size
    return Signatures(
        phash=[str(h) for h in ph],
        dhash=[str(h) for h in dh],
        phash_bits=np.array([h.hash.reshape(-1) for h in ph], dtype=bool).reshape(-1, bits),
        dhash_bits=np.array([h.hash.reshape(-1) for h in dh], dtype=bool).reshape(-1, bits),
        sharpness=np.asarray(sharp, dtype=np.float64),
    )


# --- candidate pairs and the link rule ------------------------------------------------------


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


def _geo_pairs(lat: np.ndarray, lon: np.ndarray, max_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) within ``max_m`` metres. A KD-tree on unit-sphere points finds candidates
    (a chord is never longer than its arc), then the haversine distance decides."""
    ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
    if len(ok) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    xyz = _unit_xyz(lat[ok], lon[ok]) * EARTH_RADIUS_M
    pairs = cKDTree(xyz).query_pairs(r=max_m * (1 + 1e-9) + 1e-6, output_type="ndarray")
    i, j = ok[pairs[:, 0]], ok[pairs[:, 1]]
    near = haversine_m(lat[i], lon[i], lat[j], lon[j]) <= max_m
    i, j = i[near], j[near]
    return np.minimum(i, j), np.maximum(i, j)


def _all_pairs(n: int, block: int = 1 << 20) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair (i < j), in blocks of about ``block`` pairs (bounded memory)."""
    start = 0
    while start < n - 1:
        stop, count = start, 0
        while stop < n - 1 and (count == 0 or count + (n - 1 - stop) <= block):
            count += n - 1 - stop
            stop += 1
        i = np.concatenate([np.full(n - 1 - a, a, np.int64) for a in range(start, stop)])
        j = np.concatenate([np.arange(a + 1, n, dtype=np.int64) for a in range(start, stop)])
        yield i, j
        start = stop


def _candidate_blocks(
    lat: np.ndarray, lon: np.ndarray, max_m: float | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if max_m is None:
        yield from _all_pairs(len(lat))
    else:
        yield _geo_pairs(lat, lon, max_m)


def _hash_distance(sig: Signatures, i: np.ndarray, j: np.ndarray, kind: str) -> np.ndarray:
    dist = np.zeros(len(i), dtype=np.int64)
    if kind in ("phash", "both"):
        dist = np.maximum(dist, (sig.phash_bits[i] != sig.phash_bits[j]).sum(axis=1))
    if kind in ("dhash", "both"):
        dist = np.maximum(dist, (sig.dhash_bits[i] != sig.dhash_bits[j]).sum(axis=1))
    return dist


def _taken_seconds(taken: Sequence[str] | None, n: int) -> np.ndarray:
    if taken is None:
        return np.full(n, np.nan)
    t = pd.to_datetime(pd.Series(list(taken), dtype=object), errors="coerce", format="ISO8601")
    seconds = (t - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return seconds.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_descriptors(descriptors: np.ndarray | None, n: int) -> np.ndarray | None:
    if descriptors is None:
        return None
    d = np.asarray(descriptors, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != n:
        raise DataError(
            f"dedup: descriptors have shape {d.shape}, expected [{n}, D] (one row per photo)"
        )
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    return d / np.where(norm > 0, norm, 1.0)


def duplicate_pairs(
    lat: np.ndarray,
    lon: np.ndarray,
    sig: Signatures,
    descriptors: np.ndarray | None = None,
    taken: Sequence[str] | None = None,
    config: DedupConfig = DedupConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) linked by the near-duplicate rule of the module docstring."""
    n = len(sig)
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    desc = _check_descriptors(descriptors, n)
    t = _taken_seconds(taken, n) if config.max_time_s is not None else None
    out_i, out_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for i, j in _candidate_blocks(lat, lon, config.max_distance_m):
        if t is not None:
            far = np.abs(t[i] - t[j]) > config.max_time_s  # NaN is never far: unknown never blocks
            i, j = i[~far], j[~far]
        similar = np.zeros(len(i), dtype=bool)
        if config.max_hash_distance is not None:
            similar |= _hash_distance(sig, i, j, config.hash_kind) <= config.max_hash_distance
        if desc is not None and config.min_similarity is not None:
            similar |= np.einsum("ij,ij->i", desc[i], desc[j]) >= config.min_similarity
        out_i.append(i[similar])
        out_j.append(j[similar])
    return np.concatenate(out_i), np.concatenate(out_j)


# --- clusters -------------------------------------------------------------------------------


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def cluster_labels(photo_ids: Sequence[str], pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Connected components of ``pairs``, numbered 0.. in order of each one's smallest id."""
    uf = UnionFind(len(photo_ids))
    for a, b in pairs:
        uf.union(int(a), int(b))
    roots = [uf.find(k) for k in range(len(photo_ids))]
    order = sorted(range(len(photo_ids)), key=lambda k: id_key(photo_ids[k]))
    number: dict[int, int] = {}
    for k in order:
        number.setdefault(roots[k], len(number))
    return np.array([number[r] for r in roots], dtype=np.int64)


def choose_kept(photo_ids: Sequence[str], labels: np.ndarray, sharp: np.ndarray) -> dict[int, int]:
    """Cluster -> row index of its sharpest photo (ties: smallest photo id)."""
    best: dict[int, int] = {}
    for k in range(len(photo_ids)):
        c = int(labels[k])
        b = best.get(c)
        if b is None or (-sharp[k], id_key(photo_ids[k])) < (-sharp[b], id_key(photo_ids[b])):
            best[c] = k
    return best


# --- stage table ----------------------------------------------------------------------------


def _check_rows(rows: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise DataError(f"dedup: input rows lack column(s) {missing}; have {list(rows.columns)}")


def dedup_signatures(
    rows: pd.DataFrame,
    sig: Signatures,
    descriptors: np.ndarray | None = None,
    config: DedupConfig = DedupConfig(),
) -> pd.DataFrame:
    """The dedup table (module docstring) of ``rows`` (photo_id, latitude, longitude[, taken])
    from precomputed signatures aligned with the rows."""
    _check_rows(rows, ("photo_id", "latitude", "longitude"))
    if len(sig) != len(rows):
        raise DataError(f"dedup: {len(sig)} signatures for {len(rows)} photos")
    ids = [str(p) for p in rows["photo_id"]]
    taken = rows["taken"].tolist() if "taken" in rows.columns else None
    i, j = duplicate_pairs(
        rows["latitude"].to_numpy(np.float64),
        rows["longitude"].to_numpy(np.float64),
        sig,
        descriptors,
        taken,
        config,
    )
    labels = cluster_labels(ids, zip(i.tolist(), j.tolist(), strict=True))
    best = choose_kept(ids, labels, sig.sharpness)
    sizes = np.bincount(labels, minlength=len(best)) if len(ids) else np.zeros(0, np.int64)
    keep = np.array([best[int(c)] == k for k, c in enumerate(labels)], dtype=bool)
    reason = [
        "" if keep[k] else f"near-duplicate of {ids[best[int(c)]]}" for k, c in enumerate(labels)
    ]
    return pd.DataFrame(
        {
            "photo_id": ids,
            "cluster": labels,
            "cluster_size": sizes[labels].astype(np.int64),
            "sharpness": sig.sharpness,
            "phash": sig.phash,
            "dhash": sig.dhash,
            "keep": keep,
            "reason": reason,
        },
        columns=list(DEDUP_COLUMNS),
    )


def dedup_table(
    rows: pd.DataFrame,
    root: str | os.PathLike,
    descriptors: np.ndarray | None = None,
    config: DedupConfig = DedupConfig(),
) -> pd.DataFrame:
    """Near-duplicate table for ``rows`` (the photos still kept: photo_id, path, latitude,
    longitude, taken; ``path`` relative to ``root``). ``descriptors``: optional [N, D] global
    descriptors aligned with ``rows`` (re-normalised to unit length here)."""
    _check_rows(rows, ("photo_id", "path", "latitude", "longitude"))
    rows = rows.reset_index(drop=True)
    return dedup_signatures(rows, compute_signatures(rows, root, config), descriptors, config)


def clusters_frame(table: pd.DataFrame, min_size: int = 2) -> pd.DataFrame:
    """One row per cluster of at least ``min_size`` photos: cluster, size, photo_ids (sorted,
    space-separated), kept (the kept photo id)."""
    out = []
    for c, grp in table.groupby("cluster", sort=True):
        if len(grp) < min_size:
            continue
        ids = sorted((str(p) for p in grp["photo_id"]), key=id_key)
        kept_ids = [str(p) for p in grp.loc[grp["keep"].astype(bool), "photo_id"]]
        out.append(
            {
                "cluster": int(c),
                "size": len(grp),
                "photo_ids": " ".join(ids),
                "kept": kept_ids[0] if kept_ids else "",
            }
        )
    return pd.DataFrame(out, columns=["cluster", "size", "photo_ids", "kept"])


def write_clusters(table: pd.DataFrame, path: str | os.PathLike, min_size: int = 2) -> Path:
    """Write :func:`clusters_frame` of a dedup table as CSV (atomically)."""
    path = Path(path)
    frame = clusters_frame(table, min_size)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


# --- evaluation -----------------------------------------------------------------------------


def _as_labels(grouping) -> dict[str, object]:
    """photo id -> group label, from a mapping/Series (id -> label) or an iterable of groups."""
    if isinstance(grouping, pd.Series):
        return {str(k): v for k, v in grouping.items()}
    if isinstance(grouping, Mapping):
        return {str(k): v for k, v in grouping.items()}
    labels: dict[str, object] = {}
    for g, members in enumerate(grouping):
        for pid in members:
            if str(pid) in labels:
                raise DataError(f"score_grouping: photo {pid} is in more than one group")
            labels[str(pid)] = g
    return labels


def _pair_count(counts: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def score_grouping(pred_clusters, true_groups) -> dict[str, float | int]:
    """Pairwise precision/recall/F1 of a predicted grouping against the true one.

    Each argument is a mapping (or Series) photo id -> group label, or an iterable of groups
    (iterables of photo ids). A photo missing from one side is a singleton there. A pair is
    positive when both photos share a group. With no predicted pairs precision is 1.0, with no
    true pairs recall is 1.0 (nothing to miss). Returns precision, recall, f1, pred_pairs,
    true_pairs, common_pairs.
    """
    pred, true = _as_labels(pred_clusters), _as_labels(true_groups)
    ids = sorted(set(pred) | set(true))
    p = [("p", pred[k]) if k in pred else ("solo", k) for k in ids]
    t = [("t", true[k]) if k in true else ("solo", k) for k in ids]
    n_pred, n_true = _pair_count(Counter(p)), _pair_count(Counter(t))
    common = _pair_count(Counter(zip(p, t, strict=True)))
    precision = common / n_pred if n_pred else 1.0
    recall = common / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "pred_pairs": n_pred,
        "true_pairs": n_true,
        "common_pairs": common,
    }
