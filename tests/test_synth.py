"""SynthCity: camera model, exact render geometry, determinism, dataset layout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vgrerank.datasets.names import parse_name
from vgrerank.imageio import load_image
from vgrerank.synth import Camera, make_city, render, write_dataset
from vgrerank.synth.city import BUILDING

TINY = {"blocks_x": 1, "blocks_y": 1, "texels_per_m": 12.0}
STILL = {  # no randomness that differs between two views
    "condition": "day",
    "sun_azimuth_deg": 200.0,
    "sun_elevation_deg": 40.0,
    "ambient": 0.35,
    "exposure": 1.0,
    "noise": 0.0,
    "traffic": 0.0,
    "people": 0.0,
    "sky": 0,
    "traffic_seed": 1,
    "window_seed": 1,
}


@pytest.fixture(scope="module")
def city():
    return make_city(TINY, seed=3)


def test_project_hand_computed():
    cam = Camera(0.0, 0.0, 2.0, heading_deg=0.0, width=640, height=480, fov_deg=90.0)
    assert cam.f == pytest.approx(320.0)
    px = cam.project(np.array([[1.0, 10.0, 2.0], [0.0, 10.0, 3.0], [0.0, -5.0, 2.0]]))
    np.testing.assert_allclose(px[0], [319.5 + 32.0, 239.5], atol=1e-9)
    np.testing.assert_allclose(px[1], [319.5, 239.5 - 32.0], atol=1e-9)
    assert np.isnan(px[2]).all()  # behind the camera
    east = Camera(0.0, 0.0, 2.0, heading_deg=90.0)
    np.testing.assert_allclose(east.project(np.array([[10.0, -1.0, 2.0]]))[0], [351.5, 239.5])
    # pitch 10 deg up: a point on the tilted optical axis lands on the principal point, a point
    # at the height of the camera straight ahead lands f*tan(10 deg) below it
    up = Camera(0.0, 0.0, 2.0, heading_deg=0.0, pitch_deg=10.0)
    t = math.tan(math.radians(10))
    np.testing.assert_allclose(up.project(np.array([[0.0, 10.0, 2.0 + 10 * t]]))[0], [319.5, 239.5])
    np.testing.assert_allclose(
        up.project(np.array([[0.0, 10.0, 2.0]]))[0], [319.5, 239.5 + 320 * t]
    )


def _plane_homography(c1: Camera, c2: Camera, n: np.ndarray, d0: float) -> np.ndarray:
    """Homography view 1 -> view 2 induced by the plane n.X = d0 (world)."""
    R1, R2 = c1.R, c2.R
    n1 = R1 @ n
    d1 = d0 - n @ c1.center
    t = R2 @ (c1.center - c2.center)
    return c2.K @ (R2 @ R1.T + np.outer(t, n1) / d1) @ np.linalg.inv(c1.K)


@pytest.mark.parametrize("pitch2", [0.0, 4.0])
def test_two_views_related_by_facade_homography(city, pitch2):
    P = city.layout["pitch"]
    c1 = Camera(P, 18.0, 2.2, heading_deg=80.0, width=320, height=240)
    c2 = Camera(P - 1.0, 21.0, 1.8, heading_deg=70.0, pitch_deg=pitch2, width=320, height=240)
    img1, g1 = render(city, c1, STILL, np.random.default_rng(0), return_geometry=True)
    img2, g2 = render(city, c2, STILL, np.random.default_rng(0), return_geometry=True)
    boxes = g1["boxes"]
    # the largest building face in view 1
    wall = (g1["box"] >= 0) & (g1["face"] >= 0) & (g1["face"] <= 3)
    wall &= boxes.kind[np.maximum(g1["box"], 0)] == BUILDING
    keys = g1["box"][wall].astype(np.int64) * 8 + g1["face"][wall]
    key = np.bincount(keys).argmax()
    box, face = int(key // 8), int(key % 8)
    on = (g1["box"] == box) & (g1["face"] == face)
    interior = on.copy()
    for dy in (-3, 0, 3):
        for dx in (-3, 0, 3):
            interior &= np.roll(np.roll(on, dy, 0), dx, 1)
    interior[:4] = interior[-4:] = False
    interior[:, :4] = interior[:, -4:] = False
    rows, cols = np.nonzero(interior)
    assert len(rows) > 500, "the facade must be well visible in view 1"
    pick = np.random.default_rng(0).choice(len(rows), size=min(400, len(rows)), replace=False)
    rows, cols = rows[pick], cols[pick]
    X = city.face_point(
        boxes,
        np.full(len(rows), box),
        np.full(len(rows), face),
        g1["u"][rows, cols],
        g1["v"][rows, cols],
    )
    # the renderer's surface point under each pixel projects back onto that pixel
    back = c1.project(X)
    assert np.abs(back - np.c_[cols, rows]).max() < 0.75
    # homography from the poses and the facade plane
    n = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]][face] + [0], float)
    H = _plane_homography(c1, c2, n, float(n @ X[0]))
    p1 = np.c_[cols, rows, np.ones(len(rows))]
    p2 = p1 @ H.T
    p2 = p2[:, :2] / p2[:, 2:]
    np.testing.assert_allclose(p2, c2.project(X), atol=1e-3)
    r2, c2i = np.rint(p2[:, 1]).astype(int), np.rint(p2[:, 0]).astype(int)
    ok = (r2 >= 0) & (r2 < 240) & (c2i >= 0) & (c2i < 320)
    assert ok.sum() > 150
    r2, c2i, X, p2 = r2[ok], c2i[ok], X[ok], p2[ok]
    same = (g2["box"][r2, c2i] == box) & (g2["face"][r2, c2i] == face)
    assert same.mean() > 0.8  # only static lamps and trees may occlude it
    r2, c2i, X, p2 = r2[same], c2i[same], X[same], p2[same]
    X2 = city.face_point(
        boxes, np.full(len(r2), box), np.full(len(r2), face), g2["u"][r2, c2i], g2["v"][r2, c2i]
    )
    # view 2 shows, at the pixel H predicts, the facade point of view 1 (in view-2 pixels)
    q2 = c2.project(X2)
    buf_err = np.abs(q2 - np.c_[c2i, r2])  # the buffer is exact at pixel centres (nearest
    assert np.median(buf_err) < 0.01  # texel next to face edges of a pitched, warped view)
    assert buf_err.max() < 0.75
    err_px = np.linalg.norm(q2 - p2, axis=1)  # includes rounding p2 to a pixel (<= 0.71)
    assert err_px.max() < 1.0
    # and the texture agrees: view 1 warped by H matches view 2 on the facade
    import cv2

    warped = cv2.warpPerspective(img1, H, (320, 240)).astype(float)
    shifted = cv2.warpPerspective(
        img1, np.array([[1, 0, 6], [0, 1, 0], [0, 0, 1.0]]) @ H, (320, 240)
    ).astype(float)
    diff = np.abs(warped[r2, c2i] - img2[r2, c2i]).mean()
    diff_shifted = np.abs(shifted[r2, c2i] - img2[r2, c2i]).mean()
    assert diff < 12.0
    assert diff < 0.6 * diff_shifted


def test_determinism(city):
    cam = Camera(10.0, 0.0, 2.5, heading_deg=45.0, pitch_deg=2.0, width=160, height=120)
    cond = {"condition": "night", "ambient": 0.05}
    a = render(city, cam, cond, np.random.default_rng(5))
    again = make_city(TINY, seed=3)
    b = render(again, cam, cond, np.random.default_rng(5))
    assert np.array_equal(a, b)
    other = make_city(TINY, seed=4)
    assert not np.array_equal(other.boxes.xyz, city.boxes.xyz)
    assert not np.array_equal(render(other, cam, cond, np.random.default_rng(5)), a)


def test_write_dataset_tiny(tmp_path):
    conf = {
        **TINY,
        "seed": 1,
        "width": 160,
        "height": 120,
        "db_spacing_m": 12.0,
        "queries": {
            "day": {"condition": "day", "n": 4},
            # the night camera's histogram equalisation and light pools off: the scene is darker
            "night": {
                "condition": "night",
                "n": 4,
                "ambient": 0.03,
                "equalize": 0,
                "light_pools": 0,
            },
        },
    }
    summary = write_dataset(conf, tmp_path, progress=False)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["counts"] == summary["counts"]
    assert meta["intrinsics"]["fx"] == pytest.approx(80.0)
    x0, y0, x1, y1 = meta["utm"]["extent_east_north"]
    means = {}
    for split in ("database", "queries_day", "queries_night"):
        files = sorted((tmp_path / "images" / "test" / split).glob("*.jpg"))
        assert len(files) == meta["counts"][split] > 0
        assert len({f.name for f in files}) == len(files)
        for f in files:
            info = parse_name(f)
            assert info.utm_zone_number == 54 and info.utm_zone_letter == "S"
            assert x0 - 3 <= info.utm_east <= x1 + 3 and y0 - 3 <= info.utm_north <= y1 + 3
            assert 35 < info.latitude < 36 and 139 < info.longitude < 140
        imgs = [load_image(f) for f in files]
        assert imgs[0].shape == (120, 160, 3)
        means[split] = float(np.mean([im.mean() for im in imgs]))
        if split != "database":
            # every query has a database image within 25 m
            db = [parse_name(f) for f in (tmp_path / "images" / "test" / "database").glob("*.jpg")]
            dbxy = np.array([[d.utm_east, d.utm_north] for d in db])
            for f in files:
                q = parse_name(f)
                assert np.min(np.hypot(*(dbxy - [q.utm_east, q.utm_north]).T)) < 25
    assert means["queries_night"] < 0.75 * means["queries_day"]
    assert means["queries_night"] > 10  # dark, not black


def test_bad_conf_names_key():
    from vgrerank.errors import ConfigError

    with pytest.raises(ConfigError, match="db_spacing_m"):
        make_city({"db_spacing_m": -1})
    with pytest.raises(ConfigError, match="queries.x.condition"):
        make_city({"queries": {"x": {"condition": "noon", "n": 1}}})


def test_shadow_window_matches_full_map(city):
    from vgrerank.synth import conditions as cnd

    full = cnd.shadow_map(city, 123.4, 33.0)
    assert (full > 0).any()
    city.cache.clear()
    win = cnd.shadow_window(city, 123.4, 33.0, (10, 90, 20, 70))
    assert np.array_equal(win, full[20:70, 10:90])
