"""SynthCity configuration: defaults, merging and validation.

Keys (all optional; :data:`DEFAULT_CONF` holds the defaults):

- ``seed`` (int): master seed; the same conf gives byte-identical images.
- ``width``, ``height`` (px, 640 x 480), ``fov_deg`` (horizontal field of view, 90).
- ``blocks_x``, ``blocks_y``: city blocks whose surrounding streets are mapped (the database
  covers every street segment of this grid); one more ring of blocks is built around them so
  that views along the outer streets still see buildings.
- ``block_size_m`` (side of a square block), ``street_width_m`` (kerb to kerb plus sidewalks),
  ``sidewalk_m``, ``texels_per_m`` (facade texture resolution), ``lamp_spacing_m``.
- ``db_spacing_m`` (database views every this many metres along each street centre line),
  ``db_headings`` (views per place, evenly spaced, the first facing north),
  ``camera_height_m`` (database camera), ``db_sun_azimuth_deg``, ``db_sun_elevation_deg``.
- ``utm_zone_number``, ``utm_zone_letter``, ``utm_origin_east``, ``utm_origin_north``: the city's
  local (0, 0) in UTM metres; names carry UTM and lat/lon (``utm.to_latlon``).
- ``jpeg_quality`` (95).
- ``queries``: ``{split: {condition: day|dusk|night, n: int, ...}}``; every other key of a split
  is a condition parameter passed to :func:`vgrerank.synth.render` (``ambient``, ``fog_m``,
  ``lit_windows``, ``exposure``, ``max_gain``, ``noise``, ``blur_sigma``, ``traffic``, ``people``,
  ``sun_azimuth_deg``, ``sun_elevation_deg``); missing ones are drawn at random per query (see
  :mod:`vgrerank.synth.conditions`). Query-only keys: ``lateral_m`` (max offset from the street
  centre line, 2.5), ``pitch_deg`` (max |pitch|, 5), ``height_m`` (camera height; default:
  database height minus 0..0.8 m).
"""

from __future__ import annotations

import copy

from ..errors import ConfigError

DEFAULT_CONF: dict = {
    "seed": 0,
    "width": 640,
    "height": 480,
    "fov_deg": 90.0,
    "blocks_x": 2,
    "blocks_y": 2,
    "block_size_m": 50.0,
    "street_width_m": 16.0,
    "sidewalk_m": 3.0,
    "texels_per_m": 16.0,
    "lamp_spacing_m": 16.0,
    "db_spacing_m": 5.0,
    "db_headings": 4,
    "camera_height_m": 2.5,
    "db_sun_azimuth_deg": 140.0,
    "db_sun_elevation_deg": 45.0,
    "utm_zone_number": 54,
    "utm_zone_letter": "S",
    "utm_origin_east": 380000.0,
    "utm_origin_north": 3950000.0,
    "jpeg_quality": 95,
    "queries": {
        "day": {"condition": "day", "n": 40},
        "night": {"condition": "night", "n": 40, "ambient": 0.03},
    },
}

_POSITIVE = (
    "width",
    "height",
    "fov_deg",
    "blocks_x",
    "blocks_y",
    "block_size_m",
    "street_width_m",
    "sidewalk_m",
    "texels_per_m",
    "lamp_spacing_m",
    "db_spacing_m",
    "db_headings",
    "camera_height_m",
)
CONDITIONS = ("day", "dusk", "night")


def resolve_conf(conf: dict | None) -> dict:
    """Defaults merged with ``conf`` (``queries`` replaces the default splits when given)."""
    conf = dict(conf or {})
    unknown = set(conf) - set(DEFAULT_CONF)
    if unknown:
        raise ConfigError(f"synth conf: unknown key(s) {sorted(unknown)}")
    out = copy.deepcopy(DEFAULT_CONF)
    out.update(copy.deepcopy(conf))
    for key in _POSITIVE:
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            raise ConfigError(f"synth conf: {key}={v!r} must be a positive number")
    for key in ("width", "height", "blocks_x", "blocks_y", "db_headings", "seed"):
        if not isinstance(out[key], int) or isinstance(out[key], bool):
            raise ConfigError(f"synth conf: {key}={out[key]!r} must be an integer")
    if not 10 <= out["fov_deg"] <= 150:
        raise ConfigError(f"synth conf: fov_deg={out['fov_deg']} must be within 10..150")
    if out["sidewalk_m"] * 2 + 4 > out["street_width_m"]:
        raise ConfigError("synth conf: street_width_m must exceed 2*sidewalk_m + 4")
    if out["block_size_m"] < 16:
        raise ConfigError("synth conf: block_size_m must be at least 16")
    if not isinstance(out["queries"], dict):
        raise ConfigError("synth conf: queries must be a mapping split -> {condition, n, ...}")
    for split, q in out["queries"].items():
        key = f"synth conf: queries.{split}"
        if not isinstance(split, str) or not split.replace("_", "").isalnum():
            raise ConfigError(f"{key}: split names must be alphanumeric")
        if not isinstance(q, dict) or q.get("condition") not in CONDITIONS:
            raise ConfigError(f"{key}.condition must be one of {CONDITIONS}")
        n = q.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"{key}.n={n!r} must be a non-negative integer")
    return out
