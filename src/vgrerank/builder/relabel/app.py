"""The manual relabel page: a local web app to fix wrong geotags of night query photos.

The reviewer sees one query photo beside its top database candidates (ordered by a re-ranking
score when given, else by distance to the photo's position), and an offline map (SVG over the
database positions) with the photo's position as a draggable marker. Each decision (accept a
candidate's position, keep the current or dragged position, reject the photo) rewrites one row
of the corrections CSV (:mod:`.corrections`), which the next workflow run applies.

The server uses the standard library only, binds to a loopback address (port 0 = a free port)
and serves only the page, its two assets and the image files of the given tables (by row
number, so no path from the client ever reaches the file system).

JSON API (all responses JSON; errors are ``{"error": message}`` with a 4xx status):

- ``GET /api/queries``: ``{"queries": [{photo_id, index, action}], "reviewed", "ranking"}``,
- ``GET /api/query?photo_id=ID``: the photo, its geotag, current position and decision, its
  candidates and the map area (see :meth:`RelabelState.query_detail`),
- ``POST /api/decision`` (``application/json``): ``{photo_id, action, latitude, longitude,
  candidate}`` -> ``{"correction": row, "reviewed": n}``,
- ``GET /image/query/<i>``, ``GET /image/db/<i>``: the image file of row ``i``.

Command line (prints the URL; Ctrl-C stops)::

    python -m vgrerank.builder.relabel.app --photos photos.parquet --database-dir DB \\
        --corrections corrections.csv [--candidates rerank.parquet] [--kept-in STAGE.parquet] \\
        [--port-file F] [--port P] [--top-k K]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import math
import mimetypes
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from ...errors import DataError
from ..geotag import EARTH_RADIUS_M, haversine_m
from .corrections import Correction, now_iso, read_corrections, write_corrections

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {"index.html", "app.js", "style.css"}
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0
MAX_MAP_POINTS = 4000
MAX_BODY_BYTES = 64 * 1024
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


# -- HTTP --------------------------------------------------------------------------------------

IMAGE_ROUTE = re.compile(r"^/image/(query|db)/(\d{1,12})$")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]"}


class RelabelHandler(BaseHTTPRequestHandler):
    """Routes requests to the server's :class:`RelabelState`."""

    server: RelabelHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch(self._get)

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def _dispatch(self, route) -> None:
        try:
            self._check_host()
            route(urlsplit(self.path))
        except RequestError as exc:
            self._send_json({"error": str(exc)}, exc.status)
        except DataError as exc:
            self._send_json({"error": str(exc)}, HTTPStatus.INTERNAL_SERVER_ERROR)
        except Exception as exc:  # a bug: answer 500 instead of dropping the connection
            log.exception("relabel request %s failed", self.path)
            self._send_json({"error": f"internal error: {exc}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _check_host(self) -> None:
        """Refuse requests for other host names (DNS rebinding of a local port)."""
        host = (self.headers.get("Host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOOPBACK_NAMES and not name.startswith("127."):
            raise RequestError(f"host {host!r} not served", HTTPStatus.FORBIDDEN)

    def _get(self, url) -> None:
        state = self.server.state
        if url.path in ("/", "/index.html"):
            self._send_file(STATIC_DIR / "index.html")
        elif url.path.startswith("/static/") and url.path[8:] in STATIC_FILES:
            self._send_file(STATIC_DIR / url.path[8:])
        elif url.path == "/api/queries":
            self._send_json(state.query_list())
        elif url.path == "/api/query":
            ids = parse_qs(url.query).get("photo_id")
            if not ids:
                raise RequestError("missing ?photo_id=")
            self._send_json(state.query_detail(ids[0]))
        elif m := IMAGE_ROUTE.match(url.path):
            self._send_image(state.image_path(m[1], int(m[2])))
        else:
            raise RequestError(f"not found: {url.path}", HTTPStatus.NOT_FOUND)

    def _post(self, url) -> None:
        if url.path != "/api/decision":
            raise RequestError(f"not found: {url.path}", HTTPStatus.NOT_FOUND)
        self._send_json(self.server.state.decide(self._read_json()))

    def _read_json(self):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise RequestError("POST needs Content-Type: application/json")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestError("bad Content-Length") from None
        if not 0 < length <= MAX_BODY_BYTES:
            raise RequestError(f"body must be 1..{MAX_BODY_BYTES} bytes")
        try:
            return json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(f"invalid JSON ({exc})") from None

    def _send_image(self, path: Path | None) -> None:
        if path is None or not path.is_file():
            raise RequestError("image not found", HTTPStatus.NOT_FOUND)
        self._send_file(path, cache="private, max-age=3600")

    def _send_file(self, path: Path, cache: str = "no-cache") -> None:
        try:
            body = path.read_bytes()
        except OSError:
            raise RequestError(f"cannot read {path.name}", HTTPStatus.NOT_FOUND) from None
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(body, ctype, HTTPStatus.OK, cache)

    def _send_json(self, obj, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(obj, allow_nan=False).encode()
        self._send(body, "application/json", status, "no-store")

    def _send(self, body: bytes, ctype: str, status: HTTPStatus, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        if status >= 400:  # an unread request body must not be parsed as the next request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class RelabelHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the review state."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: RelabelState):
        self.state = state
        super().__init__(address, RelabelHandler)


def check_loopback(host: str) -> str:
    """``host`` if it is an IPv4 loopback address ('localhost' -> '127.0.0.1'), else ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        ok = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"the relabel page only binds to 127.0.0.0/8, not {host!r}")
    return host


class RelabelServer:
    """A running relabel server (background thread); ``stop()`` or use as a context manager."""

    def __init__(self, state: RelabelState, host: str = "127.0.0.1", port: int = 0):
        self.state = state
        self.httpd = RelabelHTTPServer((check_loopback(host), port), state)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="relabel-http", daemon=True
        )

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.httpd.server_address[0]}:{self.port}/"

    def start(self) -> RelabelServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=10)
        self.httpd.server_close()

    def wait(self) -> None:
        """Block until Ctrl-C, then stop."""
        try:
            while self.thread.is_alive():
                self.thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> RelabelServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    queries: pd.DataFrame,
    database: pd.DataFrame,
    corrections_csv: str | Path,
    candidates: Mapping[str, Sequence[tuple[str, float]]] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    top_k: int = 10,
) -> RelabelServer:
    """Start the relabel page in a background thread and return the running server.

    ``queries``: ``photo_id, path, latitude, longitude``; ``database``: ``name, path, latitude,
    longitude`` (paths are image files); ``candidates``: photo id -> ``[(db name, score)]`` or
    None to show the ``top_k`` nearest database images. ``port=0`` picks a free port; read it
    from ``server.url``. Raises :class:`DataError` for a malformed corrections CSV."""
    state = RelabelState(queries, database, corrections_csv, candidates, top_k=top_k)
    return RelabelServer(state, host, port).start()


# -- command line ------------------------------------------------------------------------------


def load_photos(path: str | Path, kept_in: str | Path | None = None) -> pd.DataFrame:
    """Kept, downloaded photos of a photos table, with image paths resolved against its folder.

    ``kept_in``: a later stage table (``photo_id, keep, reason``); only photos it keeps are
    listed, so that the corrections CSV names only photos that reach the corrections stage."""
    from ..table import read_table

    path = Path(path)
    df = read_table(path, columns=("photo_id", "path", "latitude", "longitude"))
    if "keep" in df.columns:
        df = df[df["keep"].astype(bool)]
    if kept_in is not None:
        stage = read_table(kept_in)
        df = df[df["photo_id"].isin(set(stage.loc[stage["keep"].astype(bool), "photo_id"]))]
    df = df[df["path"].astype(str) != ""]
    resolved = [str(path.parent / p) for p in df["path"].astype(str)]
    return df.assign(path=resolved).reset_index(drop=True)


def load_database(folder: str | Path) -> pd.DataFrame:
    """Images of a VG database folder (``@UTM`` names): name (relative path), path, lat/lon."""
    from ...datasets.names import parse_name
    from ...datasets.readers import list_images

    folder = Path(folder)
    rows = []
    for f in list_images(folder):
        lat, lon = _name_latlon(f, parse_name(f))
        rows.append((f.relative_to(folder).as_posix(), str(f), lat, lon))
    return pd.DataFrame(rows, columns=["name", "path", "latitude", "longitude"])


def _name_latlon(path: Path, info) -> tuple[float, float]:
    """Latitude/longitude from the name's fields, else from its UTM coordinates."""
    if info.latitude is not None and info.longitude is not None:
        return info.latitude, info.longitude
    if info.utm_zone_number is None or not info.utm_zone_letter:
        raise DataError(f"{path}: no latitude/longitude and no UTM zone in the file name")
    import utm

    try:
        return utm.to_latlon(
            info.utm_east, info.utm_north, info.utm_zone_number, info.utm_zone_letter
        )
    except Exception as exc:  # utm.OutOfRangeError and friends
        raise DataError(f"{path}: bad UTM position ({exc})") from exc


def load_candidates(path: str | Path, photos: pd.DataFrame) -> dict[str, list[tuple[str, float]]]:
    """Candidates from a re-ranking parquet (``db_name``, ``score`` and ``photo_id`` or
    ``query_name``, e.g. :mod:`vgrerank.rerank` output); query names are matched to photo ids,
    image paths or their base names / stems. Rows in ``rank`` order when present."""
    path = Path(path)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: unreadable candidates table ({exc})") from exc
    key = "photo_id" if "photo_id" in df.columns else "query_name"
    missing = [c for c in (key, "db_name", "score") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    if "rank" in df.columns:
        df = df.sort_values([key, "rank"], kind="stable")
    lookup = _photo_lookup(photos)
    out: dict[str, list[tuple[str, float]]] = {}
    for name, group in df.groupby(key, sort=False):
        pid = lookup.get(str(name)) or lookup.get(_built_photo_id(str(name)))
        if pid is not None:
            out[pid] = list(
                zip(group["db_name"].astype(str), group["score"].astype(float), strict=True)
            )
    if len(df) and not out:
        raise DataError(f"{path}: no {key} matches a photo of the photos table")
    return out


def _built_photo_id(name: str) -> str:
    """The photo id a built query's ``@UTM`` name carries as its pano_id ('' if none)."""
    from ...datasets.names import parse_name

    try:
        return parse_name(name).pano_id
    except DataError:
        return ""


def _photo_lookup(photos: pd.DataFrame) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for pid, p in zip(photos["photo_id"].astype(str), photos["path"].astype(str), strict=True):
        for key in (Path(p).stem, Path(p).name, p, pid):
            lookup[key] = pid
    return lookup


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="vgrerank-relabel", description="Review and correct query geotags in a browser."
    )
    ap.add_argument("--photos", required=True, help="photos table (.parquet or .csv)")
    ap.add_argument("--database-dir", required=True, help="VG database folder (@UTM names)")
    ap.add_argument("--corrections", required=True, help="corrections CSV (created/updated)")
    ap.add_argument("--candidates", help="re-ranking parquet; default: nearest database images")
    ap.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    ap.add_argument("--port-file", help="write the chosen port to this file")
    ap.add_argument("--top-k", type=int, default=10, help="candidates shown per photo")
    ap.add_argument(
        "--kept-in", help="stage table: review only the photos it keeps (e.g. the dedup output)"
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        photos = load_photos(args.photos, args.kept_in)
        database = load_database(args.database_dir)
        cands = load_candidates(args.candidates, photos) if args.candidates else None
        server = serve(photos, database, args.corrections, cands, port=args.port, top_k=args.top_k)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.port_file:
        _write_port_file(Path(args.port_file), server.port)
    print(f"relabel page: {server.url}  ({len(photos)} photos; Ctrl-C to stop)", flush=True)
    server.wait()
    return 0


def _write_port_file(path: Path, port: int) -> None:
    from ...io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(f"{port}\n")


if __name__ == "__main__":
    sys.exit(main())
