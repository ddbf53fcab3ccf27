"""Local HTTP servers on a loopback address, served from a background thread.

One helper for the builder's two local servers, the fake Flickr (:mod:`.fakeflickr`) and the
relabel page (:mod:`.relabel.app`): :func:`check_loopback` refuses any bind address outside
127.0.0.0/8, :class:`LoopbackServer` runs a bound ``http.server`` in a daemon thread (``start``,
``port``, ``stop``, ``wait``, or a ``with`` block) and :func:`write_port_file` publishes the chosen
port (port 0 binds a free one) atomically for a process waiting on it.
"""

from __future__ import annotations

import ipaddress
import threading
from http.server import HTTPServer
from pathlib import Path

from ..io import atomic_path

LOCALHOST = "127.0.0.1"


def check_loopback(host: str, what: str = "this server") -> str:
    """``host`` if it is an IPv4 loopback address ('localhost' -> '127.0.0.1'), else ValueError
    naming ``what`` refused it."""
    if host == "localhost":
        return LOCALHOST
    try:
        ok = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{what} only binds to 127.0.0.0/8, not {host!r}")
    return host


class LoopbackServer:
    """Serve the bound ``httpd`` (its address must be loopback) from a daemon thread named
    ``name``; ``start()`` returns the server, ``stop()`` (or leaving a ``with`` block) shuts it
    down and closes the socket."""

    def __init__(self, httpd: HTTPServer, name: str, poll_interval: float = 0.05):
        try:
            check_loopback(httpd.server_address[0], name)
        except ValueError:
            httpd.server_close()
            raise
        self.httpd = httpd
        self.thread = threading.Thread(
            target=httpd.serve_forever, args=(poll_interval,), name=name, daemon=True
        )

    @property
    def host(self) -> str:
        return self.httpd.server_address[0]

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=10)
        self.httpd.server_close()

    def wait(self) -> None:
        """Block until Ctrl-C, then stop."""
        try:
            while self.thread.is_alive():
                self.thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def write_port_file(path: str | Path, port: int) -> None:
    """Write ``port`` and a newline to ``path`` atomically."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(f"{port}\n")
