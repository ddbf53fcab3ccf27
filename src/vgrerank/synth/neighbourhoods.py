"""Neighbourhood polygons of a SynthCity city, as GeoJSON (for choropleths of photos).

The mapped blocks are grouped ``blocks_per_side`` x ``blocks_per_side`` into neighbourhoods.
Cell boundaries run along the west (south) kerb of a street: a neighbourhood owns its blocks and
the streets on their west and south sides, and the cells on the city's edge also own the border
streets out to their far kerbs. The cells thus tile the mapped extent
(``City.layout['mapped_extent']``, between the outer street centre lines) grown by half a street
width on every side, without gaps or overlaps, and every street centre line (where the database
views are) lies half a street width inside one cell. Vertices are converted from the conf's UTM
frame to WGS84 lon/lat (``utm.to_latlon``), with intermediate vertices every ``step_m`` so the
edges follow the projection.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import utm

from ..errors import ConfigError
from ..io import atomic_path
from .city import _layout
from .config import resolve_conf
from .writer import city_conf

PREFIXES = ("Old", "North", "South", "East", "West", "Upper", "Lower", "New", "Little", "Great")
ROOTS = ("Harbour", "Market", "Mill", "Castle", "Garden", "Bridge", "Church", "Meadow", "Stone",
         "Orchard", "Lantern", "Willow", "Quarry", "Chapel", "Foundry", "Tannery")  # fmt: skip
SUFFIXES = ("Quarter", "Heights", "Side", "Park", "Row", "Village", "Gate", "Fields", "End")


def _edges(layout: dict, axis: str, per: int) -> list[float]:
    """Cell boundaries along one axis (city metres)."""
    P, s, n = layout["pitch"], layout["street_w"], layout[f"blocks_{axis}"]
    inner = [k * P - s / 2 for k in range(per, n, per)]
    return [-s / 2, *inner, n * P + s / 2]


def _names(n: int, seed: int) -> list[str]:
    """``n`` distinct neighbourhood names drawn from ``seed``."""
    rng = np.random.default_rng([seed, 31])
    out: list[str] = []
    while len(out) < n:
        parts = [ROOTS[int(rng.integers(len(ROOTS)))], SUFFIXES[int(rng.integers(len(SUFFIXES)))]]
        if rng.random() < 0.4:
            parts.insert(0, PREFIXES[int(rng.integers(len(PREFIXES)))])
        name = " ".join(parts)
        if name in out:
            name = f"{name} {len(out) + 1}"
        out.append(name)
    return out


def _ring(conf: dict, x0: float, y0: float, x1: float, y1: float, step: float) -> list:
    """Closed counter-clockwise ring of [lon, lat] along the rectangle's edges."""
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    pts = []
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        k = max(1, math.ceil(max(abs(bx - ax), abs(by - ay)) / step))
        pts += [(ax + (bx - ax) * i / k, ay + (by - ay) * i / k) for i in range(k)]
    pts.append(pts[0])
    east = np.array([conf["utm_origin_east"] + x for x, _ in pts])
    north = np.array([conf["utm_origin_north"] + y for _, y in pts])
    lat, lon = utm.to_latlon(east, north, conf["utm_zone_number"], conf["utm_zone_letter"])
    return [[round(float(a), 8), round(float(b), 8)] for a, b in zip(lon, lat, strict=True)]


def neighbourhoods(conf: dict | None, blocks_per_side: int = 1, step_m: float = 10.0) -> dict:
    """The GeoJSON FeatureCollection of the city's neighbourhoods (see the module doc): one
    Polygon per group of ``blocks_per_side`` x ``blocks_per_side`` mapped blocks, properties
    ``id`` (``"nb-<i>-<j>"``), ``name``, ``i``, ``j`` (cell column and row), ``blocks`` (the
    mapped blocks ``[bi, bj]`` it holds) and ``extent_m`` (``[x0, y0, x1, y1]``, city metres)."""
    if isinstance(blocks_per_side, bool) or not isinstance(blocks_per_side, int):
        raise ConfigError(f"neighbourhoods: blocks_per_side={blocks_per_side!r} must be an int")
    if blocks_per_side < 1 or step_m <= 0:
        raise ConfigError("neighbourhoods: blocks_per_side must be >= 1 and step_m > 0")
    conf = resolve_conf(city_conf({k: v for k, v in (conf or {}).items() if k != "photos"}))
    layout = _layout(conf)
    xs, ys = _edges(layout, "x", blocks_per_side), _edges(layout, "y", blocks_per_side)
    names = _names((len(xs) - 1) * (len(ys) - 1), conf["seed"])
    features = []
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            per, bx, by = blocks_per_side, layout["blocks_x"], layout["blocks_y"]
            blocks = [
                [bi, bj]
                for bj in range(j * per, min((j + 1) * per, by))
                for bi in range(i * per, min((i + 1) * per, bx))
            ]
            features.append(
                {
                    "type": "Feature",
                    "id": f"nb-{i}-{j}",
                    "properties": {
                        "id": f"nb-{i}-{j}",
                        "name": names[len(features)],
                        "i": i,
                        "j": j,
                        "blocks": blocks,
                        "extent_m": [xs[i], ys[j], xs[i + 1], ys[j + 1]],
                    },
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [_ring(conf, xs[i], ys[j], xs[i + 1], ys[j + 1], step_m)],
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def write_neighbourhoods(conf: dict | None, path: str | Path, blocks_per_side: int = 1) -> dict:
    """Write :func:`neighbourhoods` of the city of ``conf`` (its ``photos`` and ``queries`` keys
    are ignored) to the GeoJSON file ``path`` (atomically); return the FeatureCollection."""
    fc = neighbourhoods(conf, blocks_per_side)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(fc, indent=1))
    return fc
