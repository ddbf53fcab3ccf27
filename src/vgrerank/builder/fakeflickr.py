"""A local stand-in for Flickr's REST JSON API and image hosts, for tests and offline demos.

It serves a *collection directory*: ``<dir>/photos.json`` is a list of photo records
``{"id", "owner", "ownername", "title", "latitude", "longitude", "accuracy", "datetaken"
('YYYY-MM-DD HH:MM:SS'), "license" (Flickr licence id 0-10), "file" (path relative to the
directory), "width", "height"}``. Only the files named there are served (as
``/img/<id>_<size>.jpg``); anything else in the directory (e.g. ``truth.csv``) never is.

The REST endpoint (``<url>/services/rest/``) answers what :class:`flickrapi.FlickrAPI` with
``format='parsed-json'`` sends: a form-encoded POST signed with OAuth 1 (HMAC-SHA1; the key is
the ``oauth_consumer_key`` of the ``Authorization`` header), or a plain GET/POST with ``api_key``
(and optionally the legacy md5 ``api_sig``). The key must equal the configured one, else the
answer is Flickr's ``{"stat": "fail", "code": 100, ...}``; when a secret is configured the
signature is checked too (code 96). Method ``flickr.photos.search`` supports ``bbox``,
``min/max_taken_date`` (unix time or 'YYYY-MM-DD[ HH:MM:SS]', inclusive, naive UTC), ``has_geo``,
``license``, ``extras``, ``sort`` (date-taken-asc, else newest first), ``per_page`` (max 500),
``page``. Like Flickr, at most ``cap`` (4000) results are reachable per query (``total`` still
reports the true count; later pages repeat the last reachable one), and a geo query without a
taken-date limit only sees recent photos (taken within 12 h before the newest one).

Faults (:class:`Faults`, from a dict or a JSON file) make it misbehave on purpose: HTTP 500/503,
429 with ``Retry-After``, timeouts (sleeps ``timeout_s``), malformed JSON, per REST request
number or per method call; per image id: 404 (disappeared), 500, a truncated file, a transfer
cut mid-way; ids repeated across pages; a slower image host; another cap.

In-process use: ``with serve(collection, faults) as server: server.rest_url``. As a process
(for a Snakemake rule)::

    python -m vgrerank.builder.fakeflickr --collection DIR --pid-file F --port-file F \
        [--faults JSON] [--log-file F]
    python -m vgrerank.builder.fakeflickr --stop --pid-file F

The key (and, if set, the secret) are read from the environment (``--api-key-env``,
``--api-secret-env``, default FLICKR_API_KEY / FLICKR_API_SECRET), never from the command line.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import io
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, DataError
from ..io import atomic_path

log = logging.getLogger(__name__)

DEFAULT_CAP = 4000
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
RECENT_WINDOW_S = 12 * 3600
REST_PATH = "/services/rest/"
# Flickr's size suffixes and their longest side; 'o' is the original file.
SIZES = {"n": 320, "m": 500, "z": 640, "c": 800, "l": 1024, "h": 1600, "k": 2048}
REST_FAULTS = ("ok", "500", "503", "429", "timeout", "malformed")
IMAGE_FAULTS = ("ok", "404", "500", "truncated", "cut")
INVALID_KEY = {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}
INVALID_SIG = {"stat": "fail", "code": 96, "message": "Invalid signature"}
_IMG_RE = re.compile(r"^/img/([A-Za-z0-9@.\-]+)_([a-z])\.jpg$")


# ----------------------------------------------------------------------------- collection


@dataclass(frozen=True)
class Photo:
    """One photo of the collection (``photos.json`` record)."""

    id: str
    owner: str
    ownername: str
    title: str
    latitude: float | None
    longitude: float | None
    accuracy: int
    datetaken: str
    taken_ts: int
    license: int
    file: Path
    width: int
    height: int


def parse_date(value: str | int | float) -> int:
    """Unix seconds of a Flickr date parameter: unix time or 'YYYY-MM-DD[ HH:MM:SS]' (UTC)."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text))
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


