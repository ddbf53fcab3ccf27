"""Workflow configuration: JSON-schema validation with defaults, then semantic checks that
resolve every preset name. Every error names the config key that is wrong."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def _loaded_schema() -> dict:
    if not SCHEMA_PATH.is_file():  # installed without the repository
        raise ConfigError(f"{SCHEMA_PATH}: config schema not found")
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _schema() -> dict:
    return copy.deepcopy(_loaded_schema())


def _resolve(schema: dict, node: dict) -> dict:
    """``node`` with its local ``$ref`` (``#/a/b``) followed."""
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ConfigError(f"{SCHEMA_PATH}: only local $ref are supported, not {ref!r}")
        node = schema
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def schema_default(path: str):
    """The default that workflow/schemas/config.schema.yaml gives the config key ``path`` (dotted, ``*`` for any
    name of a mapping, e.g. ``datasets.*.build.*.daynight.night_threshold``), deep-copied: the
    one place a configurable default is written; library defaults read it from here. KeyError
    when the key is not in the schema or has no default."""
    schema = _loaded_schema()
    node = schema
    for part in path.split("."):
        node = _resolve(schema, node)
        if part == "*":
            sub = node.get("additionalProperties")
        else:
            sub = node.get("properties", {}).get(part)
        if not isinstance(sub, dict):
            raise KeyError(f"{path}: {part!r} is not a key of the config schema")
        node = sub
    node = _resolve(schema, node)
    if "default" not in node:
        raise KeyError(f"{path}: the config schema gives no default")
    return copy.deepcopy(node["default"])


def _with_defaults(validator_class):
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub and prop not in instance:
                    instance[prop] = copy.deepcopy(sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_config(config: dict, source: str = "config") -> dict:
    """Validate ``config`` in place (filling defaults) and return it, or raise ConfigError."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping")
    for name, ds in (config.get("datasets") or {}).items():
        if isinstance(ds, dict) and "synth" in ds:
            ds.setdefault("root", f"resources/{name}")  # generated datasets live in resources/
    validator = _with_defaults(jsonschema.Draft202012Validator)(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{source}: {_key(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    _check_semantics(config, source)
    return config


def _check_semantics(config: dict, source: str) -> None:
    from .datasets.formats import formats_where, get_format
    from .globaldesc.registry import get_global_preset
    from .local.registry import parse_method

    presets = config.get("presets", {})
    rk = (config.get("rerank") or {}).get("k")
    if rk is not None and rk > config["retrieval"]["k"]:
        raise ConfigError(
            f"{source}: rerank.k: {rk} candidates cannot be re-ranked from a retrieval list of "
            f"retrieval.k = {config['retrieval']['k']} (raise retrieval.k or lower rerank.k)"
        )
    for i, name in enumerate(config.get("run_datasets") or []):
        if name not in config["datasets"]:
            raise ConfigError(
                f"{source}: run_datasets[{i}]: {name!r} is not a dataset in 'datasets' "
                f"(known: {', '.join(sorted(config['datasets']))})"
            )
    for i, m in enumerate(config["methods"]):
        try:
            parse_method(m, presets)
        except ConfigError as exc:
            raise ConfigError(f"{source}: methods[{i}]: {exc}") from None
    for name, ds in config["datasets"].items():
        for i, g in enumerate(ds.get("global", config["global"])):
            try:
                get_global_preset(g, presets.get("global"))
            except ConfigError as exc:
                raise ConfigError(f"{source}: global[{i}] (dataset {name}): {exc}") from None
        for i, m in enumerate(ds.get("methods", [])):
            try:
                parse_method(m, presets)
            except ConfigError as exc:
                raise ConfigError(f"{source}: datasets.{name}.methods[{i}]: {exc}") from None
        fmt = get_format(ds, name)
        for key in fmt.required:
            if key not in ds:
                raise ConfigError(
                    f"{source}: datasets.{name}.{key}: required for format {fmt.name!r}"
                )
        if "synth" in ds and not fmt.synth:
            raise ConfigError(
                f"{source}: datasets.{name}.synth: generated datasets use format "
                f"{formats_where('synth')}"
            )
        if "synth" in ds:
            _check_synth_splits(name, ds, source)
        for split, build in (ds.get("build") or {}).items():
            _check_build(name, ds, split, build, source)
    _check_user_presets(presets, source)


def _check_build(name: str, ds: dict, split: str, build: dict, source: str) -> None:
    """A built query split: a new name, a VG dataset, and a source that can be reached."""
    from .datasets.formats import formats_where, get_format
    from .synth.config import DEFAULT_CONF

    key = f"{source}: datasets.{name}.build.{split}"
    if not get_format(ds, name).buildable:
        raise ConfigError(
            f"{key}: the builder writes VG-layout splits (format {formats_where('buildable')} only)"
        )
    taken = list(ds.get("splits") or [])
    if "synth" in ds:
        taken += list((ds["synth"] or {}).get("queries", DEFAULT_CONF["queries"]))
    if split in taken:
        raise ConfigError(f"{key}: split {split!r} already exists in this dataset; pick a new name")
    src = build["source"]
    if src["kind"] == "folder" and not src.get("folder"):
        raise ConfigError(f"{key}.source.folder: required for kind 'folder'")
    if src.get("embedded") and ("synth" not in ds or src["kind"] != "flickr"):
        raise ConfigError(
            f"{key}.source.embedded: the embedded photo collection needs a generated (synth) "
            "dataset and kind 'flickr'"
        )
    if src["kind"] == "folder" and src.get("embedded"):
        raise ConfigError(f"{key}.source: kind 'folder' cannot be embedded")


def _check_user_presets(presets: dict, source: str) -> None:
    """Resolve every config-defined preset, used or not: a misspelled or invalid parameter is an
    error naming the preset and the key (it would otherwise be ignored or fail in a job)."""
    from .globaldesc.registry import get_global_preset
    from .local.registry import get_preset

    for kind in ("extractor", "matcher", "scorer"):
        for pname in presets.get(f"{kind}s") or {}:
            try:
                get_preset(kind, pname, presets.get(f"{kind}s"))
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
    for pname in presets.get("global") or {}:
        try:
            get_global_preset(pname, presets.get("global"))
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def _check_synth_splits(name: str, ds: dict, source: str) -> None:
    """Every configured query split of a generated dataset is rendered with n >= 1 images (an
    empty split would only fail inside a job, after the city was rendered)."""
    from .synth.config import DEFAULT_CONF

    synth = ds.get("synth") or {}
    queries = synth.get("queries", DEFAULT_CONF["queries"])
    if not isinstance(queries, dict):
        return  # reported by the synth conf check
    splits = ds.get("splits") or []
    for split in splits:
        key = f"{source}: datasets.{name}.synth.queries.{split}"
        if split not in queries:
            raise ConfigError(
                f"{key}: split {split!r} is in datasets.{name}.splits but not generated "
                f"(synth queries: {', '.join(sorted(queries)) or 'none'})"
            )
        n = queries[split].get("n") if isinstance(queries[split], dict) else None
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"{key}.n: a query split needs n >= 1 images, got {n!r}")


def merge_config(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` as Snakemake merges ``--configfile`` files: nested dicts
    merged key by key, anything else replaced. Returns a new dict; neither input is changed."""
    out = dict(base)
    for k, v in over.items():
        both = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = merge_config(out[k], v) if both else v
    return out


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return validate_config(config, source=str(path))
