"""Local-folder source: EXIF GPS and date parsing, photos without EXIF, corrupt files, ids,
paths relative to the table, and the writer used by the photo-collection generator."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image, TiffImagePlugin

from vgrerank.builder import folder
from vgrerank.builder.table import PHOTO_COLUMNS, read_table
from vgrerank.errors import DataError


def image(path: Path, seed: int = 0, size=(40, 30)) -> Path:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
    return path


def test_exif_roundtrip_jpg_png_tif_nested(tmp_path):
    photos = tmp_path / "photos"
    spots = {
        "a.jpg": (-33.8688123, 151.2093456, "2023-05-06T21:30:00"),
        "sub/b.png": (48.8566, -2.3522, "2022-12-31T23:59:59"),
        "sub/deeper/c.TIF": (0.5, -0.25, None),
    }
    for i, (name, (lat, lon, taken)) in enumerate(spots.items()):
        folder.write_exif_gps(image(photos / name, seed=i), lat, lon, taken)
    table = tmp_path / "tables" / "photos.parquet"
    df = folder.scan_folder(photos, table).set_index("photo_id")
    assert list(df.index) == ["a", "sub__b", "sub__deeper__c"]
    assert read_table(table, PHOTO_COLUMNS).shape == (3, len(PHOTO_COLUMNS))
    for pid, (lat, lon, taken) in zip(df.index, spots.values(), strict=True):
        row = df.loc[pid]
        assert row["keep"] and row["reason"] == "" and row["source"] == "folder"
        assert math.isclose(row["latitude"], lat, abs_tol=1e-6)
        assert math.isclose(row["longitude"], lon, abs_tol=1e-6)
        assert row["taken"] == (taken or "")
        assert (row["width"], row["height"]) == (40, 30)
        assert (table.parent / row["path"]).resolve().is_file()
        assert row["path"].startswith("../photos/")  # relative to the table's folder


def test_write_exif_gps_keeps_jpeg_pixels_and_validates(tmp_path):
    path = image(tmp_path / "x.jpg")
    before = np.asarray(Image.open(path))
    folder.write_exif_gps(path, 45.5, 7.25, "2023-01-02 03:04:05")
    assert np.array_equal(np.asarray(Image.open(path)), before)
    assert folder.read_photo(path)["taken"] == "2023-01-02T03:04:05"
    with pytest.raises(DataError, match="x.jpg.*out of range"):
        folder.write_exif_gps(path, 91, 0)
    with pytest.raises(DataError, match="not ISO 8601"):
        folder.write_exif_gps(path, 1, 1, "yesterday")


def test_gps_rational_forms():
    ifd_rational = TiffImagePlugin.IFDRational
    dms = (ifd_rational(45, 1), ifd_rational(30, 1), ifd_rational(3600, 100))
    assert math.isclose(folder.dms_to_degrees(dms, b"S"), -(45 + 30 / 60 + 36 / 3600))
    assert folder.dms_to_degrees(((7, 1), (15, 1), (0, 1)), "W") == -7.25
    assert folder.dms_to_degrees((Fraction(91, 2),), "N") == 45.5  # decimal degrees only
    no_refs = {2: ((45, 1), (0, 1), (0, 1)), 4: ((7, 1), (0, 1), (0, 1))}
    assert folder.gps_position(no_refs) == (45.0, 7.0)  # references default to N / E
    assert folder.gps_position({1: "N", 2: (0, 0, 0), 3: "E", 4: (0, 0, 0)}) is None  # no fix
    assert folder.gps_position({1: "N"}) is None
    with pytest.raises(ValueError, match="out of range"):
        folder.gps_position({2: (95, 0, 0), 4: (7, 0, 0)})
    with pytest.raises(ValueError, match="unreadable"):
        folder.gps_position({2: ((1, 0), (0, 1), (0, 1)), 4: (7, 0, 0)})
    assert folder.degrees_to_dms(7.999999999) == ((8, 1), (0, 1), (0, 1000))


def test_no_exif_no_gps_corrupt_and_skipped_files(tmp_path):
    photos = tmp_path / "photos"
    image(photos / "plain.jpg")  # no EXIF at all
    dated = image(photos / "dated.jpg", seed=1)  # EXIF date but no GPS
    exif = {"Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:07:08 22:00:00"}}
    piexif.insert(piexif.dump(exif), str(dated))
    good = folder.write_exif_gps(image(photos / "good.jpg", seed=2), 10, 20)
    data = good.read_bytes()
    (photos / "cut.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG (with GPS)
    (photos / "text.jpeg").write_text("not an image")
    (photos / "notes.txt").write_text("ignored")
    image(photos / ".hidden.jpg")
    image(photos / ".cache" / "h.jpg")
    df = folder.scan_folder(photos, photos / "photos.csv").set_index("photo_id")
    assert sorted(df.index) == ["cut", "dated", "good", "plain", "text"]
    assert df.loc["good", "keep"] and not df.loc[["cut", "dated", "plain", "text"], "keep"].any()
    assert df.loc["plain", "reason"] == df.loc["dated", "reason"] == "no GPS in EXIF"
    assert df.loc["dated", "taken"] == "2021-07-08T22:00:00"
    assert math.isnan(df.loc["plain", "latitude"])
    for pid in ("cut", "text"):
        assert df.loc[pid, "reason"].startswith("corrupt image: ")
        assert df.loc[pid, "width"] == 0
    assert df.loc["good", "path"] == "good.jpg"


def test_ids_unique_when_only_the_suffix_differs(tmp_path):
    for name in ("a.jpg", "a.png", "b.jpeg"):
        folder.write_exif_gps(image(tmp_path / "p" / name), 1.0, 2.0)
    df = folder.scan_folder(tmp_path / "p", tmp_path / "photos.parquet")
    assert sorted(df["photo_id"]) == ["a_jpg", "a_png", "b"]


def test_empty_or_missing_folder_is_a_dataerror(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "readme.txt").write_text("no photos")
    for name in ("empty", "texts"):
        with pytest.raises(DataError, match=f"{name}: no images"):
            folder.scan_folder(tmp_path / name, tmp_path / "photos.parquet")
    with pytest.raises(DataError, match="missing: photo folder not found"):
        folder.scan_folder(tmp_path / "missing", tmp_path / "photos.parquet")
    assert not (tmp_path / "photos.parquet").exists()
