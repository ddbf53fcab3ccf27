"""Local-folder source: photos with EXIF geotags -> ``photos.parquet`` (``source='folder'``).

:func:`scan_folder` reads every image (``.jpg``, ``.jpeg``, ``.png``, ``.tif``, ``.tiff``, any
case) under a folder, recursively (hidden files and folders are skipped), decodes it fully, and
reads its EXIF GPS position (degrees/minutes/seconds rationals with N/S/E/W references) and
``DateTimeOriginal`` (else ``DateTime``). It writes the :data:`.table.PHOTO_COLUMNS` table with
``path`` **relative to the table's folder** (``os.path.relpath``, so it may start with ``..``).
A photo without a usable GPS position ('no GPS in EXIF'; (0, 0), a common "no fix" value, counts
as none; out-of-range values give 'invalid GPS in EXIF') or that does not decode ('corrupt image:
...') is listed with ``keep = False`` and that reason.

Photo ids are the path below the folder without its suffix, with '/' replaced by '__' (so a flat
folder's ids are the file stems); two files differing only by suffix get it appended
('a_png'). :func:`write_exif_gps` embeds a position and a date into an image file (JPEG losslessly
with piexif; PNG/TIFF re-saved by Pillow).
"""

from __future__ import annotations

import io
import logging
import math
import os
from datetime import datetime
from pathlib import Path

import pandas as pd
from PIL import ExifTags, Image

from ..errors import DataError
from ..io import atomic_path
from .table import PHOTO_COLUMNS, write_table

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
_GPS_LAT, _GPS_LAT_REF, _GPS_LON_REF, _GPS_LON = 2, 1, 3, 4  # GPS IFD tags
_MAS = 3_600_000  # milli-arcseconds per degree


# ----------------------------------------------------------------------------- reading


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden entries skipped)."""
    folder = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(dirpath) / name)
    return found


def _to_float(value) -> float:
    """An EXIF rational as float: PIL's IFDRational, a (num, den) pair, or a number."""
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return float(num) / float(den)
    return float(value)


def dms_to_degrees(dms, ref) -> float:
    """Degrees from (degrees, minutes, seconds) rationals and a 'N'/'S'/'E'/'W' reference."""
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    parts = [_to_float(x) for x in (dms if isinstance(dms, tuple | list) else (dms,))]
    parts += [0.0] * (3 - len(parts))
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    return -value if str(ref).strip().upper() in ("S", "W") else value


def gps_position(gps: dict) -> tuple[float, float] | None:
    """(latitude, longitude) from a GPS IFD dict; None when absent. ValueError if malformed or
    out of range."""
    if _GPS_LAT not in gps or _GPS_LON not in gps:
        return None
    try:
        lat = dms_to_degrees(gps[_GPS_LAT], gps.get(_GPS_LAT_REF, "N"))
        lon = dms_to_degrees(gps[_GPS_LON], gps.get(_GPS_LON_REF, "E"))
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"unreadable GPS rationals ({exc})") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise ValueError(f"position out of range ({lat}, {lon})")
    if lat == 0 and lon == 0:
        return None
    return lat, lon


def exif_taken(exif: Image.Exif) -> str:
    """'YYYY-MM-DDTHH:MM:SS' from DateTimeOriginal (else DateTime); '' if absent/unparsable."""
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for value in (sub.get(ExifTags.Base.DateTimeOriginal), exif.get(ExifTags.Base.DateTime)):
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        try:
            return datetime.strptime(str(value).strip("\x00 "), "%Y:%m:%d %H:%M:%S").isoformat()
        except (TypeError, ValueError):
            continue
    return ""


def read_photo(path: Path) -> dict:
    """Decode ``path`` fully and read its EXIF: width, height, latitude, longitude, taken,
    keep, reason."""
    out = {"width": 0, "height": 0, "latitude": math.nan, "longitude": math.nan, "taken": ""}
    try:
        with Image.open(path) as im:
            im.load()
            out["width"], out["height"] = im.size
            exif = im.getexif()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        return {**out, "keep": False, "reason": f"corrupt image: {exc}"}
    out["taken"] = exif_taken(exif)
    try:
        pos = gps_position(dict(exif.get_ifd(ExifTags.IFD.GPSInfo)))
    except ValueError as exc:
        return {**out, "keep": False, "reason": f"invalid GPS in EXIF: {exc}"}
    if pos is None:
        return {**out, "keep": False, "reason": "no GPS in EXIF"}
    out["latitude"], out["longitude"] = pos
    return {**out, "keep": True, "reason": ""}


def photo_ids(files: list[Path], folder: Path) -> list[str]:
    """Unique ids: relative path without suffix, '/' -> '__'; suffix appended on collisions."""
    stems = ["__".join(f.relative_to(folder).with_suffix("").parts) for f in files]
    counts = pd.Series(stems).value_counts()
    return [
        f"{s}_{f.suffix.lower().lstrip('.')}" if counts[s] > 1 else s
        for s, f in zip(stems, files, strict=True)
    ]


