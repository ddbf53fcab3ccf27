"""Metadata of the photo collection (:mod:`.photos`): taken dates, geotag errors, titles, and
the JPEG bytes with EXIF (GPS IFD, DateTimeOriginal).
"""

from __future__ import annotations

import datetime as dt
import io
import math

import cv2
import numpy as np
import piexif

HOURS = {"day": list(range(9, 17)), "dusk": [18, 19], "night": [21, 22, 23, 0, 1, 2, 3, 4]}

TITLES = {
    "day": ("Street view", "Walking around", "City centre", "Sunny afternoon", "Old town",
            "On the way", "Downtown", "Corner"),
    "dusk": ("Evening walk", "Sunset in town", "Blue hour", "Evening", "Going home"),
    "night": ("Night lights", "Night walk", "Late night", "City at night", "After dinner"),
    "indoor": ("Inside", "Coffee break", "Museum", "Lunch", "Hotel", "Shop"),
}  # fmt: skip


def draw_taken(opts: dict, condition: str, rng: np.random.Generator) -> dt.datetime:
    day = dt.datetime.fromisoformat(str(opts["start_date"]))
    day += dt.timedelta(days=int(rng.integers(opts["days"])))
    hours = HOURS[condition]
    hour = hours[int(rng.integers(len(hours)))]
    if hour < 12 and condition == "night":
        day += dt.timedelta(days=1)  # after midnight: the next calendar day
    return day.replace(hour=hour, minute=int(rng.integers(60)), second=int(rng.integers(60)))


def geotag_offset(opts: dict, kind: str, rng: np.random.Generator) -> tuple[float, float]:
    """(east, north) error of the group's geotag in metres: a wrong one (30-200 m by default)
    or GPS noise (doubled indoors)."""
    if rng.random() < opts["geotag_wrong"]:
        d, a = float(rng.uniform(*opts["geotag_wrong_m"])), float(rng.uniform(0.0, 2 * math.pi))
        return d * math.sin(a), d * math.cos(a)
    sigma = opts["gps_sigma_m"] * (2.0 if kind == "indoor" else 1.0)
    e, n = (float(v) for v in rng.normal(0.0, sigma, 2)) if sigma > 0 else (0.0, 0.0)
    return e, n


def draw_title(owner: dict, group: dict, condition: str, taken: dt.datetime, rng) -> str:
    if group["kind"] == "panorama" and owner["phone"]:
        return taken.strftime("PANO_%Y%m%d_%H%M%S")
    if owner["titles"] == "numbered":
        owner["counter"] = (owner["counter"] + int(rng.integers(1, 20))) % 10000
        return f"IMG_{owner['counter']:04d}" if owner["phone"] else f"DSC{owner['counter']:05d}"
    words = TITLES["indoor" if group["kind"] == "indoor" else condition]
    return words[int(rng.integers(len(words)))]


def _dms(value: float) -> tuple:
    """|value| degrees -> EXIF rationals ((d, 1), (m, 1), (s * 10000, 10000))."""
    total = int(round(abs(value) * 3600 * 10000))
    d, rest = divmod(total, 3600 * 10000)
    m, s = divmod(rest, 60 * 10000)
    return ((d, 1), (m, 1), (s, 10000))


def exif_bytes(lat: float, lon: float, taken: dt.datetime, owner: dict, w: int, h: int) -> bytes:
    """EXIF with the standard GPS IFD (rationals, N/S/E/W refs) and DateTimeOriginal."""
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S").encode()
    return piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.Make: owner["make"].encode(),
                piexif.ImageIFD.Model: owner["model"].encode(),
                piexif.ImageIFD.Orientation: 1,
                piexif.ImageIFD.DateTime: stamp,
            },
            "Exif": {
                piexif.ExifIFD.DateTimeOriginal: stamp,
                piexif.ExifIFD.DateTimeDigitized: stamp,
                piexif.ExifIFD.PixelXDimension: w,
                piexif.ExifIFD.PixelYDimension: h,
            },
            "GPS": {
                piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
                piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
                piexif.GPSIFD.GPSLatitude: _dms(lat),
                piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
                piexif.GPSIFD.GPSLongitude: _dms(lon),
                piexif.GPSIFD.GPSMapDatum: b"WGS-84",
            },
        }
    )


def jpeg_with_exif(img: np.ndarray, quality: int, exif: bytes) -> bytes:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError(f"JPEG encoding of a {img.shape} image failed")
    out = io.BytesIO()
    piexif.insert(exif, buf.tobytes(), out)
    return out.getvalue()
