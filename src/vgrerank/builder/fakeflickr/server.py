"""The fake Flickr HTTP server (:class:`FakeFlickr`, :class:`Handler`) and :func:`serve` for
in-process use.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from ..loopback import LOCALHOST, LoopbackServer, check_loopback
from .collection import REST_PATH, Photo, load_collection, size_dims
from .faults import Faults
from .rest import INVALID_KEY, INVALID_SIG, api_sig_valid, fail, oauth_header, oauth_valid, search

log = logging.getLogger(__name__)

_IMG_RE = re.compile(r"^/img/([A-Za-z0-9@.\-]+)_([a-z])\.jpg$")


class FakeFlickr(ThreadingHTTPServer):
    """The server: collection, faults, configured key/secret, and a request log."""

    daemon_threads = True

    def __init__(
        self,
        collection: str | os.PathLike,
        faults: Faults | dict | str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        host: str = LOCALHOST,
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
        super().__init__((check_loopback(host, "the fake Flickr"), port), Handler)

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
        oauth = oauth_header(self.headers)
        key = params.get("api_key") or oauth.get("oauth_consumer_key")
        srv = self.server
        if srv.api_key is not None and key != srv.api_key:
            return INVALID_KEY
        if srv.api_secret is not None:
            if oauth and not oauth_valid(self, body, srv.api_secret):
                return INVALID_SIG
            if not oauth and "api_sig" in params and not api_sig_valid(params, srv.api_secret):
                return INVALID_SIG
        if params.get("format", "rest") != "json":
            return fail(111, f'Format "{params.get("format", "rest")}" not found')
        if method == "flickr.photos.search":
            return search(srv, params)
        return fail(112, f'Method "{method}" not found')

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
    with LoopbackServer(server, "fakeflickr").start():
        yield server
