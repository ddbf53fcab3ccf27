"""Tourist-style photo collections of a SynthCity city (the fake photo-sharing source of the
query-set builder).

:func:`write_collection` renders ``n`` photos of the city of a SynthCity conf (the same city as
its database when the seed and city keys match) at random street spots (on the road like the
query splits, on the sidewalks, on the crossings: "plazas") with random headings (on a sidewalk
not into the facade behind) and a tourist's camera (1.45-1.75 m high, tilted up a little, 55-75
degree lenses, landscape or portrait), under mixed day / dusk / night conditions, with the faults
of a real photo-sharing site:

- geotags: GPS noise of a few metres, or (a fraction ``geotag_wrong``) 30-200 m off;
- bursts of 3-6 near-duplicates (same spot, < 0.5 m and a few degrees apart, varying exposure,
  seconds apart, one owner);
- indoor photos (rooms of :mod:`.indoor`, the camera inside a building by the street),
  half-indoor shots (the street seen through a door or from under an arcade) and panoramas
  (three renders 60 degrees apart stitched on a cylinder: 3:1, 180 degrees).

Layout of ``out_dir`` (the contract with the photo server and the folder reader):

- ``photos.json``: list of ``{id, owner, ownername, title, latitude, longitude (the served,
  possibly wrong geotag), accuracy (16), datetaken ("YYYY-MM-DD HH:MM:SS", consistent with the
  condition: day 09-16 h, dusk 18-19 h, night 21-04 h), license (Flickr licence id 0-10),
  file ("img/<id>.jpg"), width, height}``;
- ``img/<id>.jpg``: the photos, with EXIF GPS (the served geotag) and DateTimeOriginal;
- ``truth.csv`` (never served): ``id, true_x, true_y`` (city metres), ``true_east, true_north``
  (UTM), ``true_lat, true_lon, heading, condition, indoor_level`` (0 street .. 9 room:
  ``round(9 * fraction of the frame showing interior geometry)``; a room's window glass counts
  as interior, it shows no street; half-indoor shots 1..8), ``panoramic, burst`` (burst id
  or -1), ``geotag_error_m``, then ``kind`` (street, panorama, half_indoor, indoor), ``spot``
  (street, sidewalk, plaza, building), ``pitch, hfov_deg``;
- ``collection.json``: summary, conf and seed; written last and atomically (the completion file;
  removed first when a collection is rewritten).

Options: the ``photos`` key of the conf (removed before the SynthCity conf is resolved), see
:data:`PHOTO_DEFAULTS`. Everything is a deterministic function of the conf and ``seed``: every
group of photos (a single photo or a burst) draws from its own generator seeded by
``(conf seed, seed, group)``; floats go through exactly rounded operations or Python ``math``.

Spots, poses and renders live in :mod:`.photo_shots`, dates, titles and EXIF in
:mod:`.photo_meta`; this module plans the groups and owners and writes the collection.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import utm
from tqdm import tqdm

from ..errors import ConfigError
from ..io import atomic_path
from .city import City, make_city
from .config import CONDITIONS, resolve_conf
from .photo_meta import draw_taken, draw_title, exif_bytes, geotag_offset, jpeg_with_exif
from .photo_shots import (
    draw_condition,
    draw_frame,
    draw_poses,
    free_snapshot,
    indoor_spot,
    render_photo,
    street_spot,
)
from .writer import city_conf, city_digest

COLLECTION_JSON = "collection.json"
PHOTOS_JSON = "photos.json"
TRUTH_CSV = "truth.csv"
TRUTH_COLUMNS = (
    "id", "true_x", "true_y", "true_east", "true_north", "true_lat", "true_lon", "heading",
    "condition", "indoor_level", "panoramic", "burst", "geotag_error_m", "kind", "spot", "pitch",
    "hfov_deg",
)  # fmt: skip
PHOTO_DEFAULTS: dict = {
    "conditions": {"day": 0.3, "dusk": 0.15, "night": 0.55},
    "spots": {"street": 0.3, "sidewalk": 0.5, "plaza": 0.2},
    "indoor": 0.08,
    "half_indoor": 0.07,
    "panorama": 0.05,
    "burst": 0.2,
    "burst_size": [3, 6],
    "geotag_wrong": 0.15,
    "geotag_wrong_m": [30.0, 200.0],
    "gps_sigma_m": 3.0,
    "long_side": 640,
    "portrait": 0.35,
    "fov_deg": [55.0, 75.0],
    "pitch_deg": [-6.0, 12.0],
    "height_m": [1.45, 1.75],
    "lateral_m": 2.5,
    "start_date": "2022-01-01",
    "days": 730,
    "owners": 0,
    "jpeg_quality": [80, 95],
}
KINDS = ("street", "panorama", "half_indoor", "indoor")
# Flickr licence ids 0 (all rights reserved) .. 10; how often owners pick them
LICENSE_P = (0.45, 0.07, 0.07, 0.07, 0.07, 0.07, 0.07, 0.03, 0.02, 0.04, 0.04)
CAMERAS = (
    ("Apple", "iPhone 12", "phone"), ("Apple", "iPhone 14 Pro", "phone"),
    ("samsung", "SM-G991B", "phone"), ("Google", "Pixel 7", "phone"),
    ("Canon", "Canon EOS 80D", "dslr"), ("SONY", "ILCE-6400", "dslr"),
    ("NIKON CORPORATION", "NIKON D5600", "dslr"), ("FUJIFILM", "X-T30", "dslr"),
)  # fmt: skip
SYLLABLES = ("ka", "ren", "mo", "li", "ta", "vel", "sa", "no", "dri", "an", "be", "tor", "mi",
             "ul", "ze", "fa", "ro", "yu", "den", "shi")  # fmt: skip


# ---- options ----------------------------------------------------------------------------------


def split_conf(conf: dict | None) -> tuple[dict, dict]:
    """(resolved SynthCity city conf, resolved photo options) of a conf with a ``photos`` key."""
    conf = dict(conf or {})
    opts = conf.pop("photos", None) or {}
    if not isinstance(opts, dict):
        raise ConfigError("synth conf: photos must be a mapping of photo-collection options")
    return resolve_conf(city_conf(conf)), resolve_photo_options(opts)


def _fraction(key: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        raise ConfigError(f"synth conf: photos.{key}={v!r} must be a fraction within 0..1")
    return float(v)


def _weights(key: str, v, names) -> dict:
    if not isinstance(v, dict) or set(v) - set(names):
        raise ConfigError(f"synth conf: photos.{key} must map some of {list(names)} to weights")
    w = {k: float(v.get(k, 0.0)) for k in names}
    if any(x < 0 for x in w.values()) or sum(w.values()) <= 0:
        raise ConfigError(f"synth conf: photos.{key}={v!r}: weights must be >= 0, not all 0")
    return w


def _range(key: str, v, lo: float, hi: float) -> list:
    ok = isinstance(v, list | tuple) and len(v) == 2
    ok = ok and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
    if not ok or not lo <= v[0] <= v[1] <= hi:
        raise ConfigError(f"synth conf: photos.{key}={v!r} must be [min, max] within {lo}..{hi}")
    return list(v)


def resolve_photo_options(opts: dict | None) -> dict:
    """:data:`PHOTO_DEFAULTS` merged with ``opts`` and checked (:class:`ConfigError` naming the
    key)."""
    opts = dict(opts or {})
    unknown = set(opts) - set(PHOTO_DEFAULTS)
    if unknown:
        raise ConfigError(f"synth conf: photos: unknown key(s) {sorted(unknown)}")
    out = copy.deepcopy(PHOTO_DEFAULTS)
    out.update(copy.deepcopy(opts))
    out["conditions"] = _weights("conditions", out["conditions"], CONDITIONS)
    out["spots"] = _weights("spots", out["spots"], ("street", "sidewalk", "plaza"))
    for key in ("indoor", "half_indoor", "panorama", "burst", "geotag_wrong", "portrait"):
        out[key] = _fraction(key, out[key])
    if out["indoor"] + out["half_indoor"] + out["panorama"] > 1:
        raise ConfigError("synth conf: photos.indoor + half_indoor + panorama must be <= 1")
    out["burst_size"] = [int(x) for x in _range("burst_size", out["burst_size"], 2, 50)]
    out["geotag_wrong_m"] = _range("geotag_wrong_m", out["geotag_wrong_m"], 0.0, 1e5)
    out["fov_deg"] = _range("fov_deg", out["fov_deg"], 20.0, 120.0)
    out["pitch_deg"] = _range("pitch_deg", out["pitch_deg"], -45.0, 45.0)
    out["height_m"] = _range("height_m", out["height_m"], 0.3, 10.0)
    out["jpeg_quality"] = [int(x) for x in _range("jpeg_quality", out["jpeg_quality"], 30, 100)]
    for key, lo in (("gps_sigma_m", 0.0), ("lateral_m", 0.0), ("days", 1), ("owners", 0)):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < lo:
            raise ConfigError(f"synth conf: photos.{key}={v!r} must be a number >= {lo}")
    for key in ("long_side", "days", "owners"):
        if not isinstance(out[key], int):
            raise ConfigError(f"synth conf: photos.{key}={out[key]!r} must be an integer")
    if out["long_side"] < 64:
        raise ConfigError(f"synth conf: photos.long_side={out['long_side']} must be >= 64")
    try:
        dt.date.fromisoformat(str(out["start_date"]))
    except ValueError as e:
        raise ConfigError(
            f"synth conf: photos.start_date={out['start_date']!r} must be YYYY-MM-DD"
        ) from e
    return out


# ---- the plan: groups, owners, ids ------------------------------------------------------------


def _choice(rng: np.random.Generator, weights: dict) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _groups(n: int, opts: dict, rng: np.random.Generator) -> list[dict]:
    """Groups of photos (bursts and singles, shuffled) with their kind."""
    lo, hi = opts["burst_size"]
    left = round(opts["burst"] * n)
    sizes = []
    while left >= lo:
        s = int(rng.integers(lo, min(hi, left) + 1))
        sizes.append(s)
        left -= s
    singles = n - sum(sizes)
    groups = [{"size": s, "burst": True, "kind": "street"} for s in sizes]
    # kind fractions are fractions of all photos; bursts are street photos
    scale = n / max(1, singles)
    w = {k: min(1.0, opts[k] * scale) for k in ("indoor", "half_indoor", "panorama")}
    w["street"] = max(0.0, 1.0 - sum(w.values()))
    groups += [{"size": 1, "burst": False, "kind": _choice(rng, w)} for _ in range(singles)]
    order = rng.permutation(len(groups))
    groups = [groups[int(i)] for i in order]
    b = 0
    for g in groups:
        g["burst_id"] = b if g["burst"] else -1
        b += g["burst"]
    return groups


def _name(rng: np.random.Generator) -> str:
    parts = [SYLLABLES[int(rng.integers(len(SYLLABLES)))] for _ in range(int(rng.integers(2, 4)))]
    name = "".join(parts).capitalize()
    if rng.random() < 0.4:
        name += str(int(rng.integers(1, 99)))
    return name


def _owners(n_owners: int, rng: np.random.Generator) -> list[dict]:
    out = []
    for _ in range(n_owners):
        cam = CAMERAS[int(rng.integers(len(CAMERAS)))]
        out.append(
            {
                "owner": f"{int(rng.integers(10**7, 2 * 10**8))}@N{int(rng.integers(0, 8)):02d}",
                "ownername": _name(rng),
                "license": int(rng.choice(len(LICENSE_P), p=LICENSE_P)),
                "make": cam[0],
                "model": cam[1],
                "phone": cam[2] == "phone",
                "titles": "numbered" if rng.random() < 0.6 else "words",
                "counter": int(rng.integers(100, 9000)),
            }
        )
    return out


def _ids(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 10-digit photo ids, ascending."""
    ids: set[int] = set()
    while len(ids) < n:
        ids.update(int(v) for v in rng.integers(5 * 10**9, 10**10 - 1, n - len(ids)))
    return [str(v) for v in sorted(ids)]


