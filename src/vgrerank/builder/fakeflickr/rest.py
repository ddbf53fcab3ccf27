"""The fake Flickr's REST answers: ``flickr.photos.search`` over the collection (Flickr's cap and
recent-only geo queries included) and the key / OAuth 1 / legacy ``api_sig`` checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .collection import SIZES, Photo, parse_date, size_dims

if TYPE_CHECKING:
    from .server import FakeFlickr, Handler


MAX_PER_PAGE = 500

DEFAULT_PER_PAGE = 100

RECENT_WINDOW_S = 12 * 3600

INVALID_KEY = {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}

INVALID_SIG = {"stat": "fail", "code": 96, "message": "Invalid signature"}


def fail(code: int, message: str) -> dict:
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
        return fail(3, f"Invalid parameter: {exc}")
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


def oauth_header(headers) -> dict[str, str]:
    value = headers.get("Authorization", "")
    if not value.startswith("OAuth "):
        return {}
    from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

    try:
        return {k: unquote(v) for k, v in parse_authorization_header(value)}
    except ValueError:
        return {}


def oauth_valid(handler: Handler, body: str, secret: str) -> bool:
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
    return hmac.compare_digest(oauth_header(handler.headers).get("oauth_signature", ""), expected)


def api_sig_valid(params: dict, secret: str) -> bool:
    text = secret + "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "api_sig")
    return hashlib.md5(text.encode()).hexdigest() == params.get("api_sig")
