"""The builder's source stage: run the configured source and write ``photos.parquet``.

- ``kind: flickr``: :func:`vgrerank.builder.flickr.fetch_flickr` over the bounding box (the
  configured one, or the database's extent plus ``margin_m``) and time range, with the user's
  ``FLICKR_API_KEY`` / ``FLICKR_API_SECRET``. With ``embedded: true`` the REST endpoint is the
  local fake server (:mod:`.fakeflickr`) serving a SynthCity photo collection: it is started here
  as a child process on a free port of 127.0.0.1 with a throw-away key and secret (passed through
  the environment only), and stopped by its pid when the stage ends, whatever happens.
- ``kind: folder``: :func:`vgrerank.builder.folder.scan_folder`.

Photos are downloaded into ``photos/`` beside the table; a rerun after an interruption skips the
photos already there and valid (nothing is downloaded twice).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..datasets.base import ImageSet
from ..errors import DataError
from .bbox import database_bbox

log = logging.getLogger(__name__)
ENV_KEY, ENV_SECRET = "FLICKR_API_KEY", "FLICKR_API_SECRET"


@contextlib.contextmanager
def fake_flickr(collection: str | os.PathLike, workdir: str | os.PathLike) -> Iterator[str]:
    """Run the fake Flickr server on ``collection`` as a child process; yield its REST URL with
    ``FLICKR_API_KEY``/``FLICKR_API_SECRET`` set to a fresh throw-away pair; stop it by pid."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    pid_file, port_file = workdir / "fakeflickr.pid", workdir / "fakeflickr.port"
    for f in (pid_file, port_file):
        f.unlink(missing_ok=True)
    env = dict(os.environ, **{ENV_KEY: secrets.token_hex(16), ENV_SECRET: secrets.token_hex(8)})
    cmd = [sys.executable, "-m", "vgrerank.builder.fakeflickr", "--collection", str(collection)]
    cmd += ["--pid-file", str(pid_file), "--port-file", str(port_file)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    old = {k: os.environ.get(k) for k in (ENV_KEY, ENV_SECRET)}
    try:
        t_end = time.monotonic() + 60
        while not port_file.is_file():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:]
                raise DataError(f"fake Flickr server on {collection} exited at start: {err}")
            if time.monotonic() > t_end:
                raise DataError(f"fake Flickr server on {collection}: no port after 60 s")
            time.sleep(0.05)
        port = int(port_file.read_text().strip())
        os.environ.update({ENV_KEY: env[ENV_KEY], ENV_SECRET: env[ENV_SECRET]})
        log.info("fake Flickr server pid %d on 127.0.0.1:%d", proc.pid, port)
        yield f"http://127.0.0.1:{port}/services/rest/"
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if proc.poll() is None:
            proc.terminate()  # our own child: stopped by its pid
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()


def time_range(source: dict) -> tuple[str, str]:
    """[min_taken, max_taken] of a source conf (``max_taken: null`` = today, UTC)."""
    t1 = source.get("max_taken") or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return str(source["min_taken"]), str(t1)


def fetch_source(
    source: dict,
    database: ImageSet,
    table_path: str | os.PathLike,
    collection: str | os.PathLike | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the source stage described by ``source`` (a ``build.<split>.source`` conf)."""
    from .flickr import fetch_flickr
    from .folder import scan_folder

    table_path = Path(table_path)
    if source["kind"] == "folder":
        return scan_folder(source["folder"], table_path)
    bbox = source.get("bbox") or database_bbox(database, source["margin_m"])
    t0, t1 = time_range(source)
    kw = dict(
        rps=source["rps"],
        licenses=source.get("licenses"),
        size=source["size"],
        retries=source["retries"],
        timeout=source["timeout_s"],
        cap=source["cap"],
        progress=progress,
    )
    out_dir = table_path.parent / "photos"
    log.info("flickr search: bbox %s, taken %s .. %s", bbox, t0, t1)
    if not source.get("embedded"):
        return fetch_flickr(bbox, t0, t1, out_dir, table_path, rest_url=source["rest_url"], **kw)
    if collection is None:
        raise DataError(f"{table_path}: an embedded source needs its photo collection")
    with fake_flickr(collection, table_path.parent / ".server") as url:
        return fetch_flickr(bbox, t0, t1, out_dir, table_path, rest_url=url, **kw)
