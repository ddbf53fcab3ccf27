"""Bounding box and UTM zone of a database: where the builder searches for photos."""

from __future__ import annotations

import numpy as np
import utm

from ..datasets.base import ImageSet
from ..errors import DataError
from .geotag import database_zone as names_zone
from .stages import build_default


def database_zone(db: ImageSet) -> tuple[int, str]:
    """UTM zone (number, letter) of the database, read from its file names
    (:func:`.geotag.database_zone`); :class:`DataError` when there is none."""
    if not len(db):
        raise DataError("the database is empty: no UTM zone to build queries in")
    zone = names_zone(db.names)
    if zone is None:
        raise DataError(f"{db.names[0]}: the database file names carry no UTM zone")
    return zone


def database_bbox(db: ImageSet, margin_m: float = build_default("source.margin_m")) -> list[float]:
    """[min_lon, min_lat, max_lon, max_lat] of the database positions plus ``margin_m``."""
    number, letter = database_zone(db)
    pts = db.utm[np.isfinite(db.utm).all(axis=1)]
    if not len(pts):
        raise DataError("the database has no positions: cannot derive a search bounding box")
    (e0, n0), (e1, n1) = pts.min(axis=0) - margin_m, pts.max(axis=0) + margin_m
    lat0, lon0 = utm.to_latlon(e0, n0, number, letter)
    lat1, lon1 = utm.to_latlon(e1, n1, number, letter)
    return [
        round(float(min(lon0, lon1)), 6),
        round(float(min(lat0, lat1)), 6),
        round(float(max(lon0, lon1)), 6),
        round(float(max(lat0, lat1)), 6),
    ]
