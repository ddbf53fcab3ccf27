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

Modules: :mod:`.collection` (photos.json), :mod:`.faults`, :mod:`.rest` (search and auth),
:mod:`.server` (HTTP server, :func:`serve`), :mod:`.cli` (the process; also ``__main__``).
"""

from __future__ import annotations

from .cli import main, stop
from .collection import REST_PATH, SIZES, Photo, load_collection, parse_date, size_dims
from .faults import DEFAULT_CAP, IMAGE_FAULTS, REST_FAULTS, Faults
from .rest import (
    DEFAULT_PER_PAGE,
    INVALID_KEY,
    INVALID_SIG,
    MAX_PER_PAGE,
    RECENT_WINDOW_S,
    search,
)
from .server import FakeFlickr, Handler, serve

__all__ = [
    "DEFAULT_CAP",
    "DEFAULT_PER_PAGE",
    "IMAGE_FAULTS",
    "INVALID_KEY",
    "INVALID_SIG",
    "MAX_PER_PAGE",
    "RECENT_WINDOW_S",
    "REST_FAULTS",
    "REST_PATH",
    "SIZES",
    "FakeFlickr",
    "Faults",
    "Handler",
    "Photo",
    "load_collection",
    "main",
    "parse_date",
    "search",
    "serve",
    "size_dims",
    "stop",
]
