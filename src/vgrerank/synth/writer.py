"""Write a SynthCity dataset in the standard VG layout.

``<root>/images/test/database/*.jpg`` (day views on a grid along every street centre line,
``db_headings`` per place) and ``<root>/images/test/queries_<split>/*.jpg`` (random positions
within ``lateral_m`` of a centre line, random heading and pitch). File names come from
:func:`vgrerank.datasets.names.format_name`.

The database and each query split are rendered independently (:func:`write_database`,
:func:`write_queries`): the city is a deterministic function of the seed and the city conf, so a
split added later sees the same geometry and leaves the database untouched. Each part ends with
its completion file, written last and atomically: ``<root>/database.json`` and
``<root>/queries_<split>.json`` (both carry ``city_digest``); a part without it is incomplete.
:func:`read_summary` checks and combines them. :func:`write_dataset` renders both and also writes
the combined ``<root>/meta.json``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import cv2
import numpy as np
import utm
from tqdm import tqdm

from ..datasets.names import ImageInfo, format_name
from ..errors import ConfigError, DataError
from ..io import atomic_path
from .camera import Camera
from .city import City, make_city
from .config import resolve_conf
from .render import render

DATABASE_JSON = "database.json"


def queries_json(split: str) -> str:
    return f"queries_{split}.json"


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


def city_conf(conf: dict) -> dict:
    """The part of a resolved SynthCity conf that fixes the city and the database (every key but
    ``queries``): what :func:`write_database` renders from and what query splits must share."""
    return {k: v for k, v in conf.items() if k != "queries"}


def city_digest(conf: dict) -> str:
    """Fingerprint of the city and database conf (seed included): a query split rendered with
    the same digest sees the same geometry as the database."""
    text = json.dumps(city_conf(resolve_conf(conf)), sort_keys=True, default=float)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _summary(conf: dict, city: City) -> dict:
    cam_kw = {"width": conf["width"], "height": conf["height"], "fov_deg": conf["fov_deg"]}
    K = Camera(0, 0, 1, 0, **cam_kw).K
    x0, y0, x1, y1 = city.layout["mapped_extent"]
    return {
        "dataset": "synthcity",
        "city_digest": city_digest(conf),
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


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))


def _render_database(conf: dict, city: City, root: Path, progress: bool) -> int:
    seed = conf["seed"]
    cam_kw = {"width": conf["width"], "height": conf["height"], "fov_deg": conf["fov_deg"]}
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
            raise ConfigError(
                f"synth conf: two database views get the same file name {name} (db_spacing_m "
                "or db_headings finer than the 0.01 m / 0.01 degree precision of the names)"
            )
        names.add(name)
        _write_jpg(db_dir / name, img, conf["jpeg_quality"])
    return len(poses)


def _render_split(conf: dict, city: City, root: Path, split: str, progress: bool) -> int:
    q = conf["queries"][split]
    cam_kw = {"width": conf["width"], "height": conf["height"], "fov_deg": conf["fov_deg"]}
    qdir = root / "images" / "test" / f"queries_{split}"
    qdir.mkdir(parents=True, exist_ok=True)
    params = {k: v for k, v in q.items() if k not in ("n", "lateral_m", "pitch_deg", "height_m")}
    for j, p in enumerate(
        tqdm(query_poses(city, split, q, conf["seed"]), desc=f"synth {split}", disable=not progress)
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
    return q["n"]


def write_database(conf: dict | None, root: str | Path, progress: bool = True) -> dict:
    """Render the database views of ``conf`` (its ``queries`` are ignored) under ``root``;
    return the summary that is also written to ``root/database.json`` (last, atomically)."""
    conf = resolve_conf(city_conf(conf or {}))
    root = Path(root)
    city = make_city(conf, conf["seed"])
    n = _render_database(conf, city, root, progress)
    summary = {**_summary(conf, city), "conf": city_conf(conf), "counts": {"database": n}}
    _write_json(root / DATABASE_JSON, summary)
    return summary


def write_queries(
    conf: dict | None, root: str | Path, splits: list[str] | None = None, progress: bool = True
) -> dict[str, dict]:
    """Render the query splits ``splits`` (default: every split of ``conf['queries']``) under
    ``root``, each followed by its ``root/queries_<split>.json`` (atomically). The city is built
    from the same seed and city conf as :func:`write_database`, so the split needs no database
    render and a later split leaves the database untouched. Returns split -> summary."""
    conf = resolve_conf(conf)
    root = Path(root)
    splits = list(conf["queries"]) if splits is None else list(splits)
    missing = [s for s in splits if s not in conf["queries"]]
    if missing:
        raise ConfigError(
            f"synth conf: queries has no entry for split(s) {missing} (has: {sorted(conf['queries'])})"
        )
    city = make_city(conf, conf["seed"])
    out = {}
    for split in splits:
        n = _render_split(conf, city, root, split, progress)
        summary = {
            **_summary(conf, city),
            "split": split,
            "conf": {**city_conf(conf), "queries": {split: conf["queries"][split]}},
            "counts": {f"queries_{split}": n},
        }
        _write_json(root / queries_json(split), summary)
        out[split] = summary
    return out


def read_summary(root: str | Path, splits: list[str] | None = None) -> dict:
    """The summary of a rendered dataset from its parts (``database.json`` and each
    ``queries_<split>.json``; default: every split rendered): raises :class:`DataError` naming
    the missing part, or the split rendered from another city than the database."""
    root = Path(root)
    db_path = root / DATABASE_JSON
    if not db_path.is_file():
        raise DataError(f"{db_path}: database not rendered (missing); the dataset is incomplete")
    summary = json.loads(db_path.read_text())
    if splits is None:
        splits = sorted(
            p.name[len("queries_") : -len(".json")] for p in root.glob("queries_*.json")
        )
    summary["conf"] = {**summary["conf"], "queries": {}}
    for split in splits:
        path = root / queries_json(split)
        if not path.is_file():
            raise DataError(f"{path}: query split {split!r} not rendered (missing)")
        part = json.loads(path.read_text())
        if part.get("city_digest") != summary.get("city_digest"):
            raise DataError(
                f"{path}: split {split!r} was rendered from another city than {db_path} "
                f"(city digest {part.get('city_digest')} != {summary.get('city_digest')})"
            )
        summary["conf"]["queries"].update(part["conf"]["queries"])
        summary["counts"].update(part["counts"])
    return summary


def write_dataset(conf: dict | None, root: str | Path, progress: bool = True) -> dict:
    """Render the database and every query split of ``conf`` under ``root``; return the summary
    that is also written to ``root/meta.json`` (last), beside the parts ``database.json`` and
    ``queries_<split>.json``."""
    conf = resolve_conf(conf)
    root = Path(root)
    write_database(conf, root, progress)
    write_queries(conf, root, progress=progress)
    summary = read_summary(root, list(conf["queries"]))
    summary["conf"] = conf
    _write_json(root / "meta.json", summary)
    return summary
