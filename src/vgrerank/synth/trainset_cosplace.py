"""A CosPlace training set rendered by SynthCity: a *training city* (another seed than the test
city), its database places seen from ``headings`` directions under several conditions.

Every place (the database grid, ``db_spacing_m`` along each street centre line) is rendered at
``headings`` evenly spaced headings, each jittered within its sector, with a small random offset
of position, height and pitch, under each of ``conditions`` (day, dusk, night: the renderer's
random condition parameters are drawn per view). Views of one place and heading under different
conditions share their pose, so a CosPlace class (UTM cell x heading bin) holds the same scene by
day and by night: the exact labels from which the network learns night invariance.

Images are rendered at ``supersample`` times ``size`` and downscaled with area interpolation (as
the benchmark's ``resize_max`` downscales the 640 x 480 test images), then written as JPEG with
``@UTM`` names (heading = the jittered heading, note = the condition) under
``<out>/images/``; ``<out>/trainset.json`` is the completion file, written last.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..datasets.names import format_name
from ..errors import ConfigError
from ..io import atomic_path
from .camera import Camera
from .city import make_city
from .config import CONDITIONS, resolve_conf
from .render import render
from .writer import _info, _write_jpg, city_conf, city_digest, database_poses

TRAINSET_JSON = "trainset.json"


def write_trainset(
    conf: dict,
    out: str | Path,
    *,
    headings: int = 8,
    conditions: tuple[str, ...] = ("day", "dusk", "night"),
    size: tuple[int, int] = (128, 96),
    supersample: int = 2,
    jitter_m: float = 1.5,
    progress: bool = True,
) -> dict:
    """Render the training set of city ``conf`` (its ``seed`` included) under ``out``; return
    the summary also written to ``out/trainset.json``."""
    conf = resolve_conf(city_conf(conf))
    bad = [c for c in conditions if c not in CONDITIONS]
    if bad or not conditions:
        raise ConfigError(f"cosplace_train.conditions: {bad or '[]'} not a list of {CONDITIONS}")
    if headings < 1 or supersample < 1 or min(size) < 16:
        raise ConfigError(
            f"cosplace_train: headings={headings}, supersample={supersample} must be >= 1 and "
            f"image_size={list(size)} at least 16 px"
        )
    w, h = int(size[0]) * supersample, int(size[1]) * supersample
    cam_kw = {"width": w, "height": h, "fov_deg": conf["fov_deg"]}
    seed = conf["seed"]
    out = Path(out)
    img_dir = out / "images"
    shutil.rmtree(img_dir, ignore_errors=True)
    img_dir.mkdir(parents=True)
    city = make_city(conf, seed)
    places = list(dict.fromkeys((x, y) for x, y, _ in database_poses(city)))
    sector = 360.0 / headings
    counts = dict.fromkeys(conditions, 0)
    jobs = [(p, k) for p in range(len(places)) for k in range(headings)]
    for p, k in tqdm(jobs, desc="cosplace trainset", disable=not progress, mininterval=2):
        rng = np.random.default_rng([seed, 31, p, k])
        x, y = places[p]
        x, y = x + rng.uniform(-jitter_m, jitter_m), y + rng.uniform(-jitter_m, jitter_m)
        hd = (k * sector + rng.uniform(-sector / 2, sector / 2)) % 360.0
        pitch = rng.uniform(-3.0, 3.0)
        z = conf["camera_height_m"] - rng.uniform(0.0, 0.8)
        cam = Camera(x, y, z, hd, pitch, **cam_kw)
        for c, cond in enumerate(conditions):
            img = render(city, cam, {"condition": cond}, np.random.default_rng([seed, 37, p, k, c]))
            if supersample > 1:
                img = cv2.resize(img, (int(size[0]), int(size[1])), interpolation=cv2.INTER_AREA)
            info = _info(conf, x, y, z, hd, pitch, f"tr{p:05d}h{k:02d}", cond)
            _write_jpg(img_dir / format_name(info), img, conf["jpeg_quality"])
            counts[cond] += 1
    summary = {
        "city_digest": city_digest(conf),
        "conf": city_conf(conf),
        "places": len(places),
        "headings": headings,
        "size": [int(size[0]), int(size[1])],
        "supersample": supersample,
        "counts": counts,
        "images": sum(counts.values()),
    }
    with atomic_path(out / TRAINSET_JSON) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
