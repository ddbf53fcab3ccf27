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

Modules: :mod:`.polite` (scrubbing, rate limit, retries), :mod:`.client` (the API client),
:mod:`.search`, :mod:`.download`, :mod:`.fetch` (:func:`fetch_flickr`).
"""

from __future__ import annotations

from .client import AUTH_CODES, ENV_KEY, ENV_SECRET, RETRY_CODES, Client, make_api
from .download import SAFE_ID, Failed, base_row, decode_check, download, pick_url
from .fetch import credentials, fetch_flickr
from .polite import (
    LEAKY_LOGGERS,
    RETRY_STATUS,
    Polite,
    RateLimiter,
    Scrubber,
    Transient,
    guard_logs,
    parse_retry_after,
)
from .search import (
    BASE_EXTRAS,
    DEFAULT_CAP,
    MAX_PER_PAGE,
    SEARCH_METHOD,
    SIZE_ORDER,
    Slice,
    check_bbox,
    search_bbox,
    size_extras,
    size_fallbacks,
    to_epoch,
)

__all__ = [
    "AUTH_CODES",
    "BASE_EXTRAS",
    "DEFAULT_CAP",
    "ENV_KEY",
    "ENV_SECRET",
    "LEAKY_LOGGERS",
    "MAX_PER_PAGE",
    "RETRY_CODES",
    "RETRY_STATUS",
    "SAFE_ID",
    "SEARCH_METHOD",
    "SIZE_ORDER",
    "Client",
    "Failed",
    "Polite",
    "RateLimiter",
    "Scrubber",
    "Slice",
    "Transient",
    "base_row",
    "check_bbox",
    "credentials",
    "decode_check",
    "download",
    "fetch_flickr",
    "guard_logs",
    "make_api",
    "parse_retry_after",
    "pick_url",
    "search_bbox",
    "size_extras",
    "size_fallbacks",
    "to_epoch",
]