# ---- the collection ---------------------------------------------------------------------------


def _group_photos(city: City, conf: dict, opts: dict, group: dict, owner: dict, seeds) -> list:
    """Render and describe the photos of one group -> list of (record, truth row, jpeg bytes)."""
    rng = np.random.default_rng(seeds)
    condition = _choice(rng, opts["conditions"])
    kind = group["kind"]
    if kind == "indoor":
        spot, spot_kind = indoor_spot(city, opts, rng), "building"
    else:
        spot_kind = "sidewalk" if kind == "half_indoor" else _choice(rng, opts["spots"])
        spot = street_spot(city, spot_kind, opts, rng)
    poses = draw_poses(city, group, spot, opts, rng)
    cond = draw_condition(city, condition, rng)
    if kind != "indoor":
        cond = free_snapshot(city, cond, poses, rng)
    frame = draw_frame(kind, opts, rng)
    taken0 = draw_taken(opts, condition, rng)
    off_e, off_n = geotag_offset(opts, kind, rng)
    lic = owner["license"] if rng.random() < 0.9 else int(rng.choice(11, p=LICENSE_P))
    quality = int(rng.integers(opts["jpeg_quality"][0], opts["jpeg_quality"][1] + 1))
    out = []
    for pose in poses:
        img, level = render_photo(city, kind, pose, frame, cond, rng)
        taken = taken0 + dt.timedelta(seconds=pose["dt"])
        te, tn = conf["utm_origin_east"] + pose["x"], conf["utm_origin_north"] + pose["y"]
        zone = (conf["utm_zone_number"], conf["utm_zone_letter"])
        tlat, tlon = (float(v) for v in utm.to_latlon(te, tn, *zone))
        glat, glon = (round(float(v), 6) for v in utm.to_latlon(te + off_e, tn + off_n, *zone))
        record = {
            "owner": owner["owner"],
            "ownername": owner["ownername"],
            "title": draw_title(owner, group, condition, taken, rng),
            "latitude": glat,
            "longitude": glon,
            "accuracy": 16,
            "datetaken": taken.strftime("%Y-%m-%d %H:%M:%S"),
            "license": lic,
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
        }
        truth = {
            "true_x": round(pose["x"], 3),
            "true_y": round(pose["y"], 3),
            "true_east": round(te, 3),
            "true_north": round(tn, 3),
            "true_lat": round(tlat, 8),
            "true_lon": round(tlon, 8),
            "heading": round(pose["heading"], 2),
            "condition": condition,
            "indoor_level": level,
            "panoramic": kind == "panorama",
            "burst": group["burst_id"],
            "geotag_error_m": round(math.hypot(off_e, off_n), 2),
            "kind": kind,
            "spot": spot_kind,
            "pitch": round(pose["pitch"], 2),
            "hfov_deg": round(frame["hfov"], 2),
        }
        exif = exif_bytes(glat, glon, taken, owner, record["width"], record["height"])
        out.append((record, truth, jpeg_with_exif(img, quality, exif)))
    return out


