"""Flickr source: sliced geo search, polite download with resume -> ``photos.parquet``.

- :func:`search_bbox` asks ``flickr.photos.search`` for geotagged photos in a bounding box and a
  taken-date window. Flickr only lets a query reach its first ``cap`` (4000) results, so a slice
  whose ``total`` exceeds the cap is split into 4 tiles x 2 time halves, recursively, down to
  ``min_tile_deg`` / ``min_window_s`` (a slice that still exceeds the cap is kept as far as it is
  reachable, with a warning). Ids are deduplicated across pages and slices (Flickr's pages shift
  while new photos arrive) and the licence filter is applied again on the client side.
- :func:`download` fetches one size per photo to ``<out_dir>/<id>.jpg`` through an atomic
  rename, after checking the byte count and that the image decodes fully; a photo already there
  and valid is not fetched again (resume), one that fails (404, a truncated image, retries
  exhausted) is listed with ``keep = False`` and the reason, never left under its final name.
- :func:`fetch_flickr` does both with the key/secret from ``FLICKR_API_KEY`` /
  ``FLICKR_API_SECRET`` and writes the :data:`.table.PHOTO_COLUMNS` table.

Politeness: at most ``rps`` requests per second (API and images share the limiter), retries with
exponential backoff (``backoff`` * 2^n s, honouring ``Retry-After``) on HTTP 5xx/429, timeouts,
connection errors and malformed JSON, via :mod:`tenacity`. After the last retry a
:class:`~vgrerank.errors.DataError` names the method/URL, the attempts and the last status. The key
and secret are scrubbed from every message this module raises or logs (flickrapi signs requests
with OAuth 1 and puts the key in headers and its ``repr``), and are written nowhere.

Dates: ``t0``/``t1`` are unix seconds, datetimes or 'YYYY-MM-DD[ HH:MM:SS]' strings, read as naive
UTC like Flickr's taken dates; a date-only ``t1`` means the end of that day. Bounding boxes are
``(min_lon, min_lat, max_lon, max_lat)`` (Flickr's order).
"""

from __future__ import annotations

import email.utils
import io
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tqdm import tqdm

from ..errors import ConfigError, DataError, VGError
from ..io import atomic_path
from .table import PHOTO_COLUMNS, write_table

log = logging.getLogger(__name__)

ENV_KEY = "FLICKR_API_KEY"
ENV_SECRET = "FLICKR_API_SECRET"
DEFAULT_CAP = 4000
MAX_PER_PAGE = 500
SIZE_ORDER = ("k", "h", "l", "c", "z", "m", "n")  # largest first; 'o' (original) last resort
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
RETRY_CODES = frozenset({10, 105})  # search API / service temporarily unavailable
AUTH_CODES = frozenset({95, 96, 97, 98, 99, 100})  # signature, key or token problems
SEARCH_METHOD = "flickr.photos.search"
BASE_EXTRAS = ("geo", "date_taken", "owner_name", "license")
SAFE_ID = re.compile(r"[A-Za-z0-9@_-][A-Za-z0-9@._-]*")  # photo ids become file names


# ----------------------------------------------------------------------------- politeness


class Scrubber:
    """Replace the key and secret (and their URL-encoded forms) by '***' in any text (strings
    shorter than 4 characters are no credentials and are left alone)."""

    def __init__(self, secrets: Iterable[str | None]):
        from urllib.parse import quote

        found = {s for s in secrets if s and len(s) >= 4}
        found |= {quote(s, safe="") for s in found}
        self._secrets = sorted(found, key=len, reverse=True)

    def plus(self, secrets: Iterable[str | None]) -> Scrubber:
        """A scrubber for these secrets and ``secrets``."""
        return Scrubber([*self._secrets, *secrets])

    def __call__(self, text: object) -> str:
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class _ScrubFilter(logging.Filter):
    """Scrub the registered secrets from log records of third-party loggers: at debug level
    oauthlib and requests-oauthlib log the signed parameters and the Authorization header."""

    def __init__(self):
        super().__init__()
        self.scrub = Scrubber(())

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string: keep only the template
            msg = str(record.msg)
        clean = self.scrub(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
        return True


_LOG_FILTER = _ScrubFilter()
LEAKY_LOGGERS = ("oauthlib", "requests_oauthlib", "flickrapi", "urllib3", "requests", "tenacity")


def guard_logs(secrets: Iterable[str | None]) -> None:
    """Scrub ``secrets`` from every record of the (existing) :data:`LEAKY_LOGGERS` loggers."""
    _LOG_FILTER.scrub = _LOG_FILTER.scrub.plus(secrets)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        top = name.split(".")[0]
        if isinstance(logger, logging.Logger) and top in LEAKY_LOGGERS:
            if _LOG_FILTER not in logger.filters:
                logger.addFilter(_LOG_FILTER)


class RateLimiter:
    """At most ``rps`` calls of :meth:`wait` per second (none when ``rps`` is falsy)."""

    def __init__(self, rps: float | None):
        self.interval = 1.0 / rps if rps else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the next call is allowed."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class Transient(Exception):
    """A failure worth retrying: HTTP 5xx/429, timeout, connection error, malformed JSON."""

    def __init__(self, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); None if absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(when.tzinfo or UTC)).total_seconds())


