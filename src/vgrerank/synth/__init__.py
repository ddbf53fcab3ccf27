"""SynthCity: the embedded default dataset, a seeded procedural street-level city.

- :func:`make_city` (conf, seed) -> :class:`City` (boxes, textures, street network),
- :class:`Camera` (pinhole, compass heading, pitch; ``project``),
- :func:`render` (city, camera, condition, rng) -> RGB uint8, optionally with geometry buffers,
- :func:`write_database` (conf, root) / :func:`write_queries` (conf, root, splits): render the
  database or query splits independently (same city from the same seed), each part completed by
  ``root/database.json`` / ``root/queries_<split>.json``; :func:`read_summary` combines them,
- :func:`write_dataset` (conf, root): both, plus the summary also written to ``root/meta.json``,
- :func:`write_collection` (conf, out_dir, n=, seed=): a tourist photo collection of the city
  (:mod:`.photos`, rooms and half-indoor frames from :mod:`.indoor`),
- :func:`write_neighbourhoods` (conf, path): the city's neighbourhood polygons as GeoJSON.

Configuration keys: :mod:`vgrerank.synth.config`; condition parameters:
:mod:`vgrerank.synth.conditions`.
"""

from .camera import Camera
from .city import City, make_city
from .config import DEFAULT_CONF, resolve_conf
from .neighbourhoods import write_neighbourhoods
from .photos import write_collection
from .render import render
from .writer import read_summary, write_database, write_dataset, write_queries

__all__ = [
    "DEFAULT_CONF",
    "Camera",
    "City",
    "make_city",
    "read_summary",
    "render",
    "resolve_conf",
    "write_collection",
    "write_database",
    "write_dataset",
    "write_neighbourhoods",
    "write_queries",
]
