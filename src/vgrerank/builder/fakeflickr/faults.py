"""Faults the fake Flickr injects on purpose (:class:`Faults`, from a dict or a JSON file)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ConfigError

DEFAULT_CAP = 4000

REST_FAULTS = ("ok", "500", "503", "429", "timeout", "malformed")

IMAGE_FAULTS = ("ok", "404", "500", "truncated", "cut")


def _check_kind(kind: str, allowed: tuple[str, ...], where: str) -> str:
    kind = str(kind)
    if kind not in allowed:
        raise ConfigError(f"faults.{where}: unknown fault {kind!r} (one of {', '.join(allowed)})")
    return kind


@dataclass
class Faults:
    """What the fake server does wrong, and when.

    - ``requests``: REST request number (1-based, over all methods) -> fault,
    - ``methods``: method name -> faults for its 1st, 2nd, ... call (then 'ok'),
    - ``images``: photo id -> fault for every request, or a list for its 1st, 2nd, ... request,
    - ``duplicates``: page number -> how many photos of the previous page repeat at its start,
    - ``cap``: results reachable per query; ``beyond_cap``: 'repeat' (last reachable page) or
      'empty' for pages past it,
    - ``retry_after`` (s, the 429 header), ``timeout_s`` (how long a 'timeout' sleeps),
      ``image_delay_s`` (every image answer is this slow).

    REST faults: 'ok', '500', '503', '429', 'timeout', 'malformed'; image faults: 'ok', '404',
    '500', 'truncated' (a consistent but cut JPEG), 'cut' (connection closed mid-body).
    """

    requests: dict[int, str] = field(default_factory=dict)
    methods: dict[str, list[str]] = field(default_factory=dict)
    images: dict[str, str | list[str]] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    cap: int = DEFAULT_CAP
    beyond_cap: str = "repeat"
    retry_after: float = 1.0
    timeout_s: float = 5.0
    image_delay_s: float = 0.0

    @classmethod
    def from_obj(cls, obj: Faults | dict | str | os.PathLike | None) -> Faults:
        """Build from a dict, a JSON file path, inline JSON text, or None (no faults)."""
        if obj is None:
            return cls()
        if isinstance(obj, Faults):
            return obj
        if not isinstance(obj, dict):
            obj = _load_json_arg(obj)
        unknown = set(obj) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"faults: unknown key(s) {sorted(unknown)}")
        faults = cls(
            requests={
                int(k): _check_kind(v, REST_FAULTS, f"requests.{k}")
                for k, v in obj.get("requests", {}).items()
            },
            methods={
                m: [_check_kind(v, REST_FAULTS, f"methods.{m}") for v in vs]
                for m, vs in obj.get("methods", {}).items()
            },
            images={str(k): v for k, v in obj.get("images", {}).items()},
            duplicates={int(k): int(v) for k, v in obj.get("duplicates", {}).items()},
            cap=int(obj.get("cap", DEFAULT_CAP)),
            beyond_cap=str(obj.get("beyond_cap", "repeat")),
            retry_after=float(obj.get("retry_after", 1.0)),
            timeout_s=float(obj.get("timeout_s", 5.0)),
            image_delay_s=float(obj.get("image_delay_s", 0.0)),
        )
        for pid, v in faults.images.items():
            for kind in [v] if isinstance(v, str) else v:
                _check_kind(kind, IMAGE_FAULTS, f"images.{pid}")
        if faults.beyond_cap not in ("repeat", "empty"):
            raise ConfigError(f"faults.beyond_cap: {faults.beyond_cap!r} (repeat or empty)")
        return faults


def _load_json_arg(arg: str | os.PathLike) -> dict:
    text = str(arg)
    if text.lstrip().startswith("{"):
        where = "inline faults JSON"
    else:
        where = text
        try:
            text = Path(arg).read_text()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read faults file ({exc})") from exc
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: faults must be a JSON object")
    return obj
