"""Preset resolution shared by the registries (local features, global descriptors).

A preset is a conf dict with a ``type`` (the implementing class) and a ``tag`` (the name its
output files carry). Config-defined presets extend or override the built-ins and may ``base`` on
a built-in one; one without a ``tag`` gets ``<name>-<hash of its parameters>``, so results made
with other parameters never share a file name.

Every resolved preset is checked against the parameter schema of its ``type`` (``params``: type
-> {key: check}): an unknown key (a misspelling would otherwise be ignored silently and run with
the default) or an invalid value is a :class:`ConfigError` naming the preset and the key, raised
when the workflow builds its DAG. The checks below are small callables returning an error text or
``None``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Mapping

from .errors import ConfigError

Check = Callable[[object], "str | None"]
RESERVED = ("type", "tag")  # keys every preset may carry (``base`` is consumed on resolution)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def integer(lo: int | None = None, hi: int | None = None) -> Check:
    """An integer in [lo, hi] (bounds optional)."""

    def check(v):
        if not _is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f" >= {lo}" if hi is None and lo is not None else ""
            if lo is not None and hi is not None:
                rng = f" in [{lo}, {hi}]"
            return f"expected an integer{rng}, got {v!r}"
        return None

    return check


def number(gt=None, ge=None, lt=None, le=None) -> Check:
    """A finite number with optional bounds (``gt``/``ge`` lower, ``lt``/``le`` upper)."""
    parts = [
        f"{op} {b}" for op, b in ((">", gt), (">=", ge), ("<", lt), ("<=", le)) if b is not None
    ]

    def check(v):
        ok = _is_num(v)
        if ok:
            ok = (
                (gt is None or v > gt)
                and (ge is None or v >= ge)
                and (lt is None or v < lt)
                and (le is None or v <= le)
            )
        if not ok:
            return f"expected a number{' ' + ' and '.join(parts) if parts else ''}, got {v!r}"
        return None

    return check


def boolean() -> Check:
    return lambda v: None if isinstance(v, bool) else f"expected true or false, got {v!r}"


def string() -> Check:
    return lambda v: None if isinstance(v, str) and v else f"expected a non-empty string, got {v!r}"


def one_of(*values) -> Check:
    def check(v):
        if any(v == x and type(v) is type(x) for x in values):
            return None
        return f"expected one of {', '.join(map(repr, values))}, got {v!r}"

    return check


def optional(inner: Check) -> Check:
    """``null`` or what ``inner`` accepts."""
    return lambda v: None if v is None else inner(v)


def any_of(*checks: Check) -> Check:
    def check(v):
        errs = [c(v) for c in checks]
        return None if any(e is None for e in errs) else " or ".join(e for e in errs if e)

    return check


def list_of(inner: Check, min_items: int = 1) -> Check:
    def check(v):
        if not isinstance(v, list | tuple) or len(v) < min_items:
            return f"expected a list of at least {min_items} item(s), got {v!r}"
        for x in v:
            if (e := inner(x)) is not None:
                return f"item {x!r}: {e}"
        return None

    return check


def mapping() -> Check:
    return lambda v: None if isinstance(v, dict) else f"expected a mapping, got {v!r}"


def check_params(what: str, conf: Mapping, params: Mapping[str, Mapping[str, Check]]) -> None:
    """Check ``conf`` (a resolved preset) against the schema of its type; ``what`` names the
    preset in errors (e.g. ``presets.scorers.magsac5``)."""
    schema = params.get(conf.get("type"))
    if schema is None:
        return
    unknown = sorted(k for k in conf if k not in schema and k not in RESERVED)
    if unknown:
        raise ConfigError(
            f"{what}: unknown parameter(s) {', '.join(map(repr, unknown))} for type "
            f"{conf['type']!r}; valid: {', '.join(sorted(schema))}"
        )
    for key in sorted(schema):
        if key in conf and (err := schema[key](conf[key])) is not None:
            raise ConfigError(f"{what}.{key}: {err}")


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
    params: Mapping[str, Mapping[str, Check]] | None = None,
) -> dict:
    """Resolve preset ``name`` of ``kind`` (user presets first, then built-ins); check its
    ``type`` against ``types``, its parameters against ``params`` (type -> schema, see
    :func:`check_params`) and its ``tag``. ``config_key`` names the user section in errors."""
    user = user or {}
    section = config_key or kind + "s"
    what = f"{kind} preset {name!r}"
    if name in user:
        what = f"presets.{section}.{name}"
        if not isinstance(user[name], Mapping):
            raise ConfigError(f"{what}: expected a mapping of parameters, got {user[name]!r}")
        conf = copy.deepcopy(dict(user[name]))
        base = conf.pop("base", None)
        if base is not None:
            if base not in builtins:
                raise ConfigError(
                    f"presets.{section}.{name}.base: unknown {kind} preset {base!r}; "
                    f"known: {', '.join(sorted(builtins))}"
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
        raise ConfigError(f"{what}: type {conf.get('type')!r} is not one of {sorted(types)}")
    tag = str(conf.get("tag", ""))
    if not tag or "+" in tag or "/" in tag:
        raise ConfigError(f"{what}: tag {tag!r} must be non-empty without '+' or '/'")
    if params is not None:
        check_params(what, conf, params)
    return conf
