"""SynthCity photo collections (synth.photos), indoor rendering (synth.indoor) and the
neighbourhood GeoJSON (synth.neighbourhoods)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np
import piexif
import pytest
import utm

from vgrerank.errors import ConfigError
from vgrerank.synth import conditions as cnd
from vgrerank.synth.city import City, _layout
from vgrerank.synth.config import resolve_conf
from vgrerank.synth.indoor import half_indoor, indoor_image, make_room, render_room
from vgrerank.synth.neighbourhoods import write_neighbourhoods
from vgrerank.synth.photos import write_collection
from vgrerank.synth.writer import database_poses

N = 30
CONF = {
    "blocks_x": 1,
    "blocks_y": 1,
    "texels_per_m": 12.0,
    "seed": 3,
    "photos": {
        "long_side": 240,
        "indoor": 0.15,
        "half_indoor": 0.15,
        "panorama": 0.1,
        "burst": 0.3,
    },
}
SKY_TOP, SKY_HORIZON = np.array([70, 120, 200.0]), np.array([185, 205, 225.0])


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photos")
    write_collection(CONF, out, n=N, seed=1, progress=False)
    return out


@pytest.fixture(scope="module")
def table(collection):
    photos = json.loads((collection / "photos.json").read_text())
    with open(collection / "truth.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    return photos, truth


def _md5s(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_collection_is_deterministic(collection, tmp_path):
    write_collection(CONF, tmp_path, n=N, seed=1, progress=False)
    a, b = _md5s(collection), _md5s(tmp_path)
    assert len(a) == N + 3  # images, photos.json, truth.csv, collection.json
    assert a == b


def test_photos_and_truth_agree(collection, table):
    photos, truth = table
    assert [p["id"] for p in photos] == [t["id"] for t in truth]
    assert len({p["id"] for p in photos}) == N
    summary = json.loads((collection / "collection.json").read_text())
    assert summary["n"] == N and summary["seed"] == 1
    hours = {"day": range(9, 17), "dusk": (18, 19), "night": (21, 22, 23, 0, 1, 2, 3, 4)}
    for p, t in zip(photos, truth, strict=True):
        assert p["id"].isdigit() and len(p["id"]) == 10
        assert p["file"] == f"img/{p['id']}.jpg" and p["accuracy"] == 16
        assert 0 <= p["license"] <= 10 and p["owner"] and p["ownername"] and p["title"]
        img = cv2.imread(str(collection / p["file"]))
        assert img.shape[:2] == (p["height"], p["width"])
        assert int(p["datetaken"][11:13]) in hours[t["condition"]]
        if t["panoramic"] == "True":
            assert (p["width"], p["height"]) == (540, 180)
        else:
            assert (p["width"], p["height"]) in ((240, 180), (180, 240))
    kinds = {t["kind"] for t in truth}
    assert kinds == {"street", "panorama", "half_indoor", "indoor"}
    assert {t["condition"] for t in truth} == {"day", "dusk", "night"}


def test_bursts_share_a_spot(table):
    photos, truth = table
    bursts: dict = {}
    for p, t in zip(photos, truth, strict=True):
        if int(t["burst"]) >= 0:
            bursts.setdefault(t["burst"], []).append((p, t))
    assert bursts
    for shots in bursts.values():
        assert 3 <= len(shots) <= 6
        xy = np.array([[float(t["true_x"]), float(t["true_y"])] for _, t in shots])
        assert np.abs(xy - xy[0]).max() < 1.0
        dh = [
            (float(t["heading"]) - float(shots[0][1]["heading"]) + 180) % 360 - 180
            for _, t in shots
        ]
        assert max(abs(d) for d in dh) < 10.0
        assert len({p["owner"] for p, _ in shots}) == 1
        assert len({t["condition"] for _, t in shots}) == 1


def test_geotag_errors(table):
    photos, truth = table
    wrong = 0
    for p, t in zip(photos, truth, strict=True):
        err = float(t["geotag_error_m"])
        assert err < 15.0 or 30.0 <= err <= 200.0
        wrong += err >= 30.0
        east, north, _, _ = utm.from_latlon(p["latitude"], p["longitude"], 54, "S")
        d = math.hypot(east - float(t["true_east"]), north - float(t["true_north"]))
        assert d == pytest.approx(err, abs=0.3)
        lat, lon = utm.to_latlon(float(t["true_east"]), float(t["true_north"]), 54, "S")
        assert (lat, lon) == pytest.approx((float(t["true_lat"]), float(t["true_lon"])), abs=1e-7)
    assert wrong >= 1


def _exif_deg(dms, ref: bytes) -> float:
    d, m, s = (a / b for a, b in dms)
    return (d + m / 60 + s / 3600) * (-1 if ref in (b"S", b"W") else 1)


def test_exif_gps_round_trips(collection, table):
    photos, _ = table
    for p in photos:
        ex = piexif.load(str(collection / p["file"]))
        gps = ex["GPS"]
        lat = _exif_deg(gps[piexif.GPSIFD.GPSLatitude], gps[piexif.GPSIFD.GPSLatitudeRef])
        lon = _exif_deg(gps[piexif.GPSIFD.GPSLongitude], gps[piexif.GPSIFD.GPSLongitudeRef])
        assert abs(lat - p["latitude"]) < 1e-5 and abs(lon - p["longitude"]) < 1e-5
        stamp = ex["Exif"][piexif.ExifIFD.DateTimeOriginal].decode()
        assert stamp == p["datetaken"].replace("-", ":")


def _sky_fraction(img: np.ndarray) -> float:
    """Share of the top quarter whose colour lies on SynthCity's day sky gradient."""
    top = img[: img.shape[0] // 4, :, ::-1].reshape(-1, 3).astype(float)
    d = SKY_HORIZON - SKY_TOP
    t = np.clip((top - SKY_TOP) @ d / (d @ d), 0, 1)
    return float((np.abs(top - (SKY_TOP + t[:, None] * d)).max(axis=1) < 14).mean())


def test_indoor_photos_look_different(collection, table):
    photos, truth = table
    sky = {"street": [], "indoor": []}
    for p, t in zip(photos, truth, strict=True):
        level = int(t["indoor_level"])
        expect = {"indoor": (9, 9), "half_indoor": (1, 8)}.get(t["kind"], (0, 0))
        assert expect[0] <= level <= expect[1]
        if t["condition"] == "day" and t["kind"] in ("street", "indoor"):
            sky[t["kind"]].append(_sky_fraction(cv2.imread(str(collection / p["file"]))))
    assert sky["indoor"] and max(sky["indoor"]) < 0.01  # no sky pixels in rooms
    assert max(sky["street"]) > 0.1


def test_rooms_and_half_indoor_frames():
    rng = np.random.default_rng(4)
    cond = cnd.resolve({"condition": "night"}, rng, {"day": 4, "dusk": 2, "night": 1})
    img, frac = indoor_image(cond, rng, width=160, height=120, fov_deg=65.0)
    assert img.shape == (120, 160, 3) and frac == 1.0 and img.std() > 3
    street = np.full((120, 160, 3), (90, 140, 210), np.uint8)
    framed, frac = half_indoor(street, cond, rng, fov_deg=65.0)
    inside = np.abs(framed.astype(int) - street).max(axis=2) > 0
    assert 0.15 <= frac <= 0.85 and inside.mean() == pytest.approx(frac, abs=0.1)
    room = make_room(np.random.default_rng(9), opening="arcade")
    a = render_room(room, cond, np.random.default_rng(1), width=96, height=64, fov_deg=60.0)
    b = render_room(room, cond, np.random.default_rng(1), width=96, height=64, fov_deg=60.0)
    assert np.array_equal(a[0], b[0]) and a[1].any()


def test_photo_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="photos.burst"):
        write_collection({**CONF, "photos": {"burst": 1.5}}, tmp_path, n=2, seed=0)
    with pytest.raises(ConfigError, match="unknown"):
        write_collection({"photos": {"bursts": 0.1}}, tmp_path, n=2, seed=0)
    assert not (tmp_path / "collection.json").exists()


def _inside(lon: float, lat: float, ring: list) -> bool:
    """Even-odd ray casting."""
    hit = False
    for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
        if (y0 > lat) != (y1 > lat) and lon < x0 + (lat - y0) * (x1 - x0) / (y1 - y0):
            hit = not hit
    return hit


@pytest.mark.parametrize("per", [1, 2])
def test_neighbourhoods_cover_the_database(tmp_path, per):
    conf = resolve_conf({"blocks_x": 3, "blocks_y": 2})
    fc = write_neighbourhoods(conf, tmp_path / "nb.geojson", per)
    assert json.loads((tmp_path / "nb.geojson").read_text()) == fc
    assert len(fc["features"]) == math.ceil(3 / per) * math.ceil(2 / per)
    rings = [f["geometry"]["coordinates"][0] for f in fc["features"]]
    # database_poses needs only the conf and the street network of the layout
    city = City.__new__(City)
    city.conf, city.layout = conf, _layout(conf)
    for x, y, _ in database_poses(city)[:: conf["db_headings"]]:
        lat, lon = utm.to_latlon(conf["utm_origin_east"] + x, conf["utm_origin_north"] + y, 54, "S")
        assert sum(_inside(lon, lat, r) for r in rings) == 1
