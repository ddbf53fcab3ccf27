"""The builder's own glue: query-set writer, database bbox, truth scoring, indoor keep rule,
training label folders and the fetch stage's fake-server lifetime."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vgrerank.builder.bbox import database_bbox, database_zone
from vgrerank.builder.fetch import fake_flickr
from vgrerank.builder.filters import indoor_keep
from vgrerank.builder.queryset import query_name, write_queryset
from vgrerank.builder.trainset import label_folders
from vgrerank.builder.truth import binary_scores, position_error_m, score_final
from vgrerank.datasets.base import ImageSet
from vgrerank.datasets.names import parse_name
from vgrerank.errors import ConfigError, DataError

ZONE = (54, "S")
DB_NAMES = [
    "@0380000.00@3950000.00@54@S@35.68000@139.68000@@@0@@@@@@.jpg",
    "@0380100.00@3950200.00@54@S@35.68100@139.68100@@@0@@@@@@.jpg",
]


def _db():
    return ImageSet(DB_NAMES, np.array([[380000.0, 3950000.0], [380100.0, 3950200.0]]))


def test_bbox_and_zone():
    db = _db()
    assert database_zone(db) == ZONE
    lon0, lat0, lon1, lat1 = database_bbox(db, margin_m=50)
    import utm

    for e, n in [(379950, 3949950), (380150, 3950250)]:
        lat, lon = utm.to_latlon(e + np.sign(380050 - e) * 1, n + np.sign(3950100 - n) * 1, 54, "S")
        assert lon0 <= lon <= lon1 and lat0 <= lat <= lat1
    lat, lon = utm.to_latlon(379900, 3949900, 54, "S")  # 100 m outside: not in the box
    assert not (lon0 <= lon <= lon1 and lat0 <= lat <= lat1)
    with pytest.raises(DataError, match="empty"):
        database_zone(ImageSet([], np.zeros((0, 2))))


def test_write_queryset(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(photos / "11.jpg")
    Image.new("RGB", (32, 24), (10, 200, 10)).save(photos / "12.png")
    rows = pd.DataFrame(
        {
            "photo_id": ["12", "11"],
            "path": ["photos/12.png", "photos/11.jpg"],
            "latitude": [35.68, 35.681],
            "longitude": [139.68, 139.681],
            "taken": ["2024-05-01T22:10:00", ""],
        }
    )
    done = tmp_path / "res" / "built_x.json"
    summary = write_queryset(rows, tmp_path, tmp_path / "root", "x", done, zone=ZONE)
    folder = tmp_path / "root/images/test/queries_x"
    files = sorted(p.name for p in folder.iterdir())
    assert summary["queries"] == 2 and len(files) == 2
    assert json.loads(done.read_text())["photo_ids"] == ["11", "12"]
    info = {parse_name(f).pano_id: parse_name(f) for f in files}
    assert info["12"].timestamp == "20240501221000" and info["12"].utm_zone_number == 54
    assert abs(info["11"].latitude - 35.681) < 1e-5
    assert all(f.endswith(".jpg") for f in files)
    # a rerun replaces the folder (no stale query left behind)
    write_queryset(rows.iloc[:1], tmp_path, tmp_path / "root", "x", done, zone=ZONE)
    assert len(list(folder.iterdir())) == 1
    with pytest.raises(DataError, match="no photo survived"):
        write_queryset(rows.iloc[:0], tmp_path, tmp_path / "root", "x", done, zone=ZONE)
    assert len(list(folder.iterdir())) == 1  # nothing already written is lost


def test_query_name_forces_database_zone():
    # a photo just across the zone border is named in the database's zone
    name = query_name("7", 35.68, 137.9999, "", zone=ZONE)
    info = parse_name(name)
    assert info.utm_zone_number == 54 and info.pano_id == "7"


def test_indoor_keep_rule():
    levels = ["0", "5", "6", "9", "panoramic"]
    assert indoor_keep(levels).tolist() == [True, True, False, False, False]
    assert indoor_keep(levels, keep_levels=7).tolist() == [True, True, True, False, False]
    assert indoor_keep(levels, drop_panoramic=False).tolist() == [True, True, False, False, True]


def test_truth_scores():
    s = binary_scores([True, True, False, False], [True, False, True, False])
    assert (s["tp"], s["fp"], s["fn"], s["precision"], s["recall"]) == (1, 1, 1, 0.5, 0.5)
    truth = pd.DataFrame(
        {
            "true_lat": [35.68, 35.68, 35.68],
            "true_lon": [139.68, 139.68, 139.68],
            "condition": ["night", "night", "day"],
            "indoor_level": [0, 9, 0],
            "panoramic": [False, False, False],
            "burst": [-1, 3, 3],
        },
        index=pd.Index(["a", "b", "c"]),
    )
    # 'a' put 0.0003 deg (~33 m) north: outside 25 m
    final = pd.DataFrame(
        {
            "photo_id": ["a", "b", "c"],
            "latitude": [35.6803, 35.68, 35.68],
            "longitude": [139.68] * 3,
        }
    )
    res = score_final(truth, final)
    assert res["kept"] == 3 and res["truly_outdoor"] == 2 and res["truly_night"] == 2
    assert res["within_25m"] == 2 and res["all_three"] == 0 and res["bursts_with_two_kept"] == 1
    assert abs(position_error_m(35.6803, 139.68, 35.68, 139.68) - 33.36) < 0.05


def test_label_folders(tmp_path):
    (tmp_path / "daynight" / "night").mkdir(parents=True)
    (tmp_path / "daynight" / "day").mkdir(parents=True)
    extra = tmp_path / "mine"
    extra.mkdir()
    got = label_folders("daynight", tmp_path, {"folders": {"night": [str(extra)]}})
    assert got["night"] == [tmp_path / "daynight" / "night", extra] and list(got) == [
        "day",
        "night",
    ]
    with pytest.raises(ConfigError, match="not a folder"):
        label_folders("daynight", tmp_path, {"folders": {"day": str(tmp_path / "nope")}})


def test_fake_server_stopped_by_pid(tmp_path):
    coll = tmp_path / "coll"
    (coll / "img").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(coll / "img" / "1.jpg")
    (coll / "photos.json").write_text(
        json.dumps(
            [
                {
                    "id": "1",
                    "owner": "o",
                    "ownername": "o",
                    "title": "t",
                    "latitude": 35.68,
                    "longitude": 139.68,
                    "accuracy": 16,
                    "datetaken": "2024-01-01 22:00:00",
                    "license": 4,
                    "file": "img/1.jpg",
                    "width": 16,
                    "height": 16,
                }
            ]
        )
    )
    before = os.environ.get("FLICKR_API_KEY")
    with fake_flickr(coll, tmp_path / "srv") as url:
        assert url.startswith("http://127.0.0.1:") and os.environ["FLICKR_API_KEY"] != before
        pid = int((tmp_path / "srv" / "fakeflickr.pid").read_text())
        os.kill(pid, 0)  # alive
    assert os.environ.get("FLICKR_API_KEY") == before
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            import time

            time.sleep(0.1)