@dataclass
class Polite:
    """Rate limit + retries with backoff + scrubbing, shared by the API client and downloads."""

    rps: float | None = 1.0
    retries: int = 5
    timeout: float = 30.0
    backoff: float = 1.0
    max_wait: float = 300.0
    scrub: Scrubber | None = None

    def __post_init__(self):
        if self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise ConfigError(
                f"flickr: retries >= 0, timeout > 0 and backoff >= 0 required "
                f"(got {self.retries}, {self.timeout}, {self.backoff})"
            )
        self.limiter = RateLimiter(self.rps)
        self.scrub = self.scrub or Scrubber(())

    def _wait(self, state: RetryCallState) -> float:
        exp = self.backoff * 2 ** (state.attempt_number - 1)
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        return min(self.max_wait, max(exp, after or 0.0))

    def _before_sleep(self, what: str) -> Callable[[RetryCallState], None]:
        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception()
            wait = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                self.scrub(
                    f"{what}: {exc}; retry {state.attempt_number}/{self.retries} in {wait:.2f} s"
                )
            )

        return log_retry

    def run(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` rate-limited, retried on :class:`Transient`; DataError after the last try."""
        attempts = self.retries + 1

        def limited():
            self.limiter.wait()
            return fn()

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(Transient),
            before_sleep=self._before_sleep(what),
            reraise=True,
        )
        try:
            return retrying(limited)
        except Transient as exc:
            msg = f"{what} failed after {attempts} attempt(s) (last: {exc.detail})"
            raise DataError(self.scrub(msg)) from None


# ----------------------------------------------------------------------------- API client


def make_api(key: str, secret: str, *, rest_url: str | None = None, timeout: float | None = None):
    """A :class:`flickrapi.FlickrAPI` answering parsed JSON, with no on-disk token cache (it
    would name a folder after the key), pointed at ``rest_url`` when given."""
    import flickrapi

    api = flickrapi.FlickrAPI(
        key, secret, format="parsed-json", store_token=False, cache=False, timeout=timeout
    )
    if rest_url:
        api.REST_URL = rest_url
    return api


class Client:
    """Polite calls to a :class:`flickrapi.FlickrAPI`: rate limit, retries, scrubbed errors.

    It gives the API object its own :class:`requests.Session` with a response hook, so that the
    HTTP status and ``Retry-After`` of a failed call are known (flickrapi only raises
    'Status code N received').
    """

    def __init__(self, api, polite: Polite | None = None, **polite_kw):
        self.api = api
        oauth = api.flickr_oauth
        secrets = [oauth.key, getattr(oauth.oauth.client, "client_secret", None)]
        self.polite = polite or Polite(**polite_kw)
        self.polite.scrub = self.polite.scrub.plus(secrets)
        guard_logs(secrets)
        self._last = threading.local()
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        oauth.session = session  # instance attribute; flickrapi's is shared by all instances

    @property
    def scrub(self) -> Scrubber:
        """The scrubber for this client's key and secret."""
        return self.polite.scrub

    def _remember(self, resp: requests.Response, *args, **kwargs) -> None:
        self._last.status = resp.status_code
        self._last.retry_after = parse_retry_after(resp.headers.get("Retry-After"))

    def call(self, method: str, **params) -> dict:
        """Call ``method`` (e.g. 'flickr.photos.search') and return its parsed JSON."""
        what = f"Flickr {method} ({self.api.REST_URL})"
        return self.polite.run(what, lambda: self._call_once(method, params))

    def _call_once(self, method: str, params: dict) -> dict:
        from flickrapi.exceptions import FlickrError

        self._last.status, self._last.retry_after = None, None
        try:
            data = self.api.do_flickr_call(method, timeout=self.polite.timeout, **params)
        except requests.Timeout:
            raise Transient(f"timeout after {self.polite.timeout:g} s") from None
        except requests.RequestException as exc:
            detail = f"connection error ({type(exc).__name__}: {str(exc)[:200]})"
            raise Transient(self.scrub(detail)) from None
        except FlickrError as exc:
            raise self._classify(method, exc) from None
        except ValueError as exc:  # json.JSONDecodeError from flickrapi's parser
            raise Transient(self.scrub(f"malformed JSON ({exc})")) from None
        if not isinstance(data, dict) or data.get("stat") != "ok":
            raise Transient(self.scrub(f"unexpected answer {str(data)[:80]!r}"))
        return data

    def _classify(self, method: str, exc) -> Exception:
        status = getattr(self._last, "status", None)
        if exc.code is None:  # an HTTP-level failure
            if status in RETRY_STATUS or status is None:
                return Transient(f"HTTP {status}", getattr(self._last, "retry_after", None))
            return DataError(self.scrub(f"Flickr {method} ({self.api.REST_URL}): HTTP {status}"))
        text = self.scrub(exc)
        if exc.code in RETRY_CODES:
            return Transient(text)
        if exc.code in AUTH_CODES:
            return ConfigError(
                f"Flickr {method}: {text}; check the environment variables {ENV_KEY} and "
                f"{ENV_SECRET}"
            )
        return DataError(f"Flickr {method}: {text}")


# ----------------------------------------------------------------------------- search


def to_epoch(t: int | float | str | datetime | date, *, end: bool = False) -> int:
    """Unix seconds (naive datetimes and strings are UTC); a date-only value with ``end`` means
    the last second of that day."""
    if isinstance(t, bool):
        raise ConfigError(f"flickr: invalid date {t!r}")
    if isinstance(t, int | float):
        return int(t)
    if isinstance(t, datetime):
        return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp())
    if isinstance(t, date):
        t = t.isoformat()
    text = str(t).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            dt = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end:
            dt += timedelta(days=1, seconds=-1)
        return int(dt.timestamp())
    raise ConfigError(f"flickr: invalid date {t!r} (expected 'YYYY-MM-DD[ HH:MM:SS]' or unix time)")


def _fmt_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def check_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` as floats, validated (ConfigError)."""
    try:
        lon0, lat0, lon1, lat1 = (float(x) for x in bbox)
    except (TypeError, ValueError):
        raise ConfigError(f"flickr: bbox {bbox!r} must be 4 numbers") from None
    if not (-180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90):
        raise ConfigError(f"flickr: bbox {bbox!r} is not (min_lon, min_lat, max_lon, max_lat)")
    return lon0, lat0, lon1, lat1


@dataclass(frozen=True)
class Slice:
    """One query: a bounding box and an inclusive taken-date window (unix seconds)."""

    bbox: tuple[float, float, float, float]
    t0: int
    t1: int

    def __str__(self) -> str:
        return f"bbox {self.bbox_param()} x [{_fmt_time(self.t0)}, {_fmt_time(self.t1)}]"

    def bbox_param(self) -> str:
        """Outward-rounded to 1e-6 degrees, so neighbouring tiles overlap rather than gap."""
        lon0, lat0, lon1, lat1 = self.bbox
        lo = [math.floor(x * 1e6) / 1e6 for x in (lon0, lat0)]
        hi = [math.ceil(x * 1e6) / 1e6 for x in (lon1, lat1)]
        return ",".join(f"{x:.6f}" for x in (lo[0], lo[1], hi[0], hi[1]))

    def split(self, min_tile_deg: float, min_window_s: float) -> list[Slice]:
        """4 tiles x 2 time halves, each dimension only while it stays above its minimum;
        [] when neither can be split."""
        lon0, lat0, lon1, lat1 = self.bbox
        tiles = [self.bbox]
        if max(lon1 - lon0, lat1 - lat0) >= 2 * min_tile_deg:
            mx, my = (lon0 + lon1) / 2, (lat0 + lat1) / 2
            tiles = [(lon0, lat0, mx, my), (mx, lat0, lon1, my), (lon0, my, mx, lat1)]
            tiles.append((mx, my, lon1, lat1))
        windows = [(self.t0, self.t1)]
        if self.t1 - self.t0 >= 2 * min_window_s:
            mid = (self.t0 + self.t1) // 2
            windows = [(self.t0, mid), (mid, self.t1)]
        if len(tiles) == 1 and len(windows) == 1:
            return []
        return [Slice(b, a, z) for b in tiles for a, z in windows]


def size_extras(size: str) -> list[str]:
    """``url_<s>`` extras for ``size`` and its fallbacks (smaller sizes, then the original)."""
    return [f"url_{s}" for s in size_fallbacks(size)]


def size_fallbacks(size: str) -> list[str]:
    """Sizes to try in order: ``size``, the smaller ones, then 'o' (original)."""
    if size == "o":
        return ["o"]
    if size not in SIZE_ORDER:
        raise ConfigError(f"flickr: size {size!r} is not one of {', '.join(SIZE_ORDER)}, o")
    return [*SIZE_ORDER[SIZE_ORDER.index(size) :], "o"]


def _search_page(client: Client, s: Slice, page: int, base: dict) -> dict:
    params = dict(base, bbox=s.bbox_param(), page=page)
    params.update(min_taken_date=_fmt_time(s.t0), max_taken_date=_fmt_time(s.t1))
    data = client.call(SEARCH_METHOD, **params)
    photos = data.get("photos")
    if not isinstance(photos, dict) or not isinstance(photos.get("photo"), list):
        raise DataError(f"Flickr {SEARCH_METHOD}: answer without photos.photo list")
    return photos


def _id_key(pid: str) -> tuple[int, str]:
    return (len(pid), pid)  # numeric order for Flickr's integer ids


def search_bbox(
    api,
    bbox: Sequence[float],
    t0,
    t1,
    *,
    cap: int = DEFAULT_CAP,
    per_page: int = 250,
    licenses: Iterable[int | str] | None = None,
    size: str = "l",
    min_tile_deg: float = 0.0005,
    min_window_s: float = 3600,
    progress: bool = False,
    **polite_kw,
) -> list[dict]:
    """All geotagged photos in ``bbox`` taken in [t0, t1] (Flickr photo dicts, sorted by id).

    ``api`` is a :class:`flickrapi.FlickrAPI` (wrapped in a :class:`Client` built with
    ``polite_kw``: rps, retries, timeout, backoff) or a :class:`Client`. ``cap`` is how many
    results Flickr lets one query reach; slices above it are split (see the module doc).
    """
    client = api if isinstance(api, Client) else Client(api, **polite_kw)
    per_page = max(1, min(MAX_PER_PAGE, int(per_page)))
    wanted = None if licenses is None else {str(x) for x in licenses}
    base = {"has_geo": 1, "per_page": per_page, "sort": "date-taken-desc"}
    base["extras"] = ",".join([*BASE_EXTRAS, *size_extras(size)])
    if wanted is not None:
        base["license"] = ",".join(sorted(wanted, key=_id_key))
    start = Slice(check_bbox(bbox), to_epoch(t0), to_epoch(t1, end=True))
    if start.t0 > start.t1:
        raise ConfigError(f"flickr: start date {t0!r} is after end date {t1!r}")
    found: dict[str, dict] = {}
    stack = [start]
    with tqdm(desc="flickr search", unit="page", disable=not progress) as bar:
        while stack:
            s = stack.pop()
            first = _search_page(client, s, 1, base)
            bar.update()
            total = int(first.get("total") or 0)
            children = s.split(min_tile_deg, min_window_s) if total > cap else []
            if children:
                log.info(
                    "flickr: %d photos > cap %d in %s: %d slices", total, cap, s, len(children)
                )
                stack.extend(children)
                continue
            if total > cap:
                log.warning(
                    "flickr: %d photos in %s exceed the cap %d and the slice cannot be split "
                    "further (min_tile_deg=%g, min_window_s=%g): keeping the reachable ones",
                    *(total, s, cap, min_tile_deg, min_window_s),
                )
            _collect(found, first["photo"])
            _page_through(client, s, base, first, cap, found, bar)
    kept = [p for p in found.values() if wanted is None or str(p.get("license")) in wanted]
    log.info("flickr: %d unique photos (%d after the licence filter)", len(found), len(kept))
    return sorted(kept, key=lambda p: _id_key(p["id"]))


def _page_through(client, s: Slice, base: dict, first: dict, cap: int, found: dict, bar) -> None:
    """Pages 2.. of a slice, up to the last one Flickr lets a query reach."""
    last = min(int(first.get("pages") or 1), math.ceil(cap / base["per_page"]))
    for page in range(2, last + 1):
        photos = _search_page(client, s, page, base)["photo"]
        bar.update()
        if not photos:
            break
        _collect(found, photos)


def _collect(found: dict[str, dict], photos: list[dict]) -> None:
    for p in photos:
        pid = str(p.get("id", ""))
        if pid and pid not in found:
            found[pid] = dict(p, id=pid)


# ----------------------------------------------------------------------------- download


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


# ----------------------------------------------------------------------------- top level


def credentials() -> tuple[str, str]:
    """(key, secret) from ``FLICKR_API_KEY`` / ``FLICKR_API_SECRET``; ConfigError if unset."""
    key, secret = os.environ.get(ENV_KEY, ""), os.environ.get(ENV_SECRET, "")
    missing = [name for name, v in ((ENV_KEY, key), (ENV_SECRET, secret)) if not v.strip()]
    if missing:
        raise ConfigError(
            f"Flickr credentials missing: set the environment variable(s) {', '.join(missing)} "
            f"(https://www.flickr.com/services/apps/create/)"
        )
    return key.strip(), secret.strip()


def fetch_flickr(
    bbox: Sequence[float],
    t0,
    t1,
    out_dir: str | os.PathLike,
    table_path: str | os.PathLike,
    *,
    rest_url: str | None = None,
    rps: float | None = 1.0,
    licenses: Iterable[int | str] | None = None,
    size: str = "l",
    retries: int = 5,
    timeout: float = 30.0,
    backoff: float = 1.0,
    progress: bool = True,
    **search_kw,
) -> pd.DataFrame:
    """Search ``bbox`` x [t0, t1], download to ``out_dir`` and write the photo table
    (``path`` relative to the table's folder) to ``table_path``; returns the table.

    ``search_kw`` go to :func:`search_bbox` (cap, per_page, min_tile_deg, min_window_s).
    DataError when the search finds nothing or no photo could be downloaded; no message, log
    line or file holds the key or secret.
    """
    key, secret = credentials()
    scrub = Scrubber([key, secret])
    polite = Polite(rps=rps, retries=retries, timeout=timeout, backoff=backoff, scrub=scrub)
    try:
        client = Client(make_api(key, secret, rest_url=rest_url), polite)
        search_kw.update(licenses=licenses, size=size, progress=progress)
        photos = search_bbox(client, bbox, t0, t1, **search_kw)
        if not photos:
            lic = "" if licenses is None else f" with licence(s) {sorted(map(str, licenses))}"
            raise DataError(
                f"Flickr search found no geotagged photos in bbox {list(check_bbox(bbox))} "
                f"taken between {t0} and {t1}{lic}"
            )
        return _download_table(photos, Path(out_dir), Path(table_path), size, polite, progress)
    except VGError as exc:
        if scrub(exc) == str(exc):
            raise
        raise type(exc)(scrub(exc)) from None
    except Exception as exc:  # anything unforeseen: never let the key or secret through
        raise DataError(f"Flickr fetch failed: {type(exc).__name__}: {scrub(exc)}") from None


def _download_table(photos, out_dir: Path, table_path: Path, size, polite, progress):
    rows = download(
        photos, out_dir, size=size, root=table_path.parent, progress=progress, polite=polite
    )
    if not any(r["keep"] for r in rows):
        reasons = sorted({r["reason"] for r in rows})[:3]
        raise DataError(f"{out_dir}: none of {len(rows)} Flickr photos downloaded ({reasons})")
    df = pd.DataFrame(rows, columns=list(PHOTO_COLUMNS))
    write_table(df, table_path)
    log.info("flickr: wrote %s (%d photos, %d kept)", table_path, len(df), int(df["keep"].sum()))
    return df