def scan_folder(folder: str | os.PathLike, out_table: str | os.PathLike) -> pd.DataFrame:
    """Scan ``folder`` and write the photo table to ``out_table`` (paths relative to its folder);
    returns it. DataError if the folder is missing or holds no image."""
    folder, out_table = Path(folder), Path(out_table)
    if not folder.is_dir():
        raise DataError(f"{folder}: photo folder not found")
    files = list_images(folder)
    if not files:
        raise DataError(
            f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in the photo folder"
        )
    rows = []
    for pid, path in zip(photo_ids(files, folder), files, strict=True):
        info = read_photo(path)
        if not info["keep"]:
            log.info("folder: %s: %s", path, info["reason"])
        rel = os.path.relpath(path.resolve(), out_table.parent.resolve())
        rows.append(
            {"photo_id": pid, "path": rel, "source": "folder", "owner": "", "license": "", **info}
        )
    df = pd.DataFrame(rows, columns=list(PHOTO_COLUMNS))
    write_table(df, out_table)
    log.info("folder: %s: %d images, %d with GPS", folder, len(df), int(df["keep"].sum()))
    return df


# ----------------------------------------------------------------------------- writing


def degrees_to_dms(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """|value| as EXIF (degrees, minutes, seconds) rationals, to 1/1000 arc second."""
    total = round(abs(value) * _MAS)
    deg, rest = divmod(total, _MAS)
    minutes, mas = divmod(rest, 60_000)
    return (deg, 1), (minutes, 1), (mas, 1000)


def _exif_date(taken: datetime | str | None) -> str | None:
    if taken is None or taken == "":
        return None
    if not isinstance(taken, datetime):
        taken = datetime.fromisoformat(str(taken).strip())
    return taken.strftime("%Y:%m:%d %H:%M:%S")


def _gps_ifd(lat: float, lon: float) -> dict:
    return {
        0: (2, 3, 0, 0),  # GPSVersionID
        _GPS_LAT_REF: "N" if lat >= 0 else "S",
        _GPS_LAT: degrees_to_dms(lat),
        _GPS_LON_REF: "E" if lon >= 0 else "W",
        _GPS_LON: degrees_to_dms(lon),
    }


def _jpeg_with_exif(data: bytes, gps: dict, date: str | None) -> bytes:
    import piexif

    try:
        exif = piexif.load(data)
    except Exception:  # no or malformed EXIF: start afresh
        exif = {"0th": {}, "Exif": {}, "GPS": {}, "1st": {}, "thumbnail": None}
    exif["GPS"] = {k: (v.encode() if isinstance(v, str) else v) for k, v in gps.items()}
    if date is not None:
        exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = date.encode()
    buf = io.BytesIO()
    piexif.insert(piexif.dump(exif), data, buf)
    return buf.getvalue()


def _set_ifd(exif: Image.Exif, tag: int, values: dict) -> None:
    ifd = exif.get_ifd(tag)  # existing entries are kept
    ifd.update(values)
    exif[tag] = ifd


def _pil_with_exif(path: Path, gps: dict, date: str | None) -> bytes:
    """Pillow wants float rationals here, and no GPSVersionID (it is not a TIFF BYTE[4] to it)."""
    gps = {
        k: tuple(a / b for a, b in v) if k in (_GPS_LAT, _GPS_LON) else v for k, v in gps.items()
    }
    gps.pop(0, None)
    with Image.open(path) as im:
        im.load()
        exif = im.getexif()
        _set_ifd(exif, ExifTags.IFD.GPSInfo, gps)
        if date is not None:
            _set_ifd(exif, ExifTags.IFD.Exif, {ExifTags.Base.DateTimeOriginal: date})
        buf = io.BytesIO()
        im.save(buf, format=im.format, exif=exif)
    return buf.getvalue()


def write_exif_gps(
    path: str | os.PathLike, lat: float, lon: float, taken: datetime | str | None = None
) -> Path:
    """Embed GPS ``lat``/``lon`` (degrees) and ``taken`` (DateTimeOriginal; a datetime or ISO
    string) into the image at ``path``, atomically. JPEG keeps its pixels (EXIF segment only)."""
    path = Path(path)
    if not (abs(lat) <= 90 and abs(lon) <= 180):
        raise DataError(f"{path}: GPS position ({lat}, {lon}) out of range")
    try:
        date = _exif_date(taken)
    except ValueError:
        raise DataError(f"{path}: taken date {taken!r} is not ISO 8601") from None
    gps = _gps_ifd(lat, lon)
    try:
        data = path.read_bytes()
        if data[:2] == b"\xff\xd8":
            new = _jpeg_with_exif(data, gps, date)
        else:
            new = _pil_with_exif(path, gps, date)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot write EXIF GPS ({exc})") from exc
    with atomic_path(path) as tmp:
        tmp.write_bytes(new)
    return path
