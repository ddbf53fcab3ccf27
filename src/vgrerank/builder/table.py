"""Stage tables of the query-set builder: one row per photo, keyed by ``photo_id``.

Every stage writes a table (Parquet, or CSV when the suffix is ``.csv``) atomically, so the
funnel is auditable: a photo dropped by a stage is still listed there, with ``keep = False`` and
a ``reason``. Photo ids are strings (Flickr ids are large integers; local files use their stem).

The source table (``photos.parquet``) has :data:`PHOTO_COLUMNS`:

- ``photo_id`` (str), ``path`` (image file relative to the table's folder, '' when not
  downloaded), ``source`` ('flickr' | 'folder'),
- ``latitude``, ``longitude`` (WGS84 degrees, the photo's geotag; NaN when missing),
- ``taken`` (date taken, ISO 8601 'YYYY-MM-DDTHH:MM:SS' or ''), ``owner``, ``license`` (str),
- ``width``, ``height`` (pixels of the stored file; 0 when not downloaded),
- ``keep`` (bool), ``reason`` ('' when kept; else why dropped: 'download failed: ...',
  'no GPS in EXIF', 'corrupt image: ...').

Filter tables have at least ``photo_id``, ``keep``, ``reason``; their own score columns are
documented by each stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..io import atomic_path

PHOTO_COLUMNS = (
    "photo_id",
    "path",
    "source",
    "latitude",
    "longitude",
    "taken",
    "owner",
    "license",
    "width",
    "height",
    "keep",
    "reason",
)
STAGE_COLUMNS = ("photo_id", "keep", "reason")


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` atomically to ``path`` (.parquet or .csv); ``photo_id`` must be unique."""
    path = Path(path)
    if "photo_id" in df.columns:
        df = df.assign(photo_id=df["photo_id"].astype(str))
        dup = df["photo_id"][df["photo_id"].duplicated()]
        if len(dup):
            raise DataError(f"{path}: duplicate photo_id(s) {sorted(set(dup))[:5]}")
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    return path


def read_table(path: str | os.PathLike, columns: Iterable[str] = STAGE_COLUMNS) -> pd.DataFrame:
    """Read a stage table and check that it has ``columns``; ``photo_id`` is read as str."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: stage table not found")
    try:
        if path.suffix == ".csv":
            df = pd.read_csv(path, dtype={"photo_id": str}, keep_default_na=False)
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow / csv parser errors
        raise DataError(f"{path}: unreadable table ({exc})") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    if "photo_id" in df.columns:
        df["photo_id"] = df["photo_id"].astype(str)
    return df


def kept(df: pd.DataFrame) -> pd.DataFrame:
    """Rows still in the funnel (``keep`` true)."""
    return df[df["keep"].astype(bool)].reset_index(drop=True)
