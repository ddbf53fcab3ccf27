"""The fake Flickr as a process (``python -m vgrerank.builder.fakeflickr``): serve until
SIGTERM/SIGINT, or ``--stop`` the one of a pid file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from pathlib import Path

from ...errors import ConfigError
from ...io import atomic_path
from ..loopback import LOCALHOST, LoopbackServer, write_port_file
from .server import FakeFlickr

log = logging.getLogger(__name__)


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


def _package_doc() -> str | None:
    from . import __doc__ as doc

    return doc


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m vgrerank.builder.fakeflickr", description=_package_doc()
    )
    ap.add_argument("--collection", help="collection directory (with photos.json)")
    ap.add_argument("--pid-file", required=True, help="written atomically once listening")
    ap.add_argument("--port-file", help="written atomically (after the pid file) with the port")
    ap.add_argument("--faults", help="faults JSON file, or inline JSON")
    ap.add_argument("--log-file", help="append every request as a JSON line")
    ap.add_argument("--host", default=LOCALHOST, help="a loopback address (127.0.0.0/8)")
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
    running = LoopbackServer(server, "fakeflickr").start()
    _write_atomic(Path(args.pid_file), f"{os.getpid()}\n")
    write_port_file(args.port_file, running.port)
    log.info("fakeflickr: %d photos on %s", len(server.photos), server.rest_url)
    while not done.wait(0.5):
        pass
    running.stop()
    log.info("fakeflickr: stopped")
    return 0
