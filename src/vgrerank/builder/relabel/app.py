"""The manual relabel page: a local web app to fix wrong geotags of night query photos.

The reviewer sees one query photo beside its top database candidates (ordered by a re-ranking
score when given, else by distance to the photo's position), and an offline map (SVG over the
database positions) with the photo's position as a draggable marker. Each decision (accept a
candidate's position, keep the current or dragged position, reject the photo) rewrites one row
of the corrections CSV (:mod:`.corrections`), which the next workflow run applies.

The server uses the standard library only, binds to a loopback address (port 0 = a free port)
and serves only the page, its two assets and the image files of the given tables (by row
number, so no path from the client ever reaches the file system).

JSON API (all responses JSON; errors are ``{"error": message}`` with a 4xx status):

- ``GET /api/queries``: ``{"queries": [{photo_id, index, action}], "reviewed", "ranking"}``,
- ``GET /api/query?photo_id=ID``: the photo, its geotag, current position and decision, its
  candidates and the map area (see :meth:`RelabelState.query_detail`),
- ``POST /api/decision`` (``application/json``): ``{photo_id, action, latitude, longitude,
  candidate}`` -> ``{"correction": row, "reviewed": n}``,
- ``GET /image/query/<i>``, ``GET /image/db/<i>``: the image file of row ``i``.

Command line (prints the URL; Ctrl-C stops)::

    python -m vgrerank.builder.relabel.app --photos photos.parquet --database-dir DB \\
        --corrections corrections.csv [--candidates rerank.parquet] [--kept-in STAGE.parquet] \\
        [--port-file F] [--port P] [--top-k K]
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import re
import sys
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from ...errors import DataError
from ..loopback import LOCALHOST, LoopbackServer, check_loopback, write_port_file
from .loaders import load_candidates, load_database, load_photos
from .state import RelabelState, RequestError

__all__ = [
    "RelabelHandler",
    "RelabelHTTPServer",
    "RelabelServer",
    "RelabelState",
    "RequestError",
    "check_loopback",
    "load_candidates",
    "load_database",
    "load_photos",
    "main",
    "serve",
]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {"index.html", "app.js", "style.css"}
MAX_BODY_BYTES = 64 * 1024


# -- HTTP --------------------------------------------------------------------------------------

IMAGE_ROUTE = re.compile(r"^/image/(query|db)/(\d{1,12})$")
LOOPBACK_NAMES = {"localhost", LOCALHOST, "[::1]"}


class RelabelHandler(BaseHTTPRequestHandler):
    """Routes requests to the server's :class:`RelabelState`."""

    server: RelabelHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch(self._get)

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def _dispatch(self, route) -> None:
        try:
            self._check_host()
            route(urlsplit(self.path))
        except RequestError as exc:
            self._send_json({"error": str(exc)}, exc.status)
        except DataError as exc:
            self._send_json({"error": str(exc)}, HTTPStatus.INTERNAL_SERVER_ERROR)
        except Exception as exc:  # a bug: answer 500 instead of dropping the connection
            log.exception("relabel request %s failed", self.path)
            self._send_json({"error": f"internal error: {exc}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _check_host(self) -> None:
        """Refuse requests for other host names (DNS rebinding of a local port)."""
        host = (self.headers.get("Host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOOPBACK_NAMES and not name.startswith("127."):
            raise RequestError(f"host {host!r} not served", HTTPStatus.FORBIDDEN)

    def _get(self, url) -> None:
        state = self.server.state
        if url.path in ("/", "/index.html"):
            self._send_file(STATIC_DIR / "index.html")
        elif url.path.startswith("/static/") and url.path[8:] in STATIC_FILES:
            self._send_file(STATIC_DIR / url.path[8:])
        elif url.path == "/api/queries":
            self._send_json(state.query_list())
        elif url.path == "/api/query":
            ids = parse_qs(url.query).get("photo_id")
            if not ids:
                raise RequestError("missing ?photo_id=")
            self._send_json(state.query_detail(ids[0]))
        elif m := IMAGE_ROUTE.match(url.path):
            self._send_image(state.image_path(m[1], int(m[2])))
        else:
            raise RequestError(f"not found: {url.path}", HTTPStatus.NOT_FOUND)

    def _post(self, url) -> None:
        if url.path != "/api/decision":
            raise RequestError(f"not found: {url.path}", HTTPStatus.NOT_FOUND)
        self._send_json(self.server.state.decide(self._read_json()))

    def _read_json(self):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise RequestError("POST needs Content-Type: application/json")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestError("bad Content-Length") from None
        if not 0 < length <= MAX_BODY_BYTES:
            raise RequestError(f"body must be 1..{MAX_BODY_BYTES} bytes")
        try:
            return json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(f"invalid JSON ({exc})") from None

    def _send_image(self, path: Path | None) -> None:
        if path is None or not path.is_file():
            raise RequestError("image not found", HTTPStatus.NOT_FOUND)
        self._send_file(path, cache="private, max-age=3600")

    def _send_file(self, path: Path, cache: str = "no-cache") -> None:
        try:
            body = path.read_bytes()
        except OSError:
            raise RequestError(f"cannot read {path.name}", HTTPStatus.NOT_FOUND) from None
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(body, ctype, HTTPStatus.OK, cache)

    def _send_json(self, obj, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(obj, allow_nan=False).encode()
        self._send(body, "application/json", status, "no-store")

    def _send(self, body: bytes, ctype: str, status: HTTPStatus, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        if status >= 400:  # an unread request body must not be parsed as the next request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class RelabelHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the review state."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: RelabelState):
        self.state = state
        super().__init__(address, RelabelHandler)


class RelabelServer(LoopbackServer):
    """A running relabel server (background thread); ``stop()`` or use as a context manager."""

    def __init__(self, state: RelabelState, host: str = LOCALHOST, port: int = 0):
        self.state = state
        host = check_loopback(host, "the relabel page")
        super().__init__(RelabelHTTPServer((host, port), state), "relabel-http")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


def serve(
    queries: pd.DataFrame,
    database: pd.DataFrame,
    corrections_csv: str | Path,
    candidates: Mapping[str, Sequence[tuple[str, float]]] | None = None,
    host: str = LOCALHOST,
    port: int = 0,
    top_k: int = 10,
) -> RelabelServer:
    """Start the relabel page in a background thread and return the running server.

    ``queries``: ``photo_id, path, latitude, longitude``; ``database``: ``name, path, latitude,
    longitude`` (paths are image files); ``candidates``: photo id -> ``[(db name, score)]`` or
    None to show the ``top_k`` nearest database images. ``port=0`` picks a free port; read it
    from ``server.url``. Raises :class:`DataError` for a malformed corrections CSV."""
    state = RelabelState(queries, database, corrections_csv, candidates, top_k=top_k)
    return RelabelServer(state, host, port).start()


# -- command line ------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="vgrerank-relabel", description="Review and correct query geotags in a browser."
    )
    ap.add_argument("--photos", required=True, help="photos table (.parquet or .csv)")
    ap.add_argument("--database-dir", required=True, help="VG database folder (@UTM names)")
    ap.add_argument("--corrections", required=True, help="corrections CSV (created/updated)")
    ap.add_argument("--candidates", help="re-ranking parquet; default: nearest database images")
    ap.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    ap.add_argument("--port-file", help="write the chosen port to this file")
    ap.add_argument("--top-k", type=int, default=10, help="candidates shown per photo")
    ap.add_argument(
        "--kept-in", help="stage table: review only the photos it keeps (e.g. the dedup output)"
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        photos = load_photos(args.photos, args.kept_in)
        database = load_database(args.database_dir)
        cands = load_candidates(args.candidates, photos) if args.candidates else None
        server = serve(photos, database, args.corrections, cands, port=args.port, top_k=args.top_k)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.port_file:
        write_port_file(args.port_file, server.port)
    print(f"relabel page: {server.url}  ({len(photos)} photos; Ctrl-C to stop)", flush=True)
    server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
