"""Polite, resumable photo download: one size per photo through an atomic rename after a
byte-count and full-decode check; failures listed with ``keep = False`` (:func:`download`).
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import requests
from tqdm import tqdm

from ...errors import DataError
from ...io import atomic_path
from .polite import RETRY_STATUS, Polite, Transient, parse_retry_after
from .search import size_fallbacks

log = logging.getLogger(__name__)


SAFE_ID = re.compile(r"[A-Za-z0-9@_-][A-Za-z0-9@._-]*")  # photo ids become file names


class Failed(Exception):
    """A photo that cannot be downloaded (not retried): the reason for the table."""


def decode_check(data: bytes) -> tuple[int, int]:
    """(width, height) if ``data`` is a complete image; :class:`Failed` ('corrupt image: ...')."""
    from PIL import Image, ImageFile

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            size = im.size
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ...
        raise Failed(f"corrupt image: {exc}") from None
    # someone enabled PIL's LOAD_TRUNCATED_IMAGES: a cut JPEG then decodes, so check its end
    if ImageFile.LOAD_TRUNCATED_IMAGES and data[:2] == b"\xff\xd8":
        if b"\xff\xd9" not in data[-64:]:
            raise Failed("corrupt image: JPEG without end marker (truncated)")
    return size


def _fetch(session: requests.Session, url: str, timeout: float) -> bytes:
    try:
        resp = session.get(url, timeout=timeout)
    except requests.Timeout:
        raise Transient(f"timeout after {timeout:g} s") from None
    except requests.RequestException as exc:
        raise Transient(f"connection error ({type(exc).__name__}: {str(exc)[:200]})") from None
    if resp.status_code in RETRY_STATUS:
        raise Transient(
            f"HTTP {resp.status_code}", parse_retry_after(resp.headers.get("Retry-After"))
        )
    if resp.status_code != 200:
        raise Failed(f"download failed: HTTP {resp.status_code}")
    expected = resp.headers.get("Content-Length")
    if expected is not None and int(expected) != len(resp.content):
        raise Transient(f"short read ({len(resp.content)} of {expected} bytes)")
    if not resp.content:
        raise Failed("download failed: empty body")
    return resp.content


def pick_url(photo: dict, size: str) -> tuple[str, str] | None:
    """(size, URL) of the first size of :func:`size_fallbacks` the photo offers."""
    for s in size_fallbacks(size):
        if photo.get(f"url_{s}"):
            return s, str(photo[f"url_{s}"])
    return None


def _taken_iso(value: object) -> str:
    text = str(value or "").strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            continue
    return ""


def _float(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def base_row(photo: dict) -> dict:
    """The :data:`PHOTO_COLUMNS` row of a search result, not (yet) downloaded."""
    return {
        "photo_id": str(photo["id"]),
        "path": "",
        "source": "flickr",
        "latitude": _float(photo.get("latitude")),
        "longitude": _float(photo.get("longitude")),
        "taken": _taken_iso(photo.get("datetaken")),
        "owner": str(photo.get("owner", "")),
        "license": str(photo.get("license", "")),
        "width": 0,
        "height": 0,
        "keep": False,
        "reason": "",
    }


def _clean_stale_temps(out_dir: Path) -> None:
    for tmp in out_dir.glob(".tmp-*.jpg.*"):
        log.info("flickr: removing %s left by an interrupted run", tmp)
        tmp.unlink(missing_ok=True)


def _existing(dest: Path) -> tuple[int, int] | None:
    if not dest.is_file():
        return None
    try:
        return decode_check(dest.read_bytes())
    except Failed as exc:
        log.warning("flickr: %s is invalid (%s): downloading it again", dest, exc)
        dest.unlink()
        return None


def _download_one(photo: dict, dest: Path, size: str, polite: Polite, session) -> tuple[int, int]:
    choice = pick_url(photo, size)
    if choice is None:
        raise Failed(f"download failed: no URL for size {size} or smaller")
    url = choice[1]
    try:
        data = polite.run(f"GET {url}", lambda: _fetch(session, url, polite.timeout))
    except DataError as exc:
        raise Failed(f"download failed: {exc}") from None
    dims = decode_check(data)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return dims


def download(
    photos: Iterable[dict],
    out_dir: str | os.PathLike,
    *,
    size: str = "l",
    root: str | os.PathLike | None = None,
    progress: bool = False,
    session: requests.Session | None = None,
    polite: Polite | None = None,
    **polite_kw,
) -> list[dict]:
    """Download ``photos`` (search results) to ``out_dir/<id>.jpg``; one :data:`PHOTO_COLUMNS`
    row each (``source='flickr'``, ``path`` relative to ``root``, default ``out_dir``).

    Files already there and decodable are kept (resume); leftover temporary files of an
    interrupted run are removed first. ``polite_kw``: rps, retries, timeout, backoff.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(root) if root is not None else out_dir
    polite = polite or Polite(**polite_kw)
    session = session or requests.Session()
    _clean_stale_temps(out_dir)
    rows, fetched = [], 0
    for photo in tqdm(list(photos), desc="flickr download", unit="photo", disable=not progress):
        row = base_row(photo)
        dest = out_dir / f"{row['photo_id']}.jpg"
        try:
            if not SAFE_ID.fullmatch(row["photo_id"]):
                raise Failed(f"download failed: photo id {row['photo_id']!r} is no safe file name")
            dims = _existing(dest)
            if dims is None:
                dims = _download_one(photo, dest, size, polite, session)
                fetched += 1
        except Failed as exc:
            row["reason"] = polite.scrub(exc)
            log.warning("flickr: photo %s: %s", row["photo_id"], row["reason"])
        else:
            row.update(path=os.path.relpath(dest, root), width=dims[0], height=dims[1], keep=True)
        rows.append(row)
    n_ok = sum(r["keep"] for r in rows)
    log.info("flickr: %d/%d photos present (%d downloaded now)", n_ok, len(rows), fetched)
    return rows
