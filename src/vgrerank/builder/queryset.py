"""Write the built query set in the standard VG layout and register it as a split.

The photos that survive every stage are copied (re-encoded only when not JPEG) to
``<root>/images/test/queries_<split>/`` under ``@UTM`` names (:func:`vgrerank.datasets.names.
format_name`) that carry the corrected position, in the database's UTM zone, the photo id as
``pano_id`` and the date taken as ``timestamp``. The folder is written beside the final one and
renamed into place, then the completion file (``built_<split>.json``: counts, photo ids, names)
is written atomically; a split folder without its completion file is incomplete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import utm

from ..datasets.names import ImageInfo, format_name
from ..errors import DataError
from ..imageio import load_image
from ..io import atomic_path


def _zone(db_utm_zone: tuple[int, str] | None, lat: float, lon: float):
    if db_utm_zone is None:
        return utm.from_latlon(lat, lon)
    number, letter = db_utm_zone
    return utm.from_latlon(lat, lon, force_zone_number=number, force_zone_letter=letter)


def query_name(photo_id: str, lat: float, lon: float, taken: str, zone=None) -> str:
    """The ``@UTM`` file name of a built query at (lat, lon)."""
    east, north, number, letter = _zone(zone, lat, lon)
    stamp = "".join(ch for ch in str(taken or "") if ch.isdigit())[:14]
    return format_name(
        ImageInfo(
            utm_east=float(east),
            utm_north=float(north),
            utm_zone_number=int(number),
            utm_zone_letter=str(letter),
            latitude=float(lat),
            longitude=float(lon),
            pano_id=str(photo_id).replace("@", "_"),
            timestamp=stamp,
            note="built",
        )
    )


def write_queryset(
    rows: pd.DataFrame,
    photos_dir: str | os.PathLike,
    root: str | os.PathLike,
    split: str,
    done_file: str | os.PathLike,
    zone: tuple[int, str] | None = None,
) -> dict:
    """Copy the kept photos ``rows`` (photo_id, path, latitude, longitude, taken) from
    ``photos_dir`` into ``<root>/images/test/queries_<split>`` and write ``done_file``."""
    if rows.empty:
        raise DataError(
            f"{done_file}: no photo survived the builder's filters for split {split!r}; "
            "see the stage tables and the funnel for where they were dropped"
        )
    root, photos_dir = Path(root), Path(photos_dir)
    final = root / "images" / "test" / f"queries_{split}"
    tmp = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = []
    for r in rows.sort_values("photo_id").itertuples(index=False):
        if not (np.isfinite(r.latitude) and np.isfinite(r.longitude)):
            raise DataError(f"photo {r.photo_id}: no position to name its query file by")
        name = query_name(r.photo_id, r.latitude, r.longitude, r.taken, zone)
        src = photos_dir / r.path
        if src.suffix.lower() in (".jpg", ".jpeg"):
            shutil.copyfile(src, tmp / name)
        else:  # decode and re-encode anything else as JPEG
            import cv2

            img = load_image(src)
            cv2.imwrite(str(tmp / name), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        names.append(name)
    if len(set(names)) != len(names):
        raise DataError(f"{final}: two built queries would get the same file name")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    summary = {
        "split": split,
        "folder": final.relative_to(root).as_posix(),
        "queries": len(names),
        "photo_ids": sorted(str(p) for p in rows["photo_id"]),
    }
    with atomic_path(done_file) as t:
        t.write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary
