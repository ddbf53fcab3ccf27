"""Query-set builder filter and report stages: near-duplicates, database-positive check,
choropleth and funnel, on small synthetic inputs with exact expected values."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pandas as pd
import pytest
import utm

from vgrerank.builder.choropleth import choropleth, count_queries
from vgrerank.builder.dedup import (
    DedupConfig,
    dedup_table,
    haversine_m,
    score_grouping,
    write_clusters,
)
from vgrerank.builder.funnel import (
    funnel_markdown,
    funnel_table,
    stage_summary,
    write_funnel_csv,
    write_funnel_markdown,
)
from vgrerank.builder.geotag import NO_GEOTAG, database_zone, geotag_table
from vgrerank.builder.table import write_table
from vgrerank.datasets.base import ImageSet
from vgrerank.datasets.names import ImageInfo, format_name
from vgrerank.errors import ConfigError, DataError

LAT0, LON0 = 45.07, 7.68
M_LAT = 1 / 111_195.0  # degrees of latitude per metre (approximately)


# --- dedup ----------------------------------------------------------------------------------


def _scene(seed: int, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    for _ in range(12):
        x, y = rng.integers(0, size, 2)
        w, h = rng.integers(15, 60, 2)
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), col, -1)
    for _ in range(6):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(img, centre, int(rng.integers(5, 30)), col, -1)
    return img


def _images() -> dict[str, np.ndarray]:
    base = _scene(1)
    return {
        "101": cv2.GaussianBlur(base, (0, 0), 2.0),  # blurred copy
        "102": np.clip(base.astype(int) + 25, 0, 255).astype(np.uint8),  # brightened
        "103": cv2.resize(base[4:, 5:], (160, 160), interpolation=cv2.INTER_LINEAR),  # shifted
        "104": base,  # the sharpest of the burst
        "105": base.copy(),  # same picture, 200 m away
        "201": _scene(2),
        "202": _scene(3),
        "203": _scene(4),
    }


@pytest.fixture(scope="module")
def burst(tmp_path_factory):
    root = tmp_path_factory.mktemp("burst")
    offsets_m = {
        "101": (0, 0),
        "102": (3, 1),
        "103": (5, -2),
        "104": (1, 4),
        "105": (200, 0),
        "201": (2, 2),
        "202": (-4, 3),
        "203": (6, 6),
    }
    rows = []
    for pid, img in _images().items():
        cv2.imwrite(str(root / f"{pid}.png"), img)
        north, east = offsets_m[pid]
        rows.append(
            {
                "photo_id": pid,
                "path": f"{pid}.png",
                "latitude": LAT0 + north * M_LAT,
                "longitude": LON0 + east * M_LAT / math.cos(math.radians(LAT0)),
                "taken": f"2024-01-05T21:00:{int(pid) % 60:02d}",
            }
        )
    return root, pd.DataFrame(rows)


def test_dedup_clusters_and_sharpest(burst):
    root, rows = burst
    out = dedup_table(rows, root)
    assert out["photo_id"].tolist() == ["101", "102", "103", "104", "105", "201", "202", "203"]
    assert out["cluster"].tolist() == [0, 0, 0, 0, 1, 2, 3, 4]
    assert out["cluster_size"].tolist() == [4, 4, 4, 4, 1, 1, 1, 1]
    assert out["keep"].tolist() == [False, False, False, True, True, True, True, True]
    assert out["reason"].tolist()[:4] == ["near-duplicate of 104"] * 3 + [""]
    sharp = dict(zip(out["photo_id"], out["sharpness"], strict=True))
    assert sharp["104"] > sharp["102"] > sharp["103"] > sharp["101"]
    assert sharp["104"] == sharp["105"]  # identical pixels
    ph = dict(zip(out["photo_id"], out["phash"], strict=True))
    assert ph["104"] == ph["105"] and ph["104"] != ph["201"] and len(ph["104"]) == 16


def test_dedup_thresholds_change_the_clusters(burst):
    root, rows = burst
    # without the place gate the far copy joins; equal sharpness -> the smaller id is kept
    out = dedup_table(rows, root, config=DedupConfig(max_distance_m=None))
    assert out["cluster"].tolist() == [0, 0, 0, 0, 0, 1, 2, 3]
    assert out.loc[out["keep"], "photo_id"].tolist() == ["104", "201", "202", "203"]
    assert out.loc[out["photo_id"] == "105", "reason"].item() == "near-duplicate of 104"
    # the shifted copy is 6 bits away in phash: a bound of 5 leaves it alone
    out = dedup_table(rows, root, config=DedupConfig(max_hash_distance=5))
    assert out["cluster"].tolist() == [0, 0, 1, 0, 2, 3, 4, 5]
    # time gate: the burst photos were taken 1 s apart, so a 0.5 s bound splits them all
    out = dedup_table(rows, root, config=DedupConfig(max_time_s=0.5))
    assert out["cluster"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_dedup_descriptor_similarity(burst):
    root, rows = burst
    desc = np.eye(8, 16)
    desc[6] = 0.95 * desc[5] + math.sqrt(1 - 0.95**2) * np.eye(16)[15]  # 202 ~ 201, cos 0.95
    out = dedup_table(rows, root, descriptors=desc)
    assert out["cluster"].tolist() == [0, 0, 0, 0, 1, 2, 2, 3]
    kept_201 = out.loc[out["photo_id"] == "201", "sharpness"].item()
    kept_202 = out.loc[out["photo_id"] == "202", "sharpness"].item()
    winner = "201" if kept_201 > kept_202 else "202"
    assert out.loc[out["cluster"] == 2, "keep"].tolist() == [winner == "201", winner == "202"]
    out = dedup_table(rows, root, descriptors=desc, config=DedupConfig(min_similarity=0.96))
    assert out["cluster"].tolist() == [0, 0, 0, 0, 1, 2, 3, 4]
    with pytest.raises(DataError, match=r"shape \(3, 16\)"):
        dedup_table(rows, root, descriptors=desc[:3])


def test_dedup_config_and_missing_image(burst, tmp_path):
    root, rows = burst
    with pytest.raises(ConfigError, match="hash_kind"):
        DedupConfig(hash_kind="ahash")
    with pytest.raises(ConfigError, match="both disabled"):
        DedupConfig(max_hash_distance=None, min_similarity=None)
    with pytest.raises(DataError, match="nope.png"):
        dedup_table(rows.assign(path="nope.png").iloc[:1], root)


def test_write_clusters(burst, tmp_path):
    root, rows = burst
    out = dedup_table(rows, root)
    path = write_clusters(out, tmp_path / "clusters.csv")
    assert path.read_text() == "cluster,size,photo_ids,kept\n0,4,101 102 103 104,104\n"


def test_score_grouping_known_cases():
    s = score_grouping([["a", "b", "c"], ["d"]], [["a", "b"], ["c", "d"]])
    assert (s["pred_pairs"], s["true_pairs"], s["common_pairs"]) == (3, 2, 1)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(1 / 2)
    assert s["f1"] == pytest.approx(0.4)
    same = score_grouping({"a": 7, "b": 7, "c": 1}, [["b", "a"], ["c"]])
    assert (same["precision"], same["recall"], same["f1"]) == (1.0, 1.0, 1.0)
    # 'e' and 'f' are absent from the prediction: singletons there, so the true pair is missed
    miss = score_grouping(pd.Series({"a": 0, "b": 0}), [["a", "b"], ["e", "f"]])
    assert (miss["precision"], miss["recall"]) == (1.0, 0.5)
    none = score_grouping([["a"], ["b"]], {"a": 1, "b": 2})
    assert (none["precision"], none["recall"], none["f1"]) == (1.0, 1.0, 1.0)
    with pytest.raises(DataError, match="more than one group"):
        score_grouping([["a", "b"], ["b"]], [])


def test_haversine_metre():
    assert haversine_m(LAT0, LON0, LAT0 + 1 / 111_195.0, LON0) == pytest.approx(1.0, abs=0.01)


# --- geotag ---------------------------------------------------------------------------------

E0, N0 = 396_000.0, 4_990_000.0  # zone 32T (Turin)


def _database(zone=(32, "T")) -> ImageSet:
    pos = [(E0, N0), (E0 + 100.0, N0), (E0 + 1000.0, N0 + 1000.0)]
    names = []
    for e, n in pos:
        lat, lon = utm.to_latlon(e, n, *zone)
        info = ImageInfo(e, n, zone[0], zone[1], float(lat), float(lon))
        names.append("db/" + format_name(info))
    return ImageSet(names, np.array(pos))


def test_geotag_exact_distances_and_boundary():
    db = _database()
    rows = pd.DataFrame(
        {
            "photo_id": ["a", "b", "c", "d", "e"],
            "utm_east": [E0 + 3.0, E0, E0, E0 - 41.2, E0 + 90.0],
            "utm_north": [N0 + 4.0, N0 + 25.0, N0 + 25.01, N0, N0],
        }
    )
    out = geotag_table(rows, db)
    assert list(out.columns) == [
        "photo_id",
        "utm_east",
        "utm_north",
        "nearest_db",
        "dist_m",
        "keep",
        "reason",
    ]
    assert out["dist_m"].tolist()[:2] == [5.0, 25.0]
    assert out["keep"].tolist() == [True, True, False, False, True]
    assert out["nearest_db"].tolist() == [db.names[0]] * 4 + [db.names[1]]
    assert out["reason"].tolist()[2:4] == [
        "no database image within 25 m (nearest 25.0 m)",
        "no database image within 25 m (nearest 41.2 m)",
    ]
    strict = geotag_table(rows, db, threshold_m=5.0)
    assert strict["keep"].tolist() == [True, False, False, False, False]


def test_geotag_latlon_nan_and_zone_from_names():
    db = _database()
    assert database_zone(db.names) == (32, "T")
    lat, lon = utm.to_latlon(E0 + 3.0, N0 + 4.0, 32, "T")
    rows = pd.DataFrame(
        {"photo_id": ["p", "q"], "latitude": [lat, np.nan], "longitude": [lon, LON0]}
    )
    out = geotag_table(rows, db)
    assert out["dist_m"][0] == pytest.approx(5.0, abs=1e-3)
    assert out["utm_east"][0] == pytest.approx(E0 + 3.0, abs=1e-3)
    assert out["keep"].tolist() == [True, False]
    assert out["reason"][1] == NO_GEOTAG
    assert out["nearest_db"][1] == "" and math.isnan(out["dist_m"][1])
    plain = ImageSet(["a.jpg"], np.array([[E0, N0]]))
    assert database_zone(plain.names) is None
    with pytest.raises(DataError, match="zone"):
        geotag_table(rows, plain)
    assert geotag_table(rows, plain, zone=(32, "T"))["keep"].tolist() == [True, False]


def test_geotag_photo_in_another_zone():
    # database just east of the 6 degree meridian (zone 32), photo just west of it (zone 31)
    lat = 45.0
    e, n, zn, zl = utm.from_latlon(lat, 6.0001)
    assert (zn, zl) == (32, "T") and utm.from_latlon(lat, 5.9999)[2] == 31
    db = ImageSet(["db.jpg"], np.array([[e, n]]))
    rows = pd.DataFrame({"photo_id": ["x"], "latitude": [lat], "longitude": [5.9999]})
    out = geotag_table(rows, db, zone=(32, "T"))
    truth = haversine_m(lat, 5.9999, lat, 6.0001)
    assert truth == pytest.approx(15.72, abs=0.01)
    assert out["dist_m"][0] == pytest.approx(truth, abs=0.05)
    assert bool(out["keep"][0])


# --- choropleth -----------------------------------------------------------------------------


def _square(lon0: float, lon1: float, lat0: float, lat1: float) -> list:
    return [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]


def _geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(geometry_type, coordinates, name):
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": geometry_type, "coordinates": coordinates},
    }


@pytest.fixture
def squares(tmp_path):
    features = [
        _feature("Polygon", _square(7.60, 7.61, 45.00, 45.01), "west"),
        _feature("Polygon", _square(7.61, 7.62, 45.00, 45.01), "east"),
    ]
    return _geojson(tmp_path / "quarters.geojson", features)


def _points() -> pd.DataFrame:
    lon = [7.601, 7.605, 7.609, 7.61, 7.615, 7.619, 7.63, 7.59, 7.60]
    lat = [45.001, 45.005, 45.009, 45.005, 45.005, 45.002, 45.005, 45.005, np.nan]
    return pd.DataFrame(
        {"photo_id": [str(k) for k in range(len(lon))], "latitude": lat, "longitude": lon}
    )


def test_choropleth_polygons(squares, tmp_path):
    res = choropleth(_points(), tmp_path / "map.png", tmp_path / "counts.csv", geojson=squares)
    # the point on the shared border (7.61) counts for the first polygon
    assert res.counts.to_dict("list") == {
        "region": [0, 1, -1, -2],
        "name": ["west", "east", "outside", "no position"],
        "count": [4, 2, 2, 1],
    }
    assert (res.outside, res.no_position) == (2, 1)
    assert (tmp_path / "counts.csv").read_text().splitlines() == [
        "region,name,count",
        "0,west,4",
        "1,east,2",
        "-1,outside,2",
        "-2,no position,1",
    ]
    png = (tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    choropleth(_points(), tmp_path / "again.png", geojson=squares)
    assert (tmp_path / "again.png").read_bytes() == png
    assert not list(tmp_path.glob(".tmp-*"))


def test_choropleth_bad_geojson(tmp_path):
    points = _geojson(
        tmp_path / "points.geojson",
        [_feature("Point", [7.6, 45.0], "a"), _feature("Point", [7.7, 45.1], "b")],
    )
    with pytest.raises(DataError, match=r"points\.geojson.*no Polygon.*Point"):
        count_queries(_points(), points)
    broken = tmp_path / "broken.geojson"
    broken.write_text("{ not json")
    with pytest.raises(DataError, match=r"broken\.geojson: unreadable"):
        count_queries(_points(), broken)
    with pytest.raises(DataError, match=r"absent\.geojson: polygon file not found"):
        count_queries(_points(), tmp_path / "absent.geojson")


def test_choropleth_grid(tmp_path):
    utm_pts = [
        (396_100, 4_990_100),
        (396_200, 4_990_300),
        (396_600, 4_990_100),
        (396_100, 4_990_700),
    ]
    latlon = [utm.to_latlon(e, n, 32, "T") for e, n in utm_pts]
    rows = pd.DataFrame({"latitude": [a for a, _ in latlon], "longitude": [b for _, b in latlon]})
    res = choropleth(rows, tmp_path / "grid.png", tmp_path / "grid.csv", cell_m=500.0)
    assert res.counts["count"].tolist() == [2, 1, 1, 0, 0, 0]
    assert res.counts["name"].tolist()[:2] == [
        "396000E 4990000N (EPSG:32632)",
        "396500E 4990000N (EPSG:32632)",
    ]
    assert len(res.regions) == 4 and res.regions.crs.to_epsg() == 4326
    assert (tmp_path / "grid.png").stat().st_size > 0
    coarse = count_queries(rows, cell_m=2000.0)
    assert coarse.counts["count"].tolist() == [4, 0, 0]


# --- funnel ---------------------------------------------------------------------------------


def _stage(ids, dropped):
    ids = [str(i) for i in ids]
    keep = [i not in {str(d) for d in dropped} for i in ids]
    return pd.DataFrame({"photo_id": ids, "keep": keep, "reason": ["" if k else "x" for k in keep]})


def _funnel_stages():
    return [
        ("photos", _stage(range(1, 11), {9, 10})),
        ("indoor", _stage(range(1, 9), {1})),
        ("day", _stage(range(1, 11), {2, 3})),  # lists all photos; 9, 10 kept but never reached
        ("duplicates", _stage(range(4, 9), {4})),
        ("no-positive", _stage(range(5, 9), {5})),
    ]


def test_funnel_counts_and_writers(tmp_path):
    summary = stage_summary(_funnel_stages())
    assert summary.to_dict("list") == {
        "stage": ["photos", "indoor", "day", "duplicates", "no-positive"],
        "reached": [10, 8, 7, 5, 4],
        "dropped": [2, 1, 2, 1, 1],
        "passed": [8, 7, 5, 4, 3],
    }
    funnel = funnel_table(_funnel_stages())
    assert funnel["step"].tolist() == [
        "found",
        "downloaded",
        "failed",
        "indoor dropped",
        "day dropped",
        "duplicates dropped",
        "no-positive dropped",
        "kept",
    ]
    assert funnel["count"].tolist() == [10, 8, 2, 1, 2, 1, 1, 3]
    assert funnel["percent"].tolist() == [100.0, 80.0, 20.0, 10.0, 20.0, 10.0, 10.0, 30.0]
    md = funnel_markdown(funnel)
    assert md.splitlines()[:4] == [
        "| step | count | % of found |",
        "|:--|--:|--:|",
        "| found | 10 | 100.0 |",
        "| downloaded | 8 | 80.0 |",
    ]
    assert write_funnel_markdown(funnel, tmp_path / "funnel.md").read_text() == md
    csv = write_funnel_csv(funnel, tmp_path / "funnel.csv").read_text().splitlines()
    assert csv[0] == "step,count,percent" and csv[-1] == "kept,3,30.0"


def test_funnel_from_files_and_missing_rows(tmp_path):
    paths = []
    for k, (name, df) in enumerate(_funnel_stages()):
        suffix = ".csv" if k % 2 else ".parquet"
        paths.append((name, write_table(df, tmp_path / f"{name}{suffix}")))
    assert funnel_table(dict(paths))["count"].tolist() == [10, 8, 2, 1, 2, 1, 1, 3]
    stages = _funnel_stages()
    stages[3] = ("duplicates", _stage([4, 6, 7, 8], {4}))  # photo 5 reached it but is absent
    write_table(stages[3][1], tmp_path / "dups.csv")
    stages[3] = ("duplicates", tmp_path / "dups.csv")
    with pytest.raises(DataError, match=r"dups\.csv.*1 photo\(s\).*\['5'\]"):
        funnel_table(stages)
    with pytest.raises(DataError, match="no stage tables"):
        funnel_table([])