def _write_truth(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(TRUTH_COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))


def _summary(conf: dict, opts: dict, n: int, seed: int, truth: list[dict]) -> dict:
    count = {}
    for key in ("condition", "kind", "indoor_level"):
        values = sorted({str(r[key]) for r in truth})
        count[key] = {v: sum(str(r[key]) == v for r in truth) for v in values}
    count["bursts"] = len({r["burst"] for r in truth if r["burst"] >= 0})
    count["burst_photos"] = sum(r["burst"] >= 0 for r in truth)
    count["wrong_geotags"] = sum(r["geotag_error_m"] >= opts["geotag_wrong_m"][0] for r in truth)
    return {
        "dataset": "synthcity-photos",
        "version": 1,
        "n": n,
        "seed": seed,
        "city_digest": city_digest(conf),
        "conf": {**conf, "photos": opts},
        "counts": count,
        "files": {"photos": PHOTOS_JSON, "truth": TRUTH_CSV, "images": "img"},
        "utm": {"zone_number": conf["utm_zone_number"], "zone_letter": conf["utm_zone_letter"]},
    }


def write_collection(
    conf: dict | None, out_dir: str | Path, *, n: int, seed: int, progress: bool = True
) -> dict:
    """Render a collection of ``n`` tourist photos of the city of the SynthCity conf ``conf``
    (``conf['photos']``: options, :data:`PHOTO_DEFAULTS`; ``conf['queries']`` is ignored) into
    ``out_dir`` (layout: module doc). ``seed`` draws the collection; the conf's seed fixes the
    city. Returns the summary also written to ``out_dir/collection.json`` (last)."""
    for key, v in (("n", n), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"photo collection: {key}={v!r} must be a non-negative integer")
    conf, opts = split_conf(conf)
    out_dir = Path(out_dir)
    (out_dir / "img").mkdir(parents=True, exist_ok=True)
    (out_dir / COLLECTION_JSON).unlink(missing_ok=True)
    city = make_city(conf, conf["seed"])
    rng = np.random.default_rng([conf["seed"], seed, 100])
    groups = _groups(n, opts, rng)
    owners = _owners(opts["owners"] or max(2, math.ceil(n / 8)), rng)
    p_owner = np.array([1.0 / (k + 1) for k in range(len(owners))])
    picks = rng.choice(len(owners), size=len(groups), p=p_owner / p_owner.sum())
    ids = _ids(n, rng)
    records, truth = [], []
    with tqdm(total=n, desc="synth photos", disable=not progress) as bar:
        for g, group in enumerate(groups):
            owner = owners[int(picks[g])]
            seeds = [conf["seed"], seed, 101, g]
            for record, row, jpeg in _group_photos(city, conf, opts, group, owner, seeds):
                pid = ids[len(records)]
                (out_dir / "img" / f"{pid}.jpg").write_bytes(jpeg)
                records.append({"id": pid, **record, "file": f"img/{pid}.jpg"})
                truth.append({"id": pid, **row})
                bar.update(1)
    keep = {f"{r['id']}.jpg" for r in records}
    for stale in (out_dir / "img").glob("*.jpg"):
        if stale.name not in keep:
            stale.unlink()
    _write_json(out_dir / PHOTOS_JSON, records)
    _write_truth(out_dir / TRUTH_CSV, truth)
    summary = _summary(conf, opts, n, seed, truth)
    _write_json(out_dir / COLLECTION_JSON, summary)
    return summary
