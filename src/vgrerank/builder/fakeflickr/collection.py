"""The fake Flickr's collection directory: ``photos.json`` records -> :class:`Photo`, dates and the
sizes it serves.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ...errors import DataError

REST_PATH = "/services/rest/"

SIZES = {"n": 320, "m": 500, "z": 640, "c": 800, "l": 1024, "h": 1600, "k": 2048}


@dataclass(frozen=True)
class Photo:
    """One photo of the collection (``photos.json`` record)."""

    id: str
    owner: str
    ownername: str
    title: str
    latitude: float | None
    longitude: float | None
    accuracy: int
    datetaken: str
    taken_ts: int
    license: int
    file: Path
    width: int
    height: int


def parse_date(value: str | int | float) -> int:
    """Unix seconds of a Flickr date parameter: unix time or 'YYYY-MM-DD[ HH:MM:SS]' (UTC)."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text))
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


def _photo_from_record(rec: dict, root: Path, where: str) -> Photo:
    try:
        file = (root / rec["file"]).resolve()
        if not file.is_relative_to(root.resolve()):
            raise ValueError(f"file {rec['file']!r} is outside the collection")
        lat, lon = rec.get("latitude"), rec.get("longitude")
        return Photo(
            id=str(rec["id"]),
            owner=str(rec.get("owner", "")),
            ownername=str(rec.get("ownername", "")),
            title=str(rec.get("title", "")),
            latitude=None if lat is None else float(lat),
            longitude=None if lon is None else float(lon),
            accuracy=int(rec.get("accuracy", 16)),
            datetaken=str(rec["datetaken"]),
            taken_ts=parse_date(rec["datetaken"]),
            license=int(rec.get("license", 0)),
            file=file,
            width=int(rec["width"]),
            height=int(rec["height"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: bad photo record ({type(exc).__name__}: {exc})") from exc


def load_collection(directory: str | os.PathLike) -> list[Photo]:
    """Read ``<directory>/photos.json``; ids must be unique."""
    root = Path(directory)
    index = root / "photos.json"
    if not index.is_file():
        raise DataError(f"{index}: collection index not found")
    try:
        records = json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{index}: unreadable collection index ({exc})") from exc
    if not isinstance(records, list):
        raise DataError(f"{index}: expected a JSON list of photo records")
    photos = [_photo_from_record(r, root, f"{index}[{i}]") for i, r in enumerate(records)]
    ids = [p.id for p in photos]
    if len(set(ids)) != len(ids):
        raise DataError(f"{index}: duplicate photo ids")
    return photos


def size_dims(p: Photo, size: str) -> tuple[int, int] | None:
    """(width, height) of size ``size`` of ``p``; None if Flickr would not offer it."""
    if size == "o":
        return p.width, p.height
    long_side = max(p.width, p.height)
    if size not in SIZES or SIZES[size] > long_side:
        return None
    scale = SIZES[size] / long_side
    return max(1, round(p.width * scale)), max(1, round(p.height * scale))
