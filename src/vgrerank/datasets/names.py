"""The ``@``-separated image file names of the public VG dataset tools.

``@ UTM_east @ UTM_north @ UTM_zone_number @ UTM_zone_letter @ latitude @ longitude @ pano_id @
tile_num @ heading @ pitch @ roll @ height @ timestamp @ note @ extension``

Empty fields are allowed; only the UTM coordinates are required. Example (SF-XL)::

    @0544388.51@4172758.25@10@S@037.70098@-122.49646@kPnABhWJ1kA61eMNPLs1vQ@@210@@@@201606@@.jpg
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from ..errors import DataError

FIELDS = (
    "utm_east",
    "utm_north",
    "utm_zone_number",
    "utm_zone_letter",
    "latitude",
    "longitude",
    "pano_id",
    "tile_num",
    "heading",
    "pitch",
    "roll",
    "height",
    "timestamp",
    "note",
)


@dataclass(frozen=True)
class ImageInfo:
    utm_east: float
    utm_north: float
    utm_zone_number: int | None = None
    utm_zone_letter: str = ""
    latitude: float | None = None
    longitude: float | None = None
    pano_id: str = ""
    tile_num: str = ""
    heading: float | None = None
    pitch: float | None = None
    roll: float | None = None
    height: float | None = None
    timestamp: str = ""
    note: str = ""
    extension: str = ".jpg"


def _num(text: str, key: str, name: str) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{name}: field {key}={text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{name}: field {key}={text!r} is not finite")
    return value


def parse_name(path: str | os.PathLike) -> ImageInfo:
    """Parse an ``@``-separated VG file name (a path is fine; only its base name is parsed).

    Errors name the path as given, folders included (pass the full or root-relative path so a
    bad file can be found)."""
    label = os.fspath(path)
    name = os.path.basename(label)
    parts = name.split("@")
    if len(parts) != len(FIELDS) + 2 or parts[0] != "":
        raise DataError(
            f"{label}: not a VG '@' file name: expected {len(FIELDS) + 1} '@'-separated fields "
            f"'@east@north@zone@letter@lat@lon@pano@tile@heading@pitch@roll@height@time@note@.ext', "
            f"found {len(parts) - 1}"
        )
    raw = dict(zip(FIELDS, parts[1:-1], strict=True))
    name = label  # errors below name the path as given
    east = _num(raw["utm_east"], "utm_east", name)
    north = _num(raw["utm_north"], "utm_north", name)
    if east is None or north is None:
        raise DataError(f"{name}: UTM east/north fields are required but empty")
    zone = _num(raw["utm_zone_number"], "utm_zone_number", name)
    return ImageInfo(
        utm_east=east,
        utm_north=north,
        utm_zone_number=None if zone is None else int(zone),
        utm_zone_letter=raw["utm_zone_letter"],
        latitude=_num(raw["latitude"], "latitude", name),
        longitude=_num(raw["longitude"], "longitude", name),
        pano_id=raw["pano_id"],
        tile_num=raw["tile_num"],
        heading=_num(raw["heading"], "heading", name),
        pitch=_num(raw["pitch"], "pitch", name),
        roll=_num(raw["roll"], "roll", name),
        height=_num(raw["height"], "height", name),
        timestamp=raw["timestamp"],
        note=raw["note"],
        extension=parts[-1],
    )


def _fmt(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def format_name(info: ImageInfo) -> str:
    """Inverse of :func:`parse_name` (UTM with 2 decimals, lat/lon with 5, as SF-XL)."""
    for f in fields(info):
        v = getattr(info, f.name)
        if isinstance(v, str) and "@" in v:
            raise ValueError(f"field {f.name}={v!r} must not contain '@'")
    values = [
        _fmt(info.utm_east, "010.2f"),
        _fmt(info.utm_north, "010.2f"),
        "" if info.utm_zone_number is None else str(info.utm_zone_number),
        info.utm_zone_letter,
        _fmt(info.latitude, "09.5f"),
        _fmt(info.longitude, "010.5f"),
        info.pano_id,
        info.tile_num,
        _fmt(info.heading, "g"),
        _fmt(info.pitch, "g"),
        _fmt(info.roll, "g"),
        _fmt(info.height, "g"),
        info.timestamp,
        info.note,
    ]
    return "@" + "@".join(values) + "@" + info.extension
