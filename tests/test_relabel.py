"""Relabel page of the query-set builder: corrections CSV, HTTP API and a headless browser run."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from vgrerank.builder.relabel import (
    REJECT_REASON,
    Correction,
    apply_corrections,
    read_corrections,
    serve,
    write_corrections,
)
from vgrerank.builder.relabel.app import load_candidates, load_database, load_photos
from vgrerank.builder.relabel.corrections import upsert_correction
from vgrerank.builder.table import write_table
from vgrerank.datasets.names import ImageInfo, format_name
from vgrerank.errors import DataError

LAT0, LON0 = 45.0700, 7.6800  # database grid origin
STEP_LAT, STEP_LON = 0.0002, 0.0003  # ~22 m x ~24 m
HEADER = "photo_id,action,latitude,longitude,candidate,time\n"


# ---- fixtures ---------------------------------------------------------------------------------


def _jpeg(path: Path, color: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), color).save(path, quality=80)
    return str(path)


@pytest.fixture
def data(tmp_path):
    """A 5x5 database grid, three query photos near it and rerank-style candidates."""
    db_rows = []
    for i in range(5):
        for j in range(5):
            name = f"db_{i}_{j}.jpg"
            path = _jpeg(tmp_path / "db" / name, (40 * i, 40 * j, 90))
            db_rows.append((name, path, LAT0 + i * STEP_LAT, LON0 + j * STEP_LON))
    database = pd.DataFrame(db_rows, columns=["name", "path", "latitude", "longitude"])
    q_rows = [
        (f"q{k}", _jpeg(tmp_path / "q" / f"q{k}.jpg", (200, 30 * k, 30)), lat, lon)
        for k, (lat, lon) in enumerate([(45.07025, 7.6806), (45.0705, 7.6809), (45.0701, 7.6801)])
    ]
    queries = pd.DataFrame(q_rows, columns=["photo_id", "path", "latitude", "longitude"])
    candidates = {
        "q0": [("db_0_0.jpg", 0.2), ("db_4_4.jpg", 0.9), ("db_2_2.jpg", 0.5)],
        "q1": [("db_1_1.jpg", 0.7), ("db_3_3.jpg", 0.8)],
    }
    return {"db": database, "q": queries, "cands": candidates, "csv": tmp_path / "corr.csv"}


@pytest.fixture
def server(data):
    srv = serve(data["q"], data["db"], data["csv"])
    yield srv
    srv.stop()


@pytest.fixture
def rerank_server(data):
    srv = serve(data["q"], data["db"], data["csv"], candidates=data["cands"])
    yield srv
    srv.stop()


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _get_json(url: str):
    status, body = _get(url)
    return status, json.loads(body)


def _post(url: str, payload, ctype: str = "application/json") -> tuple[int, dict]:
    body = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _rows(csv_path) -> dict[str, Correction]:
    return {c.photo_id: c for c in read_corrections(csv_path)}


# ---- corrections ------------------------------------------------------------------------------


def _photos() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "photo_id": ["1", "2", "3", "4", "5"],
            "latitude": [45.0, 45.1, 45.2, 45.3, math.nan],
            "longitude": [7.0, 7.1, 7.2, 7.3, math.nan],
            "keep": [True] * 5,
            "reason": [""] * 5,
        }
    )


def test_apply_corrections_moves_and_rejects(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(
        HEADER
        + "1,accept,45.01,7.01,db/a.jpg,2024-01-01T00:00:00+00:00\n"
        + "2,move,45.11,7.11,,2024-01-01T00:00:01+00:00\n"
        + "3,keep,45.2,7.2,,2024-01-01T00:00:02+00:00\n"
        + "4,reject,,,,2024-01-01T00:00:03+00:00\n"
        + "5,move,46.0,8.0,,2024-01-01T00:00:04+00:00\n"
    )
    photos = _photos()
    out = apply_corrections(photos, csv)
    assert out["latitude"].tolist() == [45.01, 45.11, 45.2, 45.3, 46.0]
    assert out["longitude"].tolist() == [7.01, 7.11, 7.2, 7.3, 8.0]
    assert out["keep"].tolist() == [True, True, True, False, True]
    assert out["reason"].tolist() == ["", "", "", REJECT_REASON, ""]
    assert photos["keep"].all() and math.isnan(photos["latitude"].iloc[4])  # input untouched


def test_apply_corrections_missing_csv_and_missing_columns(tmp_path):
    photos = _photos()
    out = apply_corrections(photos, tmp_path / "absent.csv")
    pd.testing.assert_frame_equal(out, photos)
    bare = photos.drop(columns=["keep", "reason"])
    (tmp_path / "c.csv").write_text(HEADER + "2,reject,45.1,7.1,,t\n")
    out = apply_corrections(bare, tmp_path / "c.csv")
    assert out["keep"].tolist() == [True, False, True, True, True]
    assert out["reason"].iloc[1] == REJECT_REASON


@pytest.mark.parametrize(
    "line, message",
    [
        ("3,teleport,45,7,,t", "action 'teleport'"),
        ("3,move,north,7,,t", "bad coordinate"),
        ("3,move,45,7,,t,extra", "7 field"),
        ("3,move,,,,t", "needs a latitude"),
        ("3,move,95,7,,t", "outside WGS84"),
        ("3,accept,45,7,,t", "candidate"),
        ("1,keep,45,7,,t", "already corrected on line 2"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path, line, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(HEADER + "1,keep,45.0,7.0,,t\n" + line + "\n")
    with pytest.raises(DataError, match=rf"bad\.csv:3: .*{message}"):
        apply_corrections(_photos(), csv)


def test_malformed_header_and_unknown_ids(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("photo_id,action,lat,lon\n1,keep,45,7\n")
    with pytest.raises(DataError, match=r"c\.csv:1: .*lacks column"):
        read_corrections(csv)
    csv.write_text(HEADER + "1,keep,45.0,7.0,,t\n99,reject,,,,t\n")
    with pytest.raises(DataError, match=r"c\.csv: 1 photo id\(s\) not in the photos table.*99"):
        apply_corrections(_photos(), csv)


def test_atomic_rewrite_keeps_old_file_on_failure(tmp_path):
    csv = tmp_path / "c.csv"
    first = Correction("1", "keep", 45.0, 7.0, "", "t0")
    write_corrections([first], csv)
    before = csv.read_text()

    def broken():
        yield Correction("2", "move", 45.5, 7.5, "", "t1")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_corrections(broken(), csv)
    assert csv.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.csv"]  # no temporary left behind
    rows = upsert_correction(csv, Correction("1", "move", 45.25, 7.125, "", "t2"))
    upsert_correction(csv, Correction("2", "reject", time="t3"))
    assert [r.action for r in rows] == ["move"]
    again = read_corrections(csv)
    assert again[0] == Correction("1", "move", 45.25, 7.125, "", "t2")
    assert (again[1].photo_id, again[1].action, math.isnan(again[1].latitude)) == (
        "2",
        "reject",
        True,
    )
    assert csv.read_text().splitlines()[2] == "2,reject,,,,t3"


# ---- HTTP API ---------------------------------------------------------------------------------


def test_api_lists_queries_and_nearest_candidates(server):
    status, listing = _get_json(server.url + "api/queries")
    assert status == 200 and listing["ranking"] == "distance" and listing["reviewed"] == 0
    assert [q["photo_id"] for q in listing["queries"]] == ["q0", "q1", "q2"]
    status, d = _get_json(server.url + "api/query?photo_id=q0")
    assert status == 200 and d["geotag"] == {"latitude": 45.07025, "longitude": 7.6806}
    dists = [c["distance_m"] for c in d["candidates"]]
    assert len(dists) == 10 and dists == sorted(dists)
    assert d["candidates"][0]["name"] == "db_1_2.jpg"  # (45.0702, 7.6806): 2.8 m away
    assert d["map"]["south"] < 45.07025 < d["map"]["north"] and len(d["map"]["points"]) > 4
    assert (d["prev"], d["next"]) == (None, "q1")


def test_api_orders_candidates_by_score(rerank_server):
    _, d = _get_json(rerank_server.url + "api/query?photo_id=q0")
    assert d["ranking"] == "score"
    assert [c["name"] for c in d["candidates"]] == ["db_4_4.jpg", "db_2_2.jpg", "db_0_0.jpg"]
    assert [c["rank"] for c in d["candidates"]] == [1, 2, 3]
    _, d2 = _get_json(rerank_server.url + "api/query?photo_id=q2")
    assert d2["candidates"] == []


def test_api_decisions_write_csv(server, data):
    url = server.url + "api/decision"
    status, res = _post(url, {"photo_id": "q0", "action": "accept", "candidate": "db_3_1.jpg"})
    assert status == 200 and res["reviewed"] == 1
    _post(url, {"photo_id": "q1", "action": "keep", "latitude": 45.0705, "longitude": 7.6809})
    _post(url, {"photo_id": "q2", "action": "keep", "latitude": 45.0711, "longitude": 7.6801})
    rows = _rows(data["csv"])
    assert (rows["q0"].action, rows["q0"].candidate) == ("accept", "db_3_1.jpg")
    assert (rows["q0"].latitude, rows["q0"].longitude) == (LAT0 + 3 * STEP_LAT, LON0 + STEP_LON)
    assert rows["q1"].action == "keep" and rows["q2"].action == "move"
    _post(url, {"photo_id": "q0", "action": "reject"})  # a new decision replaces the row
    rows = _rows(data["csv"])
    assert len(rows) == 3 and rows["q0"].action == "reject" and rows["q0"].candidate == ""
    _, d = _get_json(server.url + "api/query?photo_id=q2")
    assert d["correction"]["action"] == "move" and d["position"]["latitude"] == 45.0711
    _, listing = _get_json(server.url + "api/queries")
    assert [q["action"] for q in listing["queries"]] == ["reject", "keep", "move"]


@pytest.mark.parametrize(
    "payload, status, message",
    [
        ({"photo_id": "nope", "action": "reject"}, 404, "unknown photo_id"),
        ({"photo_id": "q0", "action": "teleport"}, 400, "not one of"),
        ({"photo_id": "q0", "action": "accept", "candidate": "../x.jpg"}, 400, "not a database"),
        ({"photo_id": "q0", "action": "keep", "latitude": "a"}, 400, "numeric latitude"),
        ({"photo_id": "q0", "action": "move", "latitude": 91, "longitude": 7}, 400, "WGS84"),
        (["not", "an", "object"], 400, "JSON object"),
    ],
)
def test_api_rejects_bad_decisions(server, data, payload, status, message):
    code, res = _post(server.url + "api/decision", payload)
    assert code == status and message in res["error"]
    assert not data["csv"].exists()


def test_api_needs_json_and_loopback_host(server, data):
    code, res = _post(server.url + "api/decision", {"photo_id": "q0"}, ctype="text/plain")
    assert code == 400 and "application/json" in res["error"]
    code, _ = _get(server.url + "api/queries", headers={"Host": "evil.example:80"})
    assert code == 403
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        serve(data["q"], data["db"], data["csv"], host="0.0.0.0")


def test_images_served_only_from_tables(server, data):
    code, body = _get(server.url + "image/query/1")
    assert code == 200 and body == Path(data["q"]["path"][1]).read_bytes()
    code, body = _get(server.url + "image/db/24")
    assert code == 200 and body == Path(data["db"]["path"][24]).read_bytes()
    for path in (
        "image/db/25",
        "image/query/-1",
        "image/../../etc/passwd",
        "image/db/%2e%2e%2fq0.jpg",
        "static/..%2fapp.py",
        "static/%2e%2e/corrections.py",
        "static/app.py",
        "etc/passwd",
    ):
        assert _get(server.url + path)[0] == 404, path
    code, page = _get(server.url)
    assert code == 200 and b"app.js" in page
    assert _get(server.url + "static/app.js")[0] == 200


def test_existing_rows_loaded_and_foreign_rows_kept(data):
    data["csv"].write_text(HEADER + "q1,reject,,,,t\nother,keep,1.0,2.0,,t\n")
    srv = serve(data["q"], data["db"], data["csv"])
    try:
        _, listing = _get_json(srv.url + "api/queries")
        assert listing["reviewed"] == 1 and listing["queries"][1]["action"] == "reject"
        _post(srv.url + "api/decision", {"photo_id": "q2", "action": "reject"})
    finally:
        srv.stop()
    assert sorted(_rows(data["csv"])) == ["other", "q1", "q2"]
    data["csv"].write_text(HEADER + "q1,oops,,,,t\n")
    with pytest.raises(DataError, match=r"corr\.csv:2:"):
        serve(data["q"], data["db"], data["csv"])


# ---- command line -----------------------------------------------------------------------------


def _vg_database(folder: Path) -> None:
    for k, (lat, lon) in enumerate([(45.0703, 7.6805), (45.0712, 7.6811)]):
        info = ImageInfo(
            utm_east=395000.0 + k,
            utm_north=4991000.0,
            utm_zone_number=32,
            utm_zone_letter="T",
            latitude=lat,
            longitude=lon,
        )
        _jpeg(folder / format_name(info), (10, 20 * k, 30))
    info = ImageInfo(
        utm_east=395540.0, utm_north=4990810.0, utm_zone_number=32, utm_zone_letter="T"
    )  # no lat/lon: from UTM
    _jpeg(folder / "sub" / format_name(info), (0, 0, 0))


def _cli_inputs(tmp_path: Path) -> dict[str, Path]:
    _vg_database(tmp_path / "database")
    _jpeg(tmp_path / "photos" / "111.jpg", (255, 0, 0))
    photos = pd.DataFrame(
        {
            "photo_id": ["111", "222"],
            "path": ["photos/111.jpg", "photos/222.jpg"],
            "latitude": [45.07, 45.08],
            "longitude": [7.68, 7.69],
            "keep": [True, False],
        }
    )
    write_table(photos, tmp_path / "photos.parquet")
    names = sorted(p.name for p in (tmp_path / "database").glob("*.jpg"))
    pd.DataFrame(
        {
            "query_name": ["111.jpg", "111.jpg"],
            "db_name": names,
            "score": [0.1, 0.4],
            "rank": [1, 0],
        }
    ).to_parquet(tmp_path / "rerank.parquet")
    return {
        "photos": tmp_path / "photos.parquet",
        "db": tmp_path / "database",
        "cands": tmp_path / "rerank.parquet",
        "csv": tmp_path / "c.csv",
    }


def test_cli_loaders(tmp_path):
    paths = _cli_inputs(tmp_path)
    photos = load_photos(paths["photos"])
    assert photos["photo_id"].tolist() == ["111"]  # 222 is not kept
    assert Path(photos["path"][0]) == tmp_path / "photos" / "111.jpg"
    stage = pd.DataFrame({"photo_id": ["111"], "keep": [False], "reason": ["duplicate"]})
    write_table(stage, tmp_path / "dedup.parquet")
    assert load_photos(paths["photos"], kept_in=tmp_path / "dedup.parquet").empty
    db = load_database(paths["db"])
    assert len(db) == 3 and db["name"].str.startswith("sub/").sum() == 1
    utm_row = db[db["name"].str.startswith("sub/")].iloc[0]
    assert abs(utm_row["latitude"] - 45.07) < 0.01 and abs(utm_row["longitude"] - 7.68) < 0.01
    cands = load_candidates(paths["cands"], photos)
    assert [s for _, s in cands["111"]] == [0.4, 0.1]


def test_cli_serves_and_writes_port_file(tmp_path):
    paths = _cli_inputs(tmp_path)
    port_file = tmp_path / "port"
    cmd = [
        sys.executable,
        "-m",
        "vgrerank.builder.relabel.app",
        "--photos",
        str(paths["photos"]),
        "--database-dir",
        str(paths["db"]),
        "--corrections",
        str(paths["csv"]),
        "--candidates",
        str(paths["cands"]),
        "--port-file",
        str(port_file),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "relabel page: http://127.0.0.1:" in line, line + proc.stdout.read()
        port = int(port_file.read_text())
        _, d = _get_json(f"http://127.0.0.1:{port}/api/query?photo_id=111")
        assert d["ranking"] == "score" and len(d["candidates"]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- headless browser ------------------------------------------------------------------------


def _browser_binaries() -> tuple[str | None, str | None]:
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
    )
    browser = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )
    return driver, browser


@pytest.fixture(scope="module")
def driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    driver_path, browser_path = _browser_binaries()
    if not (driver_path and browser_path):
        pytest.skip("chromium/chromedriver not installed (run scripts/install-chromium.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1100",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=driver_path)
    drv = webdriver.Chrome(options=options, service=service)
    drv.implicitly_wait(0)
    yield drv
    drv.quit()


def _wait(predicate, what: str, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_row(csv_path, photo_id: str, action: str) -> Correction:
    def row():
        c = _rows(csv_path).get(photo_id) if Path(csv_path).exists() else None
        return c if c is not None and c.action == action else None

    return _wait(row, f"{photo_id}: {action} in {csv_path}")


def _wait_photo(drv, photo_id: str) -> None:
    _wait(
        lambda: drv.execute_script("return document.body.dataset.photoId") == photo_id,
        f"page showing {photo_id}",
    )


def test_browser_drag_keep_accept_reject(driver, rerank_server, data):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.get(rerank_server.url)
    _wait_photo(driver, "q0")
    marker = driver.find_element(By.ID, "marker")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", marker)
    ActionChains(driver).drag_and_drop_by_offset(marker, 60, 40).perform()  # right and down
    driver.find_element(By.ID, "keep").click()
    row = _wait_row(data["csv"], "q0", "move")
    assert row.longitude > 7.6806 + 1e-5 and row.latitude < 45.07025 - 1e-5  # east and south

    _wait_photo(driver, "q1")  # advanced after the decision
    driver.find_element(By.CSS_SELECTOR, 'button.accept[data-name="db_1_1.jpg"]').click()
    row = _wait_row(data["csv"], "q1", "accept")
    assert row.candidate == "db_1_1.jpg"
    assert (row.latitude, row.longitude) == (LAT0 + STEP_LAT, LON0 + STEP_LON)

    _wait_photo(driver, "q2")
    driver.find_element(By.ID, "reject").click()
    _wait_row(data["csv"], "q2", "reject")
    _wait(lambda: driver.find_element(By.ID, "decision").text.startswith("reject"), "badge")

    driver.find_element(By.ID, "prev").click()
    _wait_photo(driver, "q1")
    assert driver.find_element(By.ID, "decision").text.startswith("accept")
    assert (
        driver.find_element(By.CSS_SELECTOR, ".candidate.accepted").get_attribute("data-name")
        == "db_1_1.jpg"
    )
    assert set(_rows(data["csv"])) == {"q0", "q1", "q2"}
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
