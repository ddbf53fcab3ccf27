"""The Flickr API client: a :class:`flickrapi.FlickrAPI` (OAuth 1, optionally against a local REST
URL) called through :class:`.polite.Polite`, Flickr's error codes sorted into retry / auth /
failure.
"""

from __future__ import annotations

import threading

import requests

from ...errors import ConfigError, DataError
from .polite import RETRY_STATUS, Polite, Scrubber, Transient, guard_logs, parse_retry_after

ENV_KEY = "FLICKR_API_KEY"

ENV_SECRET = "FLICKR_API_SECRET"

RETRY_CODES = frozenset({10, 105})  # search API / service temporarily unavailable

AUTH_CODES = frozenset({95, 96, 97, 98, 99, 100})  # signature, key or token problems


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
