"""Workflow configuration: JSON-schema validation with defaults, then semantic checks that
resolve every preset name. Every error names the config key that is wrong."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


def _schema() -> dict:
    if not SCHEMA_PATH.is_file():  # installed without the repository
        raise ConfigError(f"{SCHEMA_PATH}: config schema not found")
    return yaml.safe_load(SCHEMA_PATH.read_text())


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
    from .globaldesc.registry import get_global_preset
    from .local.registry import parse_method

    presets = config.get("presets", {})
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
        if ds["format"] in ("vg", "frames") and "root" not in ds:
            raise ConfigError(
                f"{source}: datasets.{name}.root: required for format {ds['format']!r}"
            )
        if ds["format"] == "manifest" and "manifest" not in ds:
            raise ConfigError(f"{source}: datasets.{name}.manifest: required for format 'manifest'")
        if ds["format"] == "vg" and "splits" not in ds:
            raise ConfigError(f"{source}: datasets.{name}.splits: required for format 'vg'")
        if "synth" in ds and ds["format"] != "vg":
            raise ConfigError(
                f"{source}: datasets.{name}.synth: generated datasets use format 'vg'"
            )


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return validate_config(config, source=str(path))
