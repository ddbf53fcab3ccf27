"""Flickr source against the local fake Flickr: sliced search, every injected fault, resume after
SIGKILL, and that the key and secret end up in no file, log line or exception."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vgrerank.builder import fakeflickr, flickr
from vgrerank.builder.table import PHOTO_COLUMNS, read_table
from vgrerank.errors import ConfigError, DataError

KEY = "k3yZQXW9fakeKEY0001"
SECRET = "s3cRTq8PLMfakeSEC02"
BBOX = (7.0, 45.0, 7.2, 45.2)
T0, T1 = "2023-01-01", "2023-01-31"
SRC = Path(__file__).resolve().parents[1] / "src"


def make_collection(root: Path, n: int, *, seed: int = 0, big: int = 0) -> list[dict]:
    """``n`` small random JPEGs (the first ``big`` ones 1200x900) spread over BBOX and January
    2023, licences cycling 0-4, plus a truth.csv that must never be served."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        w, h = (1200, 900) if i < big else (48, 32)
        pixels = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"img/{i}.jpg", quality=85)
        records.append(
            {
                "id": str(50_000_000_000 + i),
                "owner": f"{i % 3}@N00",
                "ownername": f"user{i % 3}",
                "title": f"photo {i}",
                "latitude": 45.0 + 0.2 * rng.random(),
                "longitude": 7.0 + 0.2 * rng.random(),
                "accuracy": 16,
                "datetaken": f"2023-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
                "license": i % 5,
                "file": f"img/{i}.jpg",
                "width": w,
                "height": h,
            }
        )
    (root / "photos.json").write_text(json.dumps(records))
    (root / "truth.csv").write_text("id,secret_truth\n1,2\n")
    return records


