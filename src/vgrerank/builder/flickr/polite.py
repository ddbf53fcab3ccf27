"""Politeness and secrecy of the Flickr source: the credential :class:`Scrubber` (messages and
third-party logs), the shared :class:`RateLimiter`, and :class:`Polite` retries with backoff
(honouring ``Retry-After``) via :mod:`tenacity`.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ...errors import ConfigError, DataError

log = logging.getLogger(__name__)


RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


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