def _photo_from_record(rec: dict, root: Path, where: str) -> Photo:
    try:
        file = (root / rec["file"]).resolve()
        if not file.is_relative_to(root.resolve()):
            raise ValueError(f"file {rec['file']!r} is outside the collection")
        lat, lon = rec.get("latitude"), rec.get("longitude")
        return Photo(
            id=str(rec["id"]),
            owner=str(rec.get("owner", "")),
            ownername=str(rec.get("ownername", "")),
            title=str(rec.get("title", "")),
            latitude=None if lat is None else float(lat),
            longitude=None if lon is None else float(lon),
            accuracy=int(rec.get("accuracy", 16)),
            datetaken=str(rec["datetaken"]),
            taken_ts=parse_date(rec["datetaken"]),
            license=int(rec.get("license", 0)),
            file=file,
            width=int(rec["width"]),
            height=int(rec["height"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: bad photo record ({type(exc).__name__}: {exc})") from exc


def load_collection(directory: str | os.PathLike) -> list[Photo]:
    """Read ``<directory>/photos.json``; ids must be unique."""
    root = Path(directory)
    index = root / "photos.json"
    if not index.is_file():
        raise DataError(f"{index}: collection index not found")
    try:
        records = json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{index}: unreadable collection index ({exc})") from exc
    if not isinstance(records, list):
        raise DataError(f"{index}: expected a JSON list of photo records")
    photos = [_photo_from_record(r, root, f"{index}[{i}]") for i, r in enumerate(records)]
    ids = [p.id for p in photos]
    if len(set(ids)) != len(ids):
        raise DataError(f"{index}: duplicate photo ids")
    return photos


# ----------------------------------------------------------------------------- faults


def _check_kind(kind: str, allowed: tuple[str, ...], where: str) -> str:
    kind = str(kind)
    if kind not in allowed:
        raise ConfigError(f"faults.{where}: unknown fault {kind!r} (one of {', '.join(allowed)})")
    return kind


@dataclass
class Faults:
    """What the fake server does wrong, and when.

    - ``requests``: REST request number (1-based, over all methods) -> fault,
    - ``methods``: method name -> faults for its 1st, 2nd, ... call (then 'ok'),
    - ``images``: photo id -> fault for every request, or a list for its 1st, 2nd, ... request,
    - ``duplicates``: page number -> how many photos of the previous page repeat at its start,
    - ``cap``: results reachable per query; ``beyond_cap``: 'repeat' (last reachable page) or
      'empty' for pages past it,
    - ``retry_after`` (s, the 429 header), ``timeout_s`` (how long a 'timeout' sleeps),
      ``image_delay_s`` (every image answer is this slow).

    REST faults: 'ok', '500', '503', '429', 'timeout', 'malformed'; image faults: 'ok', '404',
    '500', 'truncated' (a consistent but cut JPEG), 'cut' (connection closed mid-body).
    """

    requests: dict[int, str] = field(default_factory=dict)
    methods: dict[str, list[str]] = field(default_factory=dict)
    images: dict[str, str | list[str]] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    cap: int = DEFAULT_CAP
    beyond_cap: str = "repeat"
    retry_after: float = 1.0
    timeout_s: float = 5.0
    image_delay_s: float = 0.0

    @classmethod
    def from_obj(cls, obj: Faults | dict | str | os.PathLike | None) -> Faults:
        """Build from a dict, a JSON file path, inline JSON text, or None (no faults)."""
        if obj is None:
            return cls()
        if isinstance(obj, Faults):
            return obj
        if not isinstance(obj, dict):
            obj = _load_json_arg(obj)
        unknown = set(obj) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"faults: unknown key(s) {sorted(unknown)}")
        faults = cls(
            requests={
                int(k): _check_kind(v, REST_FAULTS, f"requests.{k}")
                for k, v in obj.get("requests", {}).items()
            },
            methods={
                m: [_check_kind(v, REST_FAULTS, f"methods.{m}") for v in vs]
                for m, vs in obj.get("methods", {}).items()
            },
            images={str(k): v for k, v in obj.get("images", {}).items()},
            duplicates={int(k): int(v) for k, v in obj.get("duplicates", {}).items()},
            cap=int(obj.get("cap", DEFAULT_CAP)),
            beyond_cap=str(obj.get("beyond_cap", "repeat")),
            retry_after=float(obj.get("retry_after", 1.0)),
            timeout_s=float(obj.get("timeout_s", 5.0)),
            image_delay_s=float(obj.get("image_delay_s", 0.0)),
        )
        for pid, v in faults.images.items():
            for kind in [v] if isinstance(v, str) else v:
                _check_kind(kind, IMAGE_FAULTS, f"images.{pid}")
        if faults.beyond_cap not in ("repeat", "empty"):
            raise ConfigError(f"faults.beyond_cap: {faults.beyond_cap!r} (repeat or empty)")
        return faults


def _load_json_arg(arg: str | os.PathLike) -> dict:
    text = str(arg)
    if text.lstrip().startswith("{"):
        where = "inline faults JSON"
    else:
        where = text
        try:
            text = Path(arg).read_text()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read faults file ({exc})") from exc
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: faults must be a JSON object")
    return obj


# ----------------------------------------------------------------------------- search


def _fail(code: int, message: str) -> dict:
    return {"stat": "fail", "code": code, "message": message}


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = [float(x) for x in text.split(",")]
    if len(parts) != 4:
        raise ValueError(text)
    lon0, lat0, lon1, lat1 = parts
    if not (-180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90):
        raise ValueError(text)
    return lon0, lat0, lon1, lat1


def _photo_json(server: FakeFlickr, p: Photo, extras: set[str]) -> dict:
    out = {
        "id": p.id,
        "owner": p.owner,
        "secret": hashlib.sha1(p.id.encode()).hexdigest()[:10],
        "server": "65535",
        "farm": 66,
        "title": p.title,
        "ispublic": 1,
        "isfriend": 0,
        "isfamily": 0,
    }
    if "license" in extras:
        out["license"] = str(p.license)
    if "date_taken" in extras:
        out.update(datetaken=p.datetaken, datetakengranularity=0, datetakenunknown="0")
    if "owner_name" in extras:
        out["ownername"] = p.ownername
    if "geo" in extras and p.latitude is not None:
        out.update(
            latitude=f"{p.latitude:.6f}", longitude=f"{p.longitude:.6f}", accuracy=str(p.accuracy)
        )
    for size in ["o", *SIZES]:
        dims = size_dims(p, size)
        if f"url_{size}" in extras and dims is not None:
            out[f"url_{size}"] = f"{server.url}/img/{p.id}_{size}.jpg"
            out[f"width_{size}"], out[f"height_{size}"] = dims
    return out


def size_dims(p: Photo, size: str) -> tuple[int, int] | None:
    """(width, height) of size ``size`` of ``p``; None if Flickr would not offer it."""
    if size == "o":
        return p.width, p.height
    long_side = max(p.width, p.height)
    if size not in SIZES or SIZES[size] > long_side:
        return None
    scale = SIZES[size] / long_side
    return max(1, round(p.width * scale)), max(1, round(p.height * scale))


def _matches(server: FakeFlickr, params: dict) -> list[Photo]:
    photos = server.photos
    geo = any(k in params for k in ("bbox", "lat", "lon", "has_geo"))
    dated = any(k in params for k in ("min_taken_date", "max_taken_date"))
    dated |= any(k in params for k in ("min_upload_date", "max_upload_date"))
    if "bbox" in params:
        lon0, lat0, lon1, lat1 = _parse_bbox(params["bbox"])
        photos = [
            p
            for p in photos
            if p.latitude is not None and lat0 <= p.latitude <= lat1 and lon0 <= p.longitude <= lon1
        ]
    if params.get("has_geo") in ("1", "true"):
        photos = [p for p in photos if p.latitude is not None]
    if "min_taken_date" in params:
        t0 = parse_date(params["min_taken_date"])
        photos = [p for p in photos if p.taken_ts >= t0]
    if "max_taken_date" in params:
        t1 = parse_date(params["max_taken_date"])
        photos = [p for p in photos if p.taken_ts <= t1]
    if geo and not dated and server.photos:
        newest = max(p.taken_ts for p in server.photos)
        photos = [p for p in photos if p.taken_ts >= newest - RECENT_WINDOW_S]
    if params.get("license"):
        allowed = {int(x) for x in params["license"].split(",") if x.strip()}
        photos = [p for p in photos if p.license in allowed]
    ascending = params.get("sort") == "date-taken-asc"
    key = (lambda p: (p.taken_ts, p.id)) if ascending else (lambda p: (-p.taken_ts, p.id))
    return sorted(photos, key=key)


def search(server: FakeFlickr, params: dict) -> dict:
    """The ``flickr.photos.search`` answer for ``params`` (a JSON-able dict)."""
    try:
        found = _matches(server, params)
        per_page = min(MAX_PER_PAGE, max(1, int(params.get("per_page", DEFAULT_PER_PAGE))))
        page = max(1, int(params.get("page", 1)))
    except ValueError as exc:
        return _fail(3, f"Invalid parameter: {exc}")
    faults = server.faults
    total = len(found)
    reachable = found[: faults.cap]
    start = (page - 1) * per_page
    if start >= len(reachable):
        if faults.beyond_cap == "repeat" and reachable:
            start = (len(reachable) - 1) // per_page * per_page
        else:
            start = len(reachable)
    chosen = reachable[start : start + per_page]
    repeat = faults.duplicates.get(page, 0)
    if repeat and start > 0:
        chosen = reachable[max(0, start - repeat) : start] + chosen
    extras = {x.strip() for x in params.get("extras", "").split(",") if x.strip()}
    return {
        "photos": {
            "page": page,
            "pages": math.ceil(total / per_page),
            "perpage": per_page,
            "total": total,
            "photo": [_photo_json(server, p, extras) for p in chosen],
        },
        "stat": "ok",
    }


# ----------------------------------------------------------------------------- auth


def _oauth_header(headers) -> dict[str, str]:
    value = headers.get("Authorization", "")
    if not value.startswith("OAuth "):
        return {}
    from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

    try:
        return {k: unquote(v) for k, v in parse_authorization_header(value)}
    except ValueError:
        return {}


def _oauth_valid(handler: Handler, body: str, secret: str) -> bool:
    from oauthlib.oauth1.rfc5849 import signature as sig
    from oauthlib.oauth1.rfc5849.utils import escape

    params = sig.collect_parameters(
        uri_query=urlsplit(handler.path).query,
        body=body,
        headers={"Authorization": handler.headers["Authorization"]},
    )
    uri = sig.base_string_uri(f"http://{handler.headers['Host']}{handler.path}")
    base = sig.signature_base_string(handler.command, uri, sig.normalize_parameters(params))
    key = escape(secret) + "&"  # no token secret: app-only (unauthenticated) calls
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    return hmac.compare_digest(_oauth_header(handler.headers).get("oauth_signature", ""), expected)


def _api_sig_valid(params: dict, secret: str) -> bool:
    text = secret + "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "api_sig")
    return hashlib.md5(text.encode()).hexdigest() == params.get("api_sig")


# ----------------------------------------------------------------------------- server


class FakeFlickr(ThreadingHTTPServer):
    """The server: collection, faults, configured key/secret, and a request log."""

    daemon_threads = True

    def __init__(
        self,
        collection: str | os.PathLike,
        faults: Faults | dict | str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_file: str | os.PathLike | None = None,
    ):
        self.collection = Path(collection)
        self.photos = load_collection(self.collection)
        self.by_id = {p.id: p for p in self.photos}
        self.faults = Faults.from_obj(faults)
        self.api_key = api_key
        self.api_secret = api_secret
        self.log_file = Path(log_file) if log_file else None
        self.requests_log: list[dict] = []
        self._lock = threading.Lock()
        self._rest_count = 0
        self._method_counts: dict[str, int] = {}
        self._image_counts: dict[str, int] = {}
        self._image_cache: dict[tuple[str, str], bytes] = {}
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def rest_url(self) -> str:
        """What to put in ``FlickrAPI.REST_URL``."""
        return self.url + REST_PATH

    def record(self, **entry) -> None:
        """Append to the request log (and the log file, one JSON object a line)."""
        with self._lock:
            entry = {"n": len(self.requests_log) + 1, "t": time.time(), **entry}
            self.requests_log.append(entry)
            if self.log_file is not None:
                with self.log_file.open("a") as fh:
                    fh.write(json.dumps(entry) + "\n")

    def image_requests(self) -> list[str]:
        """Photo ids of every image request so far, in order."""
        with self._lock:
            return [e["photo_id"] for e in self.requests_log if e["kind"] == "img"]

    def next_rest_fault(self, method: str) -> str:
        """Count this REST request and return its fault ('ok' when none)."""
        with self._lock:
            self._rest_count += 1
            k = self._method_counts.get(method, 0)
            self._method_counts[method] = k + 1
            by_n = self.faults.requests.get(self._rest_count)
            by_method = self.faults.methods.get(method, [])
        if by_n is not None:
            return by_n
        return by_method[k] if k < len(by_method) else "ok"

    def next_image_fault(self, photo_id: str) -> str:
        """Count this image request and return its fault ('ok' when none)."""
        with self._lock:
            k = self._image_counts.get(photo_id, 0)
            self._image_counts[photo_id] = k + 1
        spec = self.faults.images.get(photo_id, "ok")
        if isinstance(spec, str):
            return spec
        return spec[k] if k < len(spec) else "ok"

    def image_bytes(self, photo: Photo, size: str) -> bytes | None:
        """The JPEG bytes of ``photo`` at ``size``; None when missing or not offered."""
        dims = size_dims(photo, size)
        if dims is None or not photo.file.is_file():
            return None
        if size == "o":
            return photo.file.read_bytes()
        with self._lock:
            cached = self._image_cache.get((photo.id, size))
        if cached is None:
            from PIL import Image

            with Image.open(photo.file) as im:
                buf = io.BytesIO()
                im.convert("RGB").resize(dims).save(buf, format="JPEG", quality=90)
            cached = buf.getvalue()
            with self._lock:
                self._image_cache[(photo.id, size)] = cached
        return cached


class Handler(BaseHTTPRequestHandler):
    """Routes ``/services/rest/`` and ``/img/<id>_<size>.jpg``; everything else is 404."""

    server: FakeFlickr
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        """Quiet; the path without its query (it may hold an api_key) at debug level."""
        log.debug("fakeflickr %s %s", self.command, urlsplit(self.path).path)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._route(body="")

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._route(body=self.rfile.read(length).decode("utf-8", "replace"))

    def _route(self, body: str) -> None:
        path = urlsplit(self.path).path
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if path.rstrip("/") == REST_PATH.rstrip("/"):
                self._rest(body)
            elif match := _IMG_RE.match(path):
                self._image(match.group(1), match.group(2))
            else:
                self._send(404, b"Not Found", "text/plain")

    def _send(self, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, obj: dict, params: dict) -> None:
        text = json.dumps(obj)
        if params.get("nojsoncallback") not in ("1", "true"):
            text = f"jsonFlickrApi({text})"
        self._send(200, text.encode(), "application/json")

    # -- REST

    def _rest(self, body: str) -> None:
        params = dict(parse_qsl(urlsplit(self.path).query))
        params.update(parse_qsl(body))
        method = params.get("method", "")
        fault = self.server.next_rest_fault(method)
        self.server.record(kind="rest", method=method, fault=fault, photo_id=None, size=None)
        if fault in ("500", "503"):
            self._send(int(fault), b"Internal Server Error", "text/plain")
        elif fault == "429":
            headers = {"Retry-After": f"{self.server.faults.retry_after:g}"}
            self._send(429, b"Too Many Requests", "text/plain", headers)
        elif fault == "malformed":
            self._send(200, b'{"photos": {"page": 1, "pages": ', "application/json")
        else:
            if fault == "timeout":
                time.sleep(self.server.faults.timeout_s)
            self._send_json(self._answer(method, params, body), params)

    def _answer(self, method: str, params: dict, body: str) -> dict:
        oauth = _oauth_header(self.headers)
        key = params.get("api_key") or oauth.get("oauth_consumer_key")
        srv = self.server
        if srv.api_key is not None and key != srv.api_key:
            return INVALID_KEY
        if srv.api_secret is not None:
            if oauth and not _oauth_valid(self, body, srv.api_secret):
                return INVALID_SIG
            if not oauth and "api_sig" in params and not _api_sig_valid(params, srv.api_secret):
                return INVALID_SIG
        if params.get("format", "rest") != "json":
            return _fail(111, f'Format "{params.get("format", "rest")}" not found')
        if method == "flickr.photos.search":
            return search(srv, params)
        return _fail(112, f'Method "{method}" not found')

    # -- images

    def _image(self, photo_id: str, size: str) -> None:
        fault = self.server.next_image_fault(photo_id)
        self.server.record(kind="img", method=None, fault=fault, photo_id=photo_id, size=size)
        if self.server.faults.image_delay_s:
            time.sleep(self.server.faults.image_delay_s)
        photo = self.server.by_id.get(photo_id)
        data = None if photo is None else self.server.image_bytes(photo, size)
        if fault == "404" or data is None:
            self._send(404, b"Not Found", "text/plain")
        elif fault == "500":
            self._send(500, b"Internal Server Error", "text/plain")
        elif fault == "truncated":
            self._send(200, data[: len(data) // 2], "image/jpeg")
        elif fault == "cut":
            self._send_cut(data)
        else:
            self._send(200, data, "image/jpeg")

    def _send_cut(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@contextlib.contextmanager
def serve(
    collection: str | os.PathLike,
    faults: Faults | dict | str | None = None,
    api_key: str | None = "test-key",
    api_secret: str | None = None,
    log_file: str | os.PathLike | None = None,
) -> Iterator[FakeFlickr]:
    """Run a :class:`FakeFlickr` on a free local port in a thread for the ``with`` block."""
    server = FakeFlickr(collection, faults, api_key, api_secret, log_file=log_file)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakeflickr", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ----------------------------------------------------------------------------- CLI


def _write_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _is_fakeflickr(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"fakeflickr" in cmdline


def stop(pid_file: str | os.PathLike, wait_s: float = 10.0) -> bool:
    """SIGTERM the server whose pid is in ``pid_file`` (only if it is a fakeflickr process) and
    wait for it to exit; True if one was stopped."""
    path = Path(pid_file)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        log.warning("%s: no readable pid; nothing to stop", path)
        return False
    if not _is_fakeflickr(pid):
        log.warning("%s: process %d is not a running fakeflickr; nothing to stop", path, pid)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and _is_fakeflickr(pid):
        time.sleep(0.05)
    return True


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vgrerank.builder.fakeflickr", description=__doc__)
    ap.add_argument("--collection", help="collection directory (with photos.json)")
    ap.add_argument("--pid-file", required=True, help="written atomically once listening")
    ap.add_argument("--port-file", help="written atomically (after the pid file) with the port")
    ap.add_argument("--faults", help="faults JSON file, or inline JSON")
    ap.add_argument("--log-file", help="append every request as a JSON line")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--api-key-env", default="FLICKR_API_KEY", help="env var with the key")
    ap.add_argument("--api-secret-env", default="FLICKR_API_SECRET", help="env var, secret")
    ap.add_argument("--stop", action="store_true", help="stop the server of --pid-file")
    return ap


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: serve until SIGTERM/SIGINT (or ``--stop`` a running one)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.stop:
        stop(args.pid_file)
        return 0
    if not args.collection or not args.port_file:
        raise ConfigError("fakeflickr: --collection and --port-file are required to serve")
    api_key = os.environ.get(args.api_key_env) or None
    api_secret = os.environ.get(args.api_secret_env) or None
    if api_key is None:
        log.warning("fakeflickr: %s is not set: any API key is accepted", args.api_key_env)
    server = FakeFlickr(
        args.collection, args.faults, api_key, api_secret, args.host, 0, args.log_file
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    thread = threading.Thread(target=server.serve_forever, name="fakeflickr", daemon=True)
    thread.start()
    _write_atomic(Path(args.pid_file), f"{os.getpid()}\n")
    _write_atomic(Path(args.port_file), f"{server.server_address[1]}\n")
    log.info("fakeflickr: %d photos on %s", len(server.photos), server.rest_url)
    while not done.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    log.info("fakeflickr: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