@pytest.fixture(scope="module")
def coll(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("coll")
    make_collection(root, 24)
    return root


def client(server, **kw) -> flickr.Client:
    api = flickr.make_api(KEY, SECRET, rest_url=server.rest_url)
    opts = {"rps": None, "retries": 3, "timeout": 2.0, "backoff": 0.01, **kw}
    return flickr.Client(api, **opts)


def all_ids(root: Path) -> set[str]:
    return {r["id"] for r in json.loads((root / "photos.json").read_text())}


def search_count(server) -> int:
    return sum(e["kind"] == "rest" for e in server.requests_log)


# ----------------------------------------------------------------------------- fake + search


def test_search_finds_all_with_metadata_and_licence_filter(coll):
    with fakeflickr.serve(coll, api_key=KEY, api_secret=SECRET) as srv:
        photos = flickr.search_bbox(client(srv), BBOX, T0, T1, per_page=7)
        assert {p["id"] for p in photos} == all_ids(coll)
        p = photos[0]
        assert {"latitude", "longitude", "datetaken", "license", "ownername"} <= set(p)
        assert flickr.pick_url(p, "l")[0] == "o"  # 48 px: no 'l', falls back to the original
        some = flickr.search_bbox(client(srv), BBOX, T0, T1, licenses=[1, 4])
    assert some and {p["license"] for p in some} == {"1", "4"}
    assert len(some) < len(photos)


def test_fake_checks_key_and_signature(coll):
    with fakeflickr.serve(coll, api_key=KEY, api_secret=SECRET) as srv:
        bad_key = flickr.Client(flickr.make_api("WRONGKEY123", SECRET, rest_url=srv.rest_url))
        with pytest.raises(ConfigError, match="Invalid API Key") as e1:
            flickr.search_bbox(bad_key, BBOX, T0, T1)
        bad_sig = flickr.Client(flickr.make_api(KEY, "WRONGSECRET", rest_url=srv.rest_url))
        with pytest.raises(ConfigError, match="Invalid signature") as e2:
            flickr.search_bbox(bad_sig, BBOX, T0, T1)
    for e, secret in ((e1, "WRONGKEY123"), (e2, "WRONGSECRET")):
        assert "FLICKR_API_KEY" in str(e.value) and secret not in str(e.value)


def test_fake_recent_only_cap_and_no_other_files(coll):
    import requests

    with fakeflickr.serve(coll, faults={"cap": 8}, api_key=KEY) as srv:
        api = flickr.make_api(KEY, SECRET, rest_url=srv.rest_url)
        bbox = "7,45,7.2,45.2"
        recent = api.photos.search(bbox=bbox, per_page=100)["photos"]
        newest = max(json.loads((coll / "photos.json").read_text()), key=lambda r: r["datetaken"])
        assert 0 < recent["total"] < 24 and newest["id"] in {p["id"] for p in recent["photo"]}
        dated = dict(bbox=bbox, min_taken_date="1672531200", max_taken_date="2023-02-01 00:00:00")
        page2 = api.photos.search(per_page=4, page=2, **dated)["photos"]
        page3 = api.photos.search(per_page=4, page=3, **dated)["photos"]
        assert page2["total"] == 24 and page2["pages"] == 6  # the true count...
        assert page3["photo"] == page2["photo"]  # ...but past the cap pages repeat
        assert requests.get(f"{srv.url}/truth.csv", timeout=5).status_code == 404
        assert requests.get(f"{srv.url}/img/photos.json", timeout=5).status_code == 404


def test_cap_recursive_split_finds_all(tmp_path, caplog):
    make_collection(tmp_path, 40, seed=1)
    with fakeflickr.serve(tmp_path, faults={"cap": 8}, api_key=KEY) as srv:
        photos = flickr.search_bbox(client(srv), BBOX, T0, T1, cap=8, per_page=4)
        assert {p["id"] for p in photos} == all_ids(tmp_path)
        caplog.set_level(logging.WARNING, logger="vgrerank")
        stuck = flickr.search_bbox(
            client(srv), BBOX, T0, T1, cap=8, per_page=4, min_tile_deg=10, min_window_s=1e9
        )
    assert len(stuck) == 8  # what one query can reach
    assert "cannot be split further" in caplog.text


def test_duplicate_ids_across_pages(coll):
    faults = {"duplicates": {"2": 3, "3": 2}}
    with fakeflickr.serve(coll, faults=faults, api_key=KEY) as srv:
        raw = flickr.make_api(KEY, SECRET, rest_url=srv.rest_url)
        dated = dict(bbox="7,45,7.2,45.2", min_taken_date="2023-01-01", per_page=5)
        p1 = [p["id"] for p in raw.photos.search(page=1, **dated)["photos"]["photo"]]
        p2 = [p["id"] for p in raw.photos.search(page=2, **dated)["photos"]["photo"]]
        assert p2[:3] == p1[-3:]  # the fault is real
        photos = flickr.search_bbox(client(srv), BBOX, T0, T1, per_page=5)
    ids = [p["id"] for p in photos]
    assert len(ids) == len(set(ids)) and set(ids) == all_ids(coll)


@pytest.mark.parametrize(
    "fault, kw",
    [
        ("500", {}),
        ("503", {}),
        ("malformed", {}),
        ("timeout", {"timeout": 0.3}),
    ],
)
def test_transient_rest_faults_are_retried(coll, fault, kw):
    faults = {"methods": {"flickr.photos.search": [fault, fault]}, "timeout_s": 1.5}
    with fakeflickr.serve(coll, faults=faults, api_key=KEY) as srv:
        photos = flickr.search_bbox(client(srv, **kw), BBOX, T0, T1, per_page=100)
        assert {p["id"] for p in photos} == all_ids(coll)
        assert search_count(srv) == 3  # two failures, then the one page


def test_429_honours_retry_after(coll):
    faults = {"requests": {"1": "429"}, "retry_after": 1}
    with fakeflickr.serve(coll, faults=faults, api_key=KEY) as srv:
        start = time.monotonic()
        photos = flickr.search_bbox(client(srv, backoff=0.01), BBOX, T0, T1, per_page=100)
        assert time.monotonic() - start >= 0.95
    assert len(photos) == 24


def test_retries_exhausted_is_a_clean_dataerror(coll):
    faults = {"methods": {"flickr.photos.search": ["500"] * 10}}
    with fakeflickr.serve(coll, faults=faults, api_key=KEY) as srv:
        with pytest.raises(DataError) as err:
            flickr.search_bbox(client(srv, retries=2), BBOX, T0, T1)
        assert search_count(srv) == 3
    text = "".join(traceback.format_exception(err.value))
    assert "flickr.photos.search" in text and "3 attempt" in text and "HTTP 500" in text
    assert KEY not in text and SECRET not in text


def test_key_in_library_exception_is_scrubbed(coll, monkeypatch, caplog):
    """flickrapi/requests may put the key in URLs and exception texts: they are scrubbed."""
    import requests

    def leaky(*args, **kwargs):
        raise requests.ConnectionError(f"GET /services/rest/?api_key={KEY}&secret={SECRET}")

    with fakeflickr.serve(coll, api_key=KEY) as srv:
        c = client(srv, retries=1)
        monkeypatch.setattr(c.api, "do_flickr_call", leaky)
        caplog.set_level(logging.DEBUG)
        logging.getLogger("flickrapi.core").warning("url ?api_key=%s", KEY)  # third-party log
        with pytest.raises(DataError) as err:
            c.call("flickr.photos.search", bbox="7,45,7.2,45.2")
    text = "".join(traceback.format_exception(err.value)) + caplog.text
    assert "ConnectionError: GET /services/rest/?api_key=***&secret=***" in text
    assert KEY not in text and SECRET not in text


def test_rate_limit_spaces_requests(coll):
    with fakeflickr.serve(coll, api_key=KEY) as srv:
        flickr.search_bbox(client(srv, rps=20), BBOX, T0, T1, per_page=5)
        times = [e["t"] for e in srv.requests_log]
    assert len(times) == 5
    assert times[-1] - times[0] >= 0.18 and min(np.diff(times)) >= 0.02  # 1/20 s, less jitter


def test_fault_spec_is_validated(tmp_path):
    (tmp_path / "f.json").write_text(json.dumps({"images": {"1": ["cut", "404"]}, "cap": 3}))
    assert fakeflickr.Faults.from_obj(tmp_path / "f.json").cap == 3
    with pytest.raises(ConfigError, match="unknown key"):
        fakeflickr.Faults.from_obj({"caps": 3})
    with pytest.raises(ConfigError, match="faults.requests.2: unknown fault 'boom'"):
        fakeflickr.Faults.from_obj('{"requests": {"2": "boom"}}')
    with pytest.raises(ConfigError, match="missing.json"):
        fakeflickr.Faults.from_obj(tmp_path / "missing.json")


# ----------------------------------------------------------------------------- download


def test_download_faults_and_resume(coll, tmp_path):
    ids = sorted(all_ids(coll))
    faults = {
        "images": {
            ids[0]: "truncated",
            ids[1]: "404",
            ids[2]: ["cut"],
            ids[3]: ["500", "500"],
            ids[4]: "500",
        }
    }
    out = tmp_path / "out"
    with fakeflickr.serve(coll, faults=faults, api_key=KEY) as srv:
        photos = flickr.search_bbox(client(srv), BBOX, T0, T1, per_page=100)
        kw = {"rps": None, "retries": 2, "timeout": 2.0, "backoff": 0.01, "root": tmp_path}
        rows = {r["photo_id"]: r for r in flickr.download(photos, out, **kw)}
        first = Counter(srv.image_requests())
        again = flickr.download(photos, out, **kw)  # resume: only the failed ones are retried
        second = Counter(srv.image_requests()) - first
    assert set(rows) == set(ids) and all(set(r) == set(PHOTO_COLUMNS) for r in rows.values())
    assert rows[ids[0]]["reason"].startswith("corrupt image")
    assert rows[ids[1]]["reason"] == "download failed: HTTP 404"
    assert "3 attempt" in rows[ids[4]]["reason"] and "HTTP 500" in rows[ids[4]]["reason"]
    for pid in ids[:5]:
        assert rows[pid]["keep"] == (pid in ids[2:4])
    assert first[ids[1]] == 1 and first[ids[2]] == 2 and first[ids[3]] == 3  # 404 not retried
    for pid in (ids[0], ids[1], ids[4]):
        assert not (out / f"{pid}.jpg").exists() and rows[pid]["path"] == ""
    ok = [r for r in rows.values() if r["keep"]]
    assert len(ok) == 21 and all(r["path"] == f"out/{r['photo_id']}.jpg" for r in ok)
    assert all((tmp_path / r["path"]).is_file() and r["width"] == 48 for r in ok)
    assert not list(out.glob(".tmp-*"))
    assert set(second) == {ids[0], ids[1], ids[4]}
    assert [r["keep"] for r in again] == [rows[r["photo_id"]]["keep"] for r in again]


def test_download_size_and_invalid_existing_file(tmp_path):
    coll = tmp_path / "coll"
    make_collection(coll, 2, big=1)
    big = min(all_ids(coll))
    out = tmp_path / "out"
    with fakeflickr.serve(coll, api_key=KEY) as srv:
        photos = flickr.search_bbox(client(srv), BBOX, T0, T1)
        rows = flickr.download(photos, out, size="l", rps=50, backoff=0.01)
        assert [(r["width"], r["height"]) for r in rows] == [(1024, 768), (48, 32)]
        (out / f"{big}.jpg").write_bytes(b"\xff\xd8 not a jpeg")  # damaged since: fetched again
        rows = flickr.download(photos, out, size="z", rps=50, backoff=0.01)
        assert srv.image_requests()[-1] == big and len(srv.image_requests()) == 3
    assert (rows[0]["width"], rows[0]["height"]) == (640, 480)


def test_unsafe_photo_id_is_not_a_path(tmp_path):
    (tmp_path / "victim.jpg").write_bytes(b"keep me")
    photos = [{"id": "../victim", "url_o": "http://127.0.0.1:9/x.jpg"}]
    (row,) = flickr.download(photos, tmp_path / "out", rps=None, retries=0)
    assert not row["keep"] and "no safe file name" in row["reason"]
    assert (tmp_path / "victim.jpg").read_bytes() == b"keep me"


RESUME_SCRIPT = """
import sys
from vgrerank.builder import flickr
flickr.fetch_flickr((7.0, 45.0, 7.2, 45.2), "2023-01-01", "2023-01-31", sys.argv[2], sys.argv[3],
                    rest_url=sys.argv[1], rps=None, retries=1, timeout=5, backoff=0.01,
                    progress=False)
"""


def test_resume_after_sigkill_downloads_nothing_twice(coll, tmp_path, monkeypatch):
    out, table = tmp_path / "photos", tmp_path / "photos.parquet"
    monkeypatch.setenv("FLICKR_API_KEY", KEY)
    monkeypatch.setenv("FLICKR_API_SECRET", SECRET)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with fakeflickr.serve(coll, faults={"image_delay_s": 0.15}, api_key=KEY) as srv:
        cmd = [sys.executable, "-c", RESUME_SCRIPT, srv.rest_url, str(out), str(table)]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 25
        while len(list(out.glob("*.jpg"))) < 4 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        before = {p.stem for p in out.glob("*.jpg")}
        n_first = len(srv.image_requests())
        assert 4 <= len(before) < 24 and not table.exists()
        for p in out.glob("*.jpg"):
            flickr.decode_check(p.read_bytes())  # no truncated file under a final name
        srv.faults.image_delay_s = 0.0
        df = flickr.fetch_flickr(
            BBOX, T0, T1, out, table, rest_url=srv.rest_url, rps=None, progress=False
        )
        rerun = srv.image_requests()[n_first:]
        total = Counter(srv.image_requests())
    assert not set(rerun) & before  # nothing that was complete is fetched again
    assert set(rerun) | before == all_ids(coll)
    assert max(total.values()) <= 2  # only the one in flight at the kill, if any, twice
    assert sum(v == 2 for v in total.values()) <= 1
    assert df["keep"].all() and len(df) == 24 and not list(out.glob(".tmp-*"))
    assert read_table(table, PHOTO_COLUMNS)["path"].str.startswith("photos/").all()


# ----------------------------------------------------------------------------- fetch_flickr


def test_fetch_flickr_never_writes_or_logs_the_credentials(coll, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FLICKR_API_KEY", KEY)
    monkeypatch.setenv("FLICKR_API_SECRET", SECRET)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # flickrapi's token cache would go here
    caplog.set_level(logging.DEBUG)  # oauthlib logs the signed request at debug level
    ids = sorted(all_ids(coll))
    faults = {
        "requests": {"1": "500", "2": "429", "3": "malformed"},
        "retry_after": 0,
        "images": {ids[0]: "truncated", ids[1]: "404", ids[2]: ["cut"]},
    }
    out, table = tmp_path / "run" / "photos", tmp_path / "run" / "photos.parquet"
    texts = []
    with fakeflickr.serve(coll, faults=faults, api_key=KEY, api_secret=SECRET) as srv:
        kw = {"rest_url": srv.rest_url, "rps": None, "retries": 3, "backoff": 0.01}
        df = flickr.fetch_flickr(BBOX, T0, T1, out, table, per_page=10, **kw)
        srv.faults.methods = {"flickr.photos.search": ["500"] * 1000}
        with pytest.raises(DataError) as err:
            flickr.fetch_flickr(BBOX, T0, T1, out, tmp_path / "t2.parquet", **kw)
        texts.append("".join(traceback.format_exception(err.value)))
    assert len(df) == 24 and int(df["keep"].sum()) == 22
    assert set(df.loc[~df["keep"], "photo_id"]) == set(ids[:2])
    assert "oauth_consumer_key" in caplog.text  # the debug lines were there, scrubbed
    texts.append(caplog.text)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    assert not (tmp_path / "home" / ".flickr").exists()
    blob = "\n".join(texts)
    assert KEY not in blob and SECRET not in blob


def test_fetch_flickr_needs_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    monkeypatch.setenv("FLICKR_API_SECRET", "")
    with pytest.raises(ConfigError, match="FLICKR_API_KEY, FLICKR_API_SECRET"):
        flickr.fetch_flickr(BBOX, T0, T1, tmp_path, tmp_path / "p.parquet")


def test_fetch_flickr_empty_result_names_bbox_and_dates(coll, tmp_path, monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", KEY)
    monkeypatch.setenv("FLICKR_API_SECRET", SECRET)
    with fakeflickr.serve(coll, api_key=KEY) as srv:
        with pytest.raises(DataError, match=r"bbox \[8.0, 46.0, 8.1, 46.1\].*2023-01-01"):
            flickr.fetch_flickr(
                (8.0, 46.0, 8.1, 46.1), T0, T1, tmp_path, tmp_path / "p.parquet",
                rest_url=srv.rest_url, rps=None,
            )  # fmt: skip
    assert not (tmp_path / "p.parquet").exists()


# ----------------------------------------------------------------------------- CLI


def test_cli_starts_writes_port_and_pid_and_stops(coll, tmp_path):
    pid_file, port_file, log_file = tmp_path / "pid", tmp_path / "port", tmp_path / "req.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC), "FLICKR_API_KEY": KEY}
    faults = json.dumps({"requests": {"1": "500"}})
    cmd = [sys.executable, "-m", "vgrerank.builder.fakeflickr", "--collection", str(coll)]
    cmd += ["--pid-file", str(pid_file), "--port-file", str(port_file), "--faults", faults]
    proc = subprocess.Popen([*cmd, "--log-file", str(log_file)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        assert int(pid_file.read_text()) == proc.pid
        port = int(port_file.read_text())
        api = flickr.make_api(KEY, SECRET, rest_url=f"http://127.0.0.1:{port}/services/rest/")
        c = flickr.Client(api, rps=None, backoff=0.01)
        assert len(flickr.search_bbox(c, BBOX, T0, T1)) == 24
        cmd_stop = [sys.executable, "-m", "vgrerank.builder.fakeflickr", "--stop"]
        subprocess.run([*cmd_stop, "--pid-file", str(pid_file)], env=env, check=True, timeout=20)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [e["fault"] for e in logged][:2] == ["500", "ok"]
