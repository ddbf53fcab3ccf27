"""SynthCity: the embedded default dataset, a seeded procedural street-level city.

- :func:`make_city` (conf, seed) -> :class:`City` (boxes, textures, street network),
- :class:`Camera` (pinhole, compass heading, pitch; ``project``),
- :func:`render` (city, camera, condition, rng) -> RGB uint8, optionally with geometry buffers,
- :func:`write_dataset` (conf, root) -> the summary also written to ``root/meta.json``.

Configuration keys: :mod:`vgrerank.synth.config`; condition parameters:
:mod:`vgrerank.synth.conditions`.
"""

from .camera import Camera
from .city import City, make_city
from .config import DEFAULT_CONF, resolve_conf
from .render import render
from .writer import write_dataset

__all__ = ["DEFAULT_CONF", "Camera", "City", "make_city", "render", "resolve_conf", "write_dataset"]
