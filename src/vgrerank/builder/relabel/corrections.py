"""The reviewer's geotag corrections: one CSV row per reviewed photo, applied by the next run.

The relabel page (:mod:`.app`) writes ``corrections.csv`` with :data:`COLUMNS`:

- ``photo_id`` (str, unique in the file),
- ``action``: ``accept`` (the position of database image ``candidate``), ``move`` (a position
  the reviewer dragged the marker to), ``keep`` (the photo's own geotag is right) or ``reject``
  (the photo is unusable: wrong place, indoor, not a night photo...),
- ``latitude``, ``longitude``: the final WGS84 position (may be empty for ``reject``),
- ``candidate``: the accepted database image name ('' for other actions),
- ``time``: when the decision was made (ISO 8601, UTC).

Every write rewrites the whole file atomically (temporary sibling + rename), so a crash never
leaves a half-written CSV. :func:`apply_corrections` turns the file into corrected positions
and ``keep = False`` rows of a photos table.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ...errors import DataError
from ...io import atomic_path

COLUMNS = ("photo_id", "action", "latitude", "longitude", "candidate", "time")
ACTIONS = ("accept", "move", "keep", "reject")
REJECT_REASON = "rejected by reviewer"


@dataclass(frozen=True)
class Correction:
    """One reviewer decision (a row of the corrections CSV); NaN position when unknown."""

    photo_id: str
    action: str
    latitude: float = math.nan
    longitude: float = math.nan
    candidate: str = ""
    time: str = ""

    def __post_init__(self) -> None:
        problem = correction_problem(self)
        if problem:
            raise ValueError(problem)


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds (``2024-05-01T21:03:07+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def correction_problem(c: Correction) -> str:
    """Why ``c`` is not a valid decision ('' when it is)."""
    if not c.photo_id:
        return "empty photo_id"
    if c.action not in ACTIONS:
        return f"action {c.action!r} is not one of {', '.join(ACTIONS)}"
    has_lat, has_lon = math.isfinite(c.latitude), math.isfinite(c.longitude)
    if has_lat != has_lon:
        return "latitude and longitude must be both given or both empty"
    if c.action != "reject" and not has_lat:
        return f"action {c.action!r} needs a latitude and a longitude"
    if has_lat and not (-90 <= c.latitude <= 90 and -180 <= c.longitude <= 180):
        return f"position ({c.latitude}, {c.longitude}) is outside WGS84 degrees"
    if c.action == "accept" and not c.candidate:
        return "action 'accept' needs the candidate's database image name"
    return ""


def _parse_float(text: str, column: str) -> float:
    """A CSV coordinate: '' -> NaN, else a finite float (ValueError otherwise)."""
    text = text.strip()
    if text == "":
        return math.nan
    value = float(text)  # ValueError on garbage
    if not math.isfinite(value):
        raise ValueError(f"{column}={text!r} is not finite")
    return value


def _row_to_correction(row: dict[str, str]) -> Correction:
    try:
        lat = _parse_float(row["latitude"], "latitude")
        lon = _parse_float(row["longitude"], "longitude")
    except ValueError as exc:
        raise ValueError(f"bad coordinate ({exc})") from None
    return Correction(
        photo_id=row["photo_id"].strip(),
        action=row["action"].strip(),
        latitude=lat,
        longitude=lon,
        candidate=row["candidate"],
        time=row["time"],
    )


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise DataError(f"{path}:1: empty corrections file (expected header {','.join(COLUMNS)})")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}:1: corrections header lacks column(s) {missing}; has {header}")


def read_corrections(path: str | os.PathLike) -> list[Correction]:
    """Read and validate a corrections CSV (a missing file is an empty list).

    Raises :class:`DataError` naming the file and line for a bad header, a row with the wrong
    number of fields, an unknown action, a bad coordinate or a duplicate ``photo_id``."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return _read_rows(path, csv.reader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable corrections CSV ({exc})") from exc


