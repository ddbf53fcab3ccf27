"""Sliced geo search: ``flickr.photos.search`` over a bounding box and a taken-date window, split
into tiles x time halves while a slice exceeds Flickr's result cap (:func:`search_bbox`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tqdm import tqdm

from ...errors import ConfigError, DataError
from .client import Client

log = logging.getLogger(__name__)


DEFAULT_CAP = 4000

MAX_PER_PAGE = 500

SIZE_ORDER = ("k", "h", "l", "c", "z", "m", "n")  # largest first; 'o' (original) last resort

SEARCH_METHOD = "flickr.photos.search"

BASE_EXTRAS = ("geo", "date_taken", "owner_name", "license")


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
