"""The review state behind the relabel page: queries, their candidates and map areas, and the
decisions written to the corrections CSV (:class:`RelabelState`)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError
from ..geotag import EARTH_RADIUS_M, haversine_m
from .corrections import Correction, now_iso, read_corrections, write_corrections

log = logging.getLogger(__name__)

METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0

MAX_MAP_POINTS = 4000

SAME_POSITION_DEG = 1e-7  # a 'keep' this close to the geotag is a keep, else a move


def _num(value) -> float | None:
    """A JSON-safe number: None for NaN / missing."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _point(lat: float, lon: float) -> dict | None:
    if _num(lat) is None or _num(lon) is None:
        return None
    return {"latitude": float(lat), "longitude": float(lon)}


def _check_frame(df: pd.DataFrame, columns: Sequence[str], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")
    return df.reset_index(drop=True)


class RequestError(Exception):
    """A client error: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


class RelabelState:
    """The review session: queries, database, candidates and the corrections CSV.

    ``queries`` has ``photo_id, path, latitude, longitude``; ``database`` has ``name, path,
    latitude, longitude``; ``candidates`` maps a photo id to ``(database name, score)`` pairs
    (higher score first after sorting). Paths are image files. Decisions are serialised by a
    lock and rewrite the CSV atomically; rows of photos not in ``queries`` are preserved."""

    def __init__(
        self,
        queries: pd.DataFrame,
        database: pd.DataFrame,
        corrections_csv: str | Path,
        candidates: Mapping[str, Sequence[tuple[str, float]]] | None = None,
        top_k: int = 10,
    ):
        cols = ("latitude", "longitude")
        self.queries = _check_frame(queries, ("photo_id", "path", *cols), "queries")
        self.database = _check_frame(database, ("name", "path", *cols), "database")
        self.queries["photo_id"] = self.queries["photo_id"].astype(str)
        if self.queries["photo_id"].duplicated().any():
            raise DataError("queries: duplicate photo_id(s)")
        self.corrections_csv = Path(corrections_csv)
        self.top_k = top_k
        self.row_of = {pid: i for i, pid in enumerate(self.queries["photo_id"])}
        self.db_lat = self.database["latitude"].to_numpy(dtype=float)
        self.db_lon = self.database["longitude"].to_numpy(dtype=float)
        self.db_row = self._index_database_names()
        self.candidates = None if candidates is None else self._resolve_candidates(candidates)
        self.corrections = {c.photo_id: c for c in read_corrections(self.corrections_csv)}
        self.lock = threading.Lock()

    # -- set-up ------------------------------------------------------------------------------

    def _index_database_names(self) -> dict[str, int]:
        """Database row by name, and by base name where that is unambiguous."""
        names = [str(n) for n in self.database["name"]]
        by_name = {n: i for i, n in enumerate(names)}
        base = pd.Series([Path(n).name for n in names])
        unique = base[~base.duplicated(keep=False)]
        by_base = {b: int(i) for i, b in unique.items() if b not in by_name}
        return {**by_base, **by_name}

    def _resolve_candidates(self, candidates: Mapping) -> dict[str, list[tuple[int, float]]]:
        """Photo id -> [(database row, score)], best score first; unknown names are errors."""
        out: dict[str, list[tuple[int, float]]] = {}
        for pid, pairs in candidates.items():
            rows = []
            for name, score in pairs:
                if str(name) not in self.db_row:
                    raise DataError(f"candidates of photo {pid}: {name!r} is not in the database")
                rows.append((self.db_row[str(name)], float(score)))
            rows.sort(key=lambda r: -r[1] if math.isfinite(r[1]) else math.inf)
            out[str(pid)] = rows
        return out

    # -- read side ---------------------------------------------------------------------------

    def _query_row(self, photo_id: str) -> int:
        if photo_id not in self.row_of:
            raise RequestError(f"unknown photo_id {photo_id!r}", HTTPStatus.NOT_FOUND)
        return self.row_of[photo_id]

    def geotag(self, row: int) -> dict | None:
        q = self.queries.iloc[row]
        return _point(q["latitude"], q["longitude"])

    def position(self, photo_id: str) -> dict | None:
        """The current position: the corrected one when decided (not rejected), else the geotag."""
        c = self.corrections.get(photo_id)
        if c is not None and c.action != "reject":
            return _point(c.latitude, c.longitude)
        return self.geotag(self.row_of[photo_id])

    def query_list(self) -> dict:
        items = [
            {"photo_id": pid, "index": i, "action": self._action(pid)}
            for i, pid in enumerate(self.queries["photo_id"])
        ]
        reviewed = sum(1 for it in items if it["action"])
        return {"queries": items, "reviewed": reviewed, "ranking": self.ranking}

    @property
    def ranking(self) -> str:
        return "distance" if self.candidates is None else "score"

    def _action(self, photo_id: str) -> str | None:
        c = self.corrections.get(photo_id)
        return None if c is None else c.action

    def candidate_rows(self, photo_id: str) -> list[tuple[int, float | None]]:
        """Top database rows for the photo: by score when given, else nearest to its position."""
        if self.candidates is not None:
            return [(r, s) for r, s in self.candidates.get(photo_id, [])[: self.top_k]]
        pos = self.geotag(self.row_of[photo_id]) or self.position(photo_id)
        if pos is None or not len(self.database):
            return []
        dist = haversine_m(pos["latitude"], pos["longitude"], self.db_lat, self.db_lon)
        dist = np.where(np.isfinite(dist), dist, np.inf)
        order = np.argsort(dist, kind="stable")[: self.top_k]
        return [(int(r), None) for r in order if np.isfinite(dist[r])]

    def _candidate_json(self, rank: int, row: int, score, pos: dict | None) -> dict:
        lat, lon = self.db_lat[row], self.db_lon[row]
        dist = None
        if pos is not None and _point(lat, lon) is not None:
            dist = float(haversine_m(pos["latitude"], pos["longitude"], [lat], [lon])[0])
        return {
            "rank": rank,
            "name": str(self.database["name"].iloc[row]),
            "image": f"/image/db/{row}",
            "latitude": _num(lat),
            "longitude": _num(lon),
            "score": _num(score),
            "distance_m": dist,
        }

    def query_detail(self, photo_id: str) -> dict:
        """Everything the page shows for one photo (positions are ``{latitude, longitude}``)."""
        row = self._query_row(photo_id)
        geotag = self.geotag(row)
        position = self.position(photo_id)
        cands = [
            self._candidate_json(k + 1, r, s, geotag or position)
            for k, (r, s) in enumerate(self.candidate_rows(photo_id))
        ]
        c = self.corrections.get(photo_id)
        ids = self.queries["photo_id"]
        return {
            "photo_id": photo_id,
            "index": row,
            "total": len(ids),
            "image": f"/image/query/{row}",
            "geotag": geotag,
            "position": position,
            "correction": None if c is None else _correction_json(c),
            "ranking": self.ranking,
            "candidates": cands,
            "map": self.map_area([p for p in (geotag, position) if p] + _positions(cands)),
            "prev": ids.iloc[row - 1] if row > 0 else None,
            "next": ids.iloc[row + 1] if row + 1 < len(ids) else None,
        }

    def map_area(self, points: list[dict]) -> dict:
        """A square-ish area around ``points`` (100 m minimum radius, 20 % margin) with the
        database positions inside it (subsampled to :data:`MAX_MAP_POINTS`)."""
        if not points:
            finite = np.isfinite(self.db_lat) & np.isfinite(self.db_lon)
            if not finite.any():
                return {"south": -1, "west": -1, "north": 1, "east": 1, "points": []}
            points = [{"latitude": self.db_lat[finite][0], "longitude": self.db_lon[finite][0]}]
        lats = np.array([p["latitude"] for p in points])
        lons = np.array([p["longitude"] for p in points])
        lat0, lon0 = (lats.min() + lats.max()) / 2, (lons.min() + lons.max()) / 2
        cos0 = max(math.cos(math.radians(lat0)), 1e-6)
        half_m = max(
            100.0,
            0.6 * (lats.max() - lats.min()) * METRES_PER_DEGREE,
            0.6 * (lons.max() - lons.min()) * METRES_PER_DEGREE * cos0,
        )
        dlat = half_m / METRES_PER_DEGREE
        dlon = half_m / (METRES_PER_DEGREE * cos0)
        box = {"south": lat0 - dlat, "west": lon0 - dlon, "north": lat0 + dlat, "east": lon0 + dlon}
        return {**box, "points": self._points_in(box)}

    def _points_in(self, box: dict) -> list[list[float]]:
        inside = (
            (self.db_lat >= box["south"])
            & (self.db_lat <= box["north"])
            & (self.db_lon >= box["west"])
            & (self.db_lon <= box["east"])
        )
        rows = np.flatnonzero(inside)
        if len(rows) > MAX_MAP_POINTS:
            rows = rows[np.linspace(0, len(rows) - 1, MAX_MAP_POINTS).astype(int)]
        return [[round(float(self.db_lat[r]), 7), round(float(self.db_lon[r]), 7)] for r in rows]

    def image_path(self, kind: str, row: int) -> Path | None:
        """The image file of a query / database row (None when out of range)."""
        table = {"query": self.queries, "db": self.database}.get(kind)
        if table is None or not 0 <= row < len(table):
            return None
        return Path(str(table["path"].iloc[row]))

    # -- write side --------------------------------------------------------------------------

    def decide(self, payload: Mapping) -> dict:
        """Validate a decision, record it in the CSV (atomic rewrite) and return the row."""
        if not isinstance(payload, Mapping):
            raise RequestError("the decision must be a JSON object")
        photo_id = str(payload.get("photo_id", ""))
        row = self._query_row(photo_id)
        correction = self._make_correction(row, photo_id, payload)
        with self.lock:
            self.corrections[photo_id] = correction
            write_corrections(self.corrections.values(), self.corrections_csv)
            reviewed = sum(1 for pid in self.corrections if pid in self.row_of)
        log.info("%s: %s", photo_id, correction.action)
        return {"correction": _correction_json(correction), "reviewed": reviewed}

    def _make_correction(self, row: int, photo_id: str, payload: Mapping) -> Correction:
        action = payload.get("action")
        if action == "accept":
            lat, lon, cand = self._accepted_position(payload.get("candidate"))
        elif action in ("keep", "move"):
            lat, lon = _payload_position(payload)
            action = self._keep_or_move(row, lat, lon)
            cand = ""
        elif action == "reject":
            geotag = self.geotag(row) or {"latitude": math.nan, "longitude": math.nan}
            lat, lon, cand = geotag["latitude"], geotag["longitude"], ""
        else:
            raise RequestError(f"action {action!r} is not one of accept, keep, move, reject")
        try:
            return Correction(photo_id, action, lat, lon, cand, now_iso())
        except ValueError as exc:
            raise RequestError(str(exc)) from None

    def _accepted_position(self, name) -> tuple[float, float, str]:
        if not isinstance(name, str) or name not in self.db_row:
            raise RequestError(f"candidate {name!r} is not a database image")
        r = self.db_row[name]
        return float(self.db_lat[r]), float(self.db_lon[r]), str(self.database["name"].iloc[r])

    def _keep_or_move(self, row: int, lat: float, lon: float) -> str:
        geotag = self.geotag(row)
        if geotag is None:
            return "move"
        same = (
            abs(geotag["latitude"] - lat) <= SAME_POSITION_DEG
            and abs(geotag["longitude"] - lon) <= SAME_POSITION_DEG
        )
        return "keep" if same else "move"


def _payload_position(payload: Mapping) -> tuple[float, float]:
    lat, lon = _num(payload.get("latitude")), _num(payload.get("longitude"))
    if lat is None or lon is None:
        raise RequestError("keep/move needs a numeric latitude and longitude")
    return lat, lon


def _positions(cands: list[dict]) -> list[dict]:
    return [_point(c["latitude"], c["longitude"]) for c in cands if c["latitude"] is not None]


def _correction_json(c: Correction) -> dict:
    out = asdict(c)
    out["latitude"], out["longitude"] = _num(c.latitude), _num(c.longitude)
    return out