def _read_rows(path: Path, reader: Iterable[list[str]]) -> list[Correction]:
    rows = iter(reader)
    header = next(rows, None)
    _check_header(path, header)
    out: list[Correction] = []
    first_line: dict[str, int] = {}
    for line, fields in enumerate(rows, start=2):
        if not fields:
            continue  # blank line
        if len(fields) != len(header):
            raise DataError(f"{path}:{line}: {len(fields)} field(s), the header has {len(header)}")
        try:
            c = _row_to_correction(dict(zip(header, fields, strict=True)))
        except ValueError as exc:
            raise DataError(f"{path}:{line}: {exc}") from None
        if c.photo_id in first_line:
            raise DataError(
                f"{path}:{line}: photo_id {c.photo_id!r} already corrected on line "
                f"{first_line[c.photo_id]}"
            )
        first_line[c.photo_id] = line
        out.append(c)
    return out


def _format_float(value: float) -> str:
    return "" if not math.isfinite(value) else repr(float(value))


def write_corrections(corrections: Iterable[Correction], path: str | os.PathLike) -> Path:
    """Rewrite ``path`` atomically with ``corrections`` (one row each, in the given order)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for c in corrections:
            row = asdict(c)
            row["latitude"] = _format_float(c.latitude)
            row["longitude"] = _format_float(c.longitude)
            writer.writerow([row[k] for k in COLUMNS])
    return path


def upsert_correction(path: str | os.PathLike, correction: Correction) -> list[Correction]:
    """Replace (or append) ``correction``'s photo in the CSV at ``path``; returns all rows.

    Not safe against concurrent writers of the same file: the app serialises its calls."""
    rows = [c for c in read_corrections(path) if c.photo_id != correction.photo_id]
    rows.append(correction)
    write_corrections(rows, path)
    return rows


def corrections_frame(corrections: Iterable[Correction]) -> pd.DataFrame:
    """The corrections as a DataFrame with :data:`COLUMNS` (empty frame when none)."""
    df = pd.DataFrame([asdict(c) for c in corrections], columns=list(COLUMNS))
    return df.astype({"latitude": float, "longitude": float})


def apply_corrections(photos: pd.DataFrame, corrections_csv: str | os.PathLike) -> pd.DataFrame:
    """Return a copy of ``photos`` with the reviewer's corrections applied.

    ``accept`` / ``move`` / ``keep`` rows set ``latitude`` and ``longitude``; ``reject`` rows set
    ``keep = False`` and ``reason = 'rejected by reviewer'`` (the columns are added, all kept,
    when ``photos`` lacks them). A missing CSV means no corrections. Raises :class:`DataError`
    for a malformed CSV (file and line) or photo ids that ``photos`` does not have."""
    out = photos.copy()
    out["photo_id"] = out["photo_id"].astype(str)
    if "keep" not in out.columns:
        out["keep"] = True
    if "reason" not in out.columns:
        out["reason"] = ""
    corrections = read_corrections(corrections_csv)
    if not corrections:
        return out
    row_of = _index_photos(out)
    unknown = [c.photo_id for c in corrections if c.photo_id not in row_of]
    if unknown:
        raise DataError(
            f"{corrections_csv}: {len(unknown)} photo id(s) not in the photos table, e.g. "
            f"{unknown[:5]}"
        )
    _apply_positions(out, corrections, row_of)
    _apply_rejections(out, corrections, row_of)
    return out


def _index_photos(photos: pd.DataFrame) -> dict[str, int]:
    ids = photos["photo_id"]
    if ids.duplicated().any():
        raise DataError(f"photos table: duplicate photo_id(s) {sorted(set(ids[ids.duplicated()]))}")
    return {pid: i for i, pid in enumerate(ids)}


def _apply_positions(out: pd.DataFrame, corrections: list[Correction], row_of: dict) -> None:
    moved = [c for c in corrections if c.action != "reject"]
    if not moved:
        return
    rows = [row_of[c.photo_id] for c in moved]
    lat_col = out.columns.get_loc("latitude")
    lon_col = out.columns.get_loc("longitude")
    out["latitude"] = out["latitude"].astype(float)
    out["longitude"] = out["longitude"].astype(float)
    out.iloc[rows, lat_col] = [c.latitude for c in moved]
    out.iloc[rows, lon_col] = [c.longitude for c in moved]


def _apply_rejections(out: pd.DataFrame, corrections: list[Correction], row_of: dict) -> None:
    rows = [row_of[c.photo_id] for c in corrections if c.action == "reject"]
    if not rows:
        return
    out["keep"] = out["keep"].astype(bool)
    out["reason"] = out["reason"].astype(object)
    out.iloc[rows, out.columns.get_loc("keep")] = False
    out.iloc[rows, out.columns.get_loc("reason")] = REJECT_REASON
