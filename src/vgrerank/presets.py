"""Preset resolution shared by the registries (local features, global descriptors).

A preset is a conf dict with a ``type`` (the implementing class) and a ``tag`` (the name its
output files carry). Config-defined presets extend or override the built-ins and may ``base`` on
a built-in one; one without a ``tag`` gets ``<name>-<hash of its parameters>``, so results made
with other parameters never share a file name.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping

from .errors import ConfigError


def auto_tag(name: str, conf: dict) -> str:
    params = {k: v for k, v in conf.items() if k != "tag"}
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def resolve_preset(
    kind: str,
    name: str,
    builtins: Mapping[str, dict],
    types: Mapping[str, str],
    user: Mapping[str, dict] | None = None,
    config_key: str | None = None,
) -> dict:
    """Resolve preset ``name`` of ``kind`` (user presets first, then built-ins); check its
    ``type`` against ``types`` and its ``tag``. ``config_key`` names the user section in errors."""
    user = user or {}
    if name in user:
        conf = copy.deepcopy(dict(user[name]))
        base = conf.pop("base", None)
        if base is not None:
            if base not in builtins:
                raise ConfigError(
                    f"presets.{config_key or kind + 's'}.{name}.base: unknown {kind} preset {base!r}"
                )
            merged = {k: v for k, v in copy.deepcopy(builtins[base]).items() if k != "tag"}
            merged.update(conf)
            conf = merged
        conf.setdefault("tag", auto_tag(name, conf))
    elif name in builtins:
        conf = copy.deepcopy(builtins[name])
    else:
        known = sorted(set(builtins) | set(user))
        raise ConfigError(f"unknown {kind} preset {name!r}; known: {', '.join(known)}")
    if conf.get("type") not in types:
        raise ConfigError(
            f"{kind} preset {name!r}: type {conf.get('type')!r} is not one of {sorted(types)}"
        )
    tag = str(conf.get("tag", ""))
    if not tag or "+" in tag or "/" in tag:
        raise ConfigError(
            f"{kind} preset {name!r}: tag {tag!r} must be non-empty without '+' or '/'"
        )
    return conf
