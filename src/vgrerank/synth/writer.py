"""Write a SynthCity dataset in the standard VG layout.

``<root>/images/test/database/*.jpg`` (day views on a grid along every street centre line,
``db_headings`` per place) and ``<root>/images/test/queries_<split>/*.jpg`` (random positions
within ``lateral_m`` of a centre line, random heading and pitch). File names come from
:func:`vgrerank.datasets.names.format_name`; ``<root>/meta.json`` is written last (atomically), so
a dataset without it is incomplete.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import cv2
import numpy as np
import utm
from tqdm import tqdm

from ..datasets.names import ImageInfo, format_name
from ..io import atomic_path
from .camera import Camera
from .city import City, make_city
from .config import resolve_conf
from .render import render


def _info(conf: dict, x, y, z, heading: float, pitch: float, pano: str, note: str) -> ImageInfo:
    east = conf["utm_origin_east"] + x
    north = conf["utm_origin_north"] + y
    lat, lon = utm.to_latlon(east, north, conf["utm_zone_number"], conf["utm_zone_letter"])
    return ImageInfo(
        utm_east=east,
        utm_north=north,
        utm_zone_number=conf["utm_zone_number"],
        utm_zone_letter=conf["utm_zone_letter"],
        latitude=float(lat),
        longitude=float(lon),
        pano_id=pano,
        heading=round(heading % 360.0, 2),
        pitch=round(pitch, 2),
        height=round(z, 2),
        note=note,
    )


def database_poses(city: City) -> list[tuple[float, float, float]]:
    """(x, y, heading) of every database view: places every ``db_spacing_m`` along the centre
    lines (intersections once), ``db_headings`` evenly spaced headings starting north."""
    conf = city.conf
    step = conf["db_spacing_m"]
    places: dict[tuple[int, int], tuple[float, float]] = {}
    for a, b in city.street_segments():
        length = float(np.linalg.norm(b - a))
        for t in np.arange(0.0, length + 1e-6, step):
            p = a + (b - a) * (t / length)
            places.setdefault((round(p[0] * 100), round(p[1] * 100)), (float(p[0]), float(p[1])))
    nh = conf["db_headings"]
    return [(x, y, k * 360.0 / nh) for (x, y) in places.values() for k in range(nh)]


def query_poses(city: City, split: str, q: dict, seed: int) -> list[dict]:
    rng = np.random.default_rng([seed, zlib.crc32(split.encode()), 11])
    segs = city.street_segments()
    lengths = np.array([np.linalg.norm(b - a) for a, b in segs])
    lat = float(q.get("lateral_m", 2.5))
    pmax = float(q.get("pitch_deg", 5.0))
    out = []
    for _ in range(q["n"]):
        k = int(rng.choice(len(segs), p=lengths / lengths.sum()))
        a, b = segs[k]
        d = (b - a) / lengths[k]
        p = a + d * rng.uniform(0, lengths[k]) + np.array([-d[1], d[0]]) * rng.uniform(-lat, lat)
        h = q.get("height_m")
        h = city.conf["camera_height_m"] - rng.uniform(0.0, 0.8) if h is None else float(h)
        out.append(
            {
                "x": float(p[0]),
                "y": float(p[1]),
                "z": max(0.5, h),
                "heading": float(rng.uniform(0, 360)),
                "pitch": float(rng.uniform(-pmax, pmax)),
                "seed": int(rng.integers(2**31)),
            }
        )
    return out


def _write_jpg(path: Path, img: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    path.write_bytes(buf.tobytes())


def write_dataset(conf: dict | None, root: str | Path, progress: bool = True) -> dict:
    """Render the database and every query split of ``conf`` under ``root``; return the summary
    that is also written to ``root/meta.json`` (last)."""
    conf = resolve_conf(conf)
    root = Path(root)
    seed = conf["seed"]
    city = make_city(conf, seed)
    cam_kw = {"width": conf["width"], "height": conf["height"], "fov_deg": conf["fov_deg"]}
    counts: dict[str, int] = {}
    db_dir = root / "images" / "test" / "database"
    db_dir.mkdir(parents=True, exist_ok=True)
    db_cond = {
        "condition": "day",
        "sun_azimuth_deg": conf["db_sun_azimuth_deg"],
        "sun_elevation_deg": conf["db_sun_elevation_deg"],
        "exposure": 1.0,
        "ambient": 0.35,
        "traffic": 0.5,
        "people": 0.1,
        "sky": 0,
        "traffic_seed": [seed, 1],
        "window_seed": 0,
    }
    poses = database_poses(city)
    names: set[str] = set()
    place_ids: dict[tuple[float, float], int] = {}
    for i, (x, y, hd) in enumerate(tqdm(poses, desc="synth database", disable=not progress)):
        pid = place_ids.setdefault((x, y), len(place_ids))
        cam = Camera(x, y, conf["camera_height_m"], hd, 0.0, **cam_kw)
        img = render(city, cam, db_cond, np.random.default_rng([seed, 2, i]))
        name = format_name(
            _info(conf, x, y, conf["camera_height_m"], hd, 0.0, f"db{pid:05d}", "day")
        )
        if name in names:
            raise RuntimeError(f"duplicate database name {name}")
        names.add(name)
        _write_jpg(db_dir / name, img, conf["jpeg_quality"])
    counts["database"] = len(poses)
    for split, q in conf["queries"].items():
        qdir = root / "images" / "test" / f"queries_{split}"
        qdir.mkdir(parents=True, exist_ok=True)
        params = {
            k: v for k, v in q.items() if k not in ("n", "lateral_m", "pitch_deg", "height_m")
        }
        for j, p in enumerate(
            tqdm(query_poses(city, split, q, seed), desc=f"synth {split}", disable=not progress)
        ):
            cam = Camera(p["x"], p["y"], p["z"], p["heading"], p["pitch"], **cam_kw)
            img = render(city, cam, params, np.random.default_rng(p["seed"]))
            name = format_name(
                _info(
                    conf,
                    p["x"],
                    p["y"],
                    p["z"],
                    p["heading"],
                    p["pitch"],
                    f"{split}{j:05d}",
                    q["condition"],
                )
            )
            _write_jpg(qdir / name, img, conf["jpeg_quality"])
        counts[f"queries_{split}"] = q["n"]
    K = Camera(0, 0, 1, 0, **cam_kw).K
    x0, y0, x1, y1 = city.layout["mapped_extent"]
    summary = {
        "dataset": "synthcity",
        "conf": conf,
        "counts": counts,
        "intrinsics": {
            "width": conf["width"],
            "height": conf["height"],
            "fov_deg": conf["fov_deg"],
            "fx": float(K[0, 0]),
            "fy": float(K[1, 1]),
            "cx": float(K[0, 2]),
            "cy": float(K[1, 2]),
        },
        "utm": {
            "zone_number": conf["utm_zone_number"],
            "zone_letter": conf["utm_zone_letter"],
            "extent_east_north": [
                conf["utm_origin_east"] + x0,
                conf["utm_origin_north"] + y0,
                conf["utm_origin_east"] + x1,
                conf["utm_origin_north"] + y1,
            ],
        },
    }
    with atomic_path(root / "meta.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary
