"""The database-positive check: a query is only useful for evaluation when the database has an
image within ``threshold_m`` metres (25 m, the usual VG positive radius) of its geotag.

Photo positions (WGS84 ``latitude``/``longitude``) are converted to UTM in the **database's**
zone (``utm.from_latlon`` with the zone forced), so a photo just across a zone border is still
measured in the database's metric frame. The nearest database image comes from a KD-tree over the
database positions (no queries x database matrix).

Output table (:func:`geotag_table`), one row per input row, in input order: ``photo_id``,
``utm_east``, ``utm_north`` (database zone; NaN without a usable geotag), ``nearest_db`` (name of
the nearest database image, '' when none), ``dist_m`` (NaN when none), ``keep`` (``dist_m <=
threshold_m``), ``reason`` ('' when kept; 'no database image within 25 m (nearest 41.2 m)',
'no geotag (latitude/longitude missing)', 'geotag outside the UTM range (lat, lon)', 'database
has no positioned image').
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import utm
from scipy.spatial import cKDTree

from ..config import schema_default
from ..datasets.base import ImageSet
from ..datasets.names import parse_name
from ..errors import DataError

GEOTAG_COLUMNS = ("photo_id", "utm_east", "utm_north", "nearest_db", "dist_m", "keep", "reason")
ZONE_SAMPLE = 1000
NO_GEOTAG = "no geotag (latitude/longitude missing)"
NO_DATABASE = "database has no positioned image"
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)


def haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in metres (arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def database_zone(names: Sequence[str], sample: int = ZONE_SAMPLE) -> tuple[int, str] | None:
    """UTM zone (number, letter) written in VG '@' database file names, from up to ``sample``
    evenly spaced names; None when the names carry no zone (not VG names, or empty fields).
    :class:`DataError` when the sampled names disagree (the database spans zones)."""
    if len(names) == 0:
        return None
    picks = np.unique(np.linspace(0, len(names) - 1, min(sample, len(names))).round().astype(int))
    zones = set()
    for k in picks:
        try:
            info = parse_name(names[k])
        except DataError:
            return None
        if info.utm_zone_number is None or info.utm_zone_letter == "":
            return None
        zones.add((int(info.utm_zone_number), info.utm_zone_letter.upper()))
    if len(zones) > 1:
        raise DataError(
            f"database names span several UTM zones {sorted(zones)} (e.g. {names[picks[0]]}); "
            "distances across zones are not metric: pass zone= explicitly"
        )
    return zones.pop()


def valid_latlon(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Positions that UTM can represent: finite, latitude in [-80, 84], longitude in [-180, 180]."""
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(lat)
            & np.isfinite(lon)
            & (lat >= -80.0)
            & (lat <= 84.0)
            & (lon >= -180.0)
            & (lon <= 180.0)
        )


def latlon_to_utm(lat, lon, zone: tuple[int, str]) -> np.ndarray:
    """[N, 2] (east, north) in the given zone; NaN rows where :func:`valid_latlon` is false."""
    lat = np.asarray(lat, dtype=np.float64).reshape(-1)
    lon = np.asarray(lon, dtype=np.float64).reshape(-1)
    out = np.full((len(lat), 2), np.nan)
    ok = valid_latlon(lat, lon)
    if ok.any():
        east, north, _, _ = utm.from_latlon(
            lat[ok], lon[ok], force_zone_number=int(zone[0]), force_zone_letter=str(zone[1])
        )
        out[ok, 0], out[ok, 1] = east, north
    return out


def nearest_database(q_utm: np.ndarray, db_utm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index (int64, -1 when none) and distance in metres (NaN when none) of the nearest database
    position for each query; NaN queries and NaN database positions are skipped."""
    q_utm = np.asarray(q_utm, dtype=np.float64).reshape(-1, 2)
    db_utm = np.asarray(db_utm, dtype=np.float64).reshape(-1, 2)
    index = np.full(len(q_utm), -1, dtype=np.int64)
    dist = np.full(len(q_utm), np.nan)
    db_ok = np.flatnonzero(np.isfinite(db_utm).all(axis=1))
    q_ok = np.flatnonzero(np.isfinite(q_utm).all(axis=1))
    if len(db_ok) == 0 or len(q_ok) == 0:
        return index, dist
    d, k = cKDTree(db_utm[db_ok]).query(q_utm[q_ok], k=1)
    index[q_ok] = db_ok[k]
    dist[q_ok] = d
    return index, dist


def _reason(dist: float, has_pos: bool, valid: bool, threshold_m: float, db_empty: bool) -> str:
    if not has_pos:
        return NO_GEOTAG
    if not valid:
        return "geotag outside the UTM range (lat, lon)"
    if db_empty:
        return NO_DATABASE
    if dist <= threshold_m:
        return ""
    return f"no database image within {threshold_m:g} m (nearest {dist:.1f} m)"


def _query_utm(rows: pd.DataFrame, zone: tuple[int, str] | None) -> tuple[np.ndarray, np.ndarray]:
    """(utm [N, 2], has-position [N]) from latitude/longitude, else utm_east/utm_north."""
    if {"latitude", "longitude"} <= set(rows.columns):
        lat = pd.to_numeric(rows["latitude"], errors="coerce").to_numpy(np.float64)
        lon = pd.to_numeric(rows["longitude"], errors="coerce").to_numpy(np.float64)
        has = np.isfinite(lat) & np.isfinite(lon)
        if zone is None:
            raise DataError(
                "geotag: the database UTM zone is unknown (its names carry none): "
                "pass zone=(number, letter)"
            )
        return latlon_to_utm(lat, lon, zone), has
    if {"utm_east", "utm_north"} <= set(rows.columns):
        q = rows[["utm_east", "utm_north"]].apply(pd.to_numeric, errors="coerce")
        q = q.to_numpy(np.float64)
        return q, np.isfinite(q).all(axis=1)
    raise DataError(
        f"geotag: rows need latitude/longitude or utm_east/utm_north; have {list(rows.columns)}"
    )


def geotag_table(
    rows: pd.DataFrame,
    database: ImageSet,
    zone: tuple[int, str] | None = None,
    threshold_m: float = schema_default("datasets.*.threshold_m"),
) -> pd.DataFrame:
    """The geotag table (module docstring) of ``rows`` (photo_id and latitude/longitude in
    WGS84, or utm_east/utm_north already in the database zone) against ``database``.

    ``zone``: the database's UTM zone (number, letter); None reads it from the database's VG
    file names (:func:`database_zone`).
    """
    if "photo_id" not in rows.columns:
        raise DataError(f"geotag: rows lack photo_id; have {list(rows.columns)}")
    if zone is None:
        zone = database_zone(database.names)
    q_utm, has = _query_utm(rows.reset_index(drop=True), zone)
    valid = np.isfinite(q_utm).all(axis=1)
    index, dist = nearest_database(q_utm, database.utm)
    db_empty = not np.isfinite(database.utm).all(axis=1).any()
    reasons = [
        _reason(dist[k], bool(has[k]), bool(valid[k]), threshold_m, db_empty)
        for k in range(len(rows))
    ]
    return pd.DataFrame(
        {
            "photo_id": [str(p) for p in rows["photo_id"]],
            "utm_east": q_utm[:, 0],
            "utm_north": q_utm[:, 1],
            "nearest_db": [database.names[i] if i >= 0 else "" for i in index],
            "dist_m": dist,
            "keep": np.array([r == "" for r in reasons], dtype=bool),
            "reason": reasons,
        },
        columns=list(GEOTAG_COLUMNS),
    )
