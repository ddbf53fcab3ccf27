"""Tables for the relabel page's command line: the photos (optionally only those a stage
keeps), the database folder's positions and re-ranking candidates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import DataError


def load_photos(path: str | Path, kept_in: str | Path | None = None) -> pd.DataFrame:
    """Kept, downloaded photos of a photos table, with image paths resolved against its folder.

    ``kept_in``: a later stage table (``photo_id, keep, reason``); only photos it keeps are
    listed, so that the corrections CSV names only photos that reach the corrections stage."""
    from ..table import read_table

    path = Path(path)
    df = read_table(path, columns=("photo_id", "path", "latitude", "longitude"))
    if "keep" in df.columns:
        df = df[df["keep"].astype(bool)]
    if kept_in is not None:
        stage = read_table(kept_in)
        df = df[df["photo_id"].isin(set(stage.loc[stage["keep"].astype(bool), "photo_id"]))]
    df = df[df["path"].astype(str) != ""]
    resolved = [str(path.parent / p) for p in df["path"].astype(str)]
    return df.assign(path=resolved).reset_index(drop=True)


def load_database(folder: str | Path) -> pd.DataFrame:
    """Images of a VG database folder (``@UTM`` names): name (relative path), path, lat/lon."""
    from ...datasets.names import parse_name
    from ...datasets.readers import list_images

    folder = Path(folder)
    rows = []
    for f in list_images(folder):
        lat, lon = _name_latlon(f, parse_name(f))
        rows.append((f.relative_to(folder).as_posix(), str(f), lat, lon))
    return pd.DataFrame(rows, columns=["name", "path", "latitude", "longitude"])


def _name_latlon(path: Path, info) -> tuple[float, float]:
    """Latitude/longitude from the name's fields, else from its UTM coordinates."""
    if info.latitude is not None and info.longitude is not None:
        return info.latitude, info.longitude
    if info.utm_zone_number is None or not info.utm_zone_letter:
        raise DataError(f"{path}: no latitude/longitude and no UTM zone in the file name")
    import utm

    try:
        return utm.to_latlon(
            info.utm_east, info.utm_north, info.utm_zone_number, info.utm_zone_letter
        )
    except Exception as exc:  # utm.OutOfRangeError and friends
        raise DataError(f"{path}: bad UTM position ({exc})") from exc


def load_candidates(path: str | Path, photos: pd.DataFrame) -> dict[str, list[tuple[str, float]]]:
    """Candidates from a re-ranking parquet (``db_name``, ``score`` and ``photo_id`` or
    ``query_name``, e.g. :mod:`vgrerank.rerank` output); query names are matched to photo ids,
    image paths or their base names / stems. Rows in ``rank`` order when present."""
    path = Path(path)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: unreadable candidates table ({exc})") from exc
    key = "photo_id" if "photo_id" in df.columns else "query_name"
    missing = [c for c in (key, "db_name", "score") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    if "rank" in df.columns:
        df = df.sort_values([key, "rank"], kind="stable")
    lookup = _photo_lookup(photos)
    out: dict[str, list[tuple[str, float]]] = {}
    for name, group in df.groupby(key, sort=False):
        pid = lookup.get(str(name)) or lookup.get(_built_photo_id(str(name)))
        if pid is not None:
            out[pid] = list(
                zip(group["db_name"].astype(str), group["score"].astype(float), strict=True)
            )
    if len(df) and not out:
        raise DataError(f"{path}: no {key} matches a photo of the photos table")
    return out


def _built_photo_id(name: str) -> str:
    """The photo id a built query's ``@UTM`` name carries as its pano_id ('' if none)."""
    from ...datasets.names import parse_name

    try:
        return parse_name(name).pano_id
    except DataError:
        return ""


def _photo_lookup(photos: pd.DataFrame) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for pid, p in zip(photos["photo_id"].astype(str), photos["path"].astype(str), strict=True):
        for key in (Path(p).stem, Path(p).name, p, pid):
            lookup[key] = pid
    return lookup
