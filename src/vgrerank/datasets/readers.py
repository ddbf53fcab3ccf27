"""Dataset readers: the ``@UTM`` VG folder layout, a CSV manifest, frame-index ground truth.

All readers return a :class:`~vgrerank.datasets.base.Dataset` whose image names are paths
relative to the dataset root, sorted, so that the same folder always gives the same order.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .base import Dataset, ImageSet
from .names import parse_name

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise DataError(f"{folder}: no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def read_vg_folder(root: Path, folder: Path) -> ImageSet:
    """Images whose file names carry UTM coordinates (``@east@north@...``)."""
    files = list_images(folder)
    names, utm, heading = [], [], []
    for f in files:
        info = parse_name(f)  # raises DataError naming the file
        names.append(f.relative_to(root).as_posix())
        utm.append((info.utm_east, info.utm_north))
        heading.append(np.nan if info.heading is None else info.heading)
    return ImageSet(names, np.array(utm), np.array(heading))


def read_vg_dataset(
    name: str,
    root: str | Path,
    splits: list[str] | dict[str, str] | None = None,
    database: str = "images/test/database",
    query_folder: str = "images/test/queries_{split}",
    **kw,
) -> Dataset:
    """The standard VG layout: ``<root>/images/test/database`` and one query folder per split.

    ``splits`` is a list of split names (folder from the ``query_folder`` pattern with
    ``{split}``) or a mapping split -> folder relative to the root (e.g. ``{night: images/test/
    queries}`` for a dataset with a single ``queries`` folder).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset {name!r}: root folder {root} not found")
    db = read_vg_folder(root, root / database)
    if not splits:
        raise ConfigError(f"datasets.{name}.splits: at least one query split is required")
    if not isinstance(splits, dict):
        splits = {s: query_folder.format(split=s) for s in splits}
    queries = {s: read_vg_folder(root, root / folder) for s, folder in splits.items()}
    return Dataset(name, root, db, queries, **kw)


def _float(value: str, path: Path, line: int, column: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"{path}:{line}: column {column!r} value {value!r} is not a number"
        ) from None
    if not math.isfinite(out):
        raise DataError(
            f"{path}:{line}: column {column!r} value {value!r} is not a finite number "
            "(leave an unknown heading empty)"
        )
    return out


def read_manifest(name: str, manifest: str | Path, root: str | Path | None = None, **kw) -> Dataset:
    """A CSV manifest with columns ``name,east,north`` and optional ``heading``, ``condition``,
    ``set``.

    ``set`` is ``database`` or ``query`` (default ``query`` for rows with a ``condition``,
    else required). A query's ``condition`` is its split (default split: ``queries``). ``name``
    is a path relative to ``root`` (default: the manifest's folder).

    Coordinates and headings must be finite numbers, and an image name may appear only once in
    the database and once per split; otherwise :class:`DataError` names the file, line and column.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DataError(f"{manifest}: manifest file not found")
    root = Path(root) if root is not None else manifest.parent
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        missing = {"name", "east", "north"} - cols
        if missing:
            raise DataError(
                f"{manifest}: missing column(s) {', '.join(sorted(missing))}; "
                "expected name,east,north[,heading][,condition][,set]"
            )
        rows = list(reader)
    sets: dict[str, dict[str, list]] = {}
    first_line: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows, start=2):
        kind = (row.get("set") or "").strip().lower()
        cond = (row.get("condition") or "").strip()
        if kind not in ("", "database", "query"):
            raise DataError(f"{manifest}:{i}: set={kind!r}; expected 'database' or 'query'")
        if kind == "":
            if "set" in cols:
                raise DataError(f"{manifest}:{i}: empty 'set' value")
            kind = "query" if cond else "database"
        key = "database" if kind == "database" else (cond or "queries")
        img = (row.get("name") or "").strip()
        if not img:
            raise DataError(f"{manifest}:{i}: empty image name")
        if (key, img) in first_line:
            where = "the database" if key == "database" else f"split {key!r}"
            raise DataError(
                f"{manifest}:{i}: column 'name' value {img!r} is a duplicate in {where} "
                f"(first on line {first_line[key, img]})"
            )
        first_line[key, img] = i
        if not (root / img).is_file():
            raise DataError(f"{manifest}:{i}: image {root / img} not found")
        heading = row.get("heading")
        d = sets.setdefault(key, {"names": [], "utm": [], "heading": []})
        d["names"].append(img)
        d["utm"].append(
            (_float(row["east"], manifest, i, "east"), _float(row["north"], manifest, i, "north"))
        )
        d["heading"].append(
            _float(heading, manifest, i, "heading") if heading not in (None, "") else np.nan
        )
    if "database" not in sets:
        raise DataError(f"{manifest}: no database rows (set=database)")
    splits = {k: v for k, v in sets.items() if k != "database"}
    if not splits:
        raise DataError(f"{manifest}: no query rows (set=query or a condition)")

    def to_set(d: dict) -> ImageSet:
        order = np.argsort(d["names"], kind="stable")
        return ImageSet(
            [d["names"][j] for j in order], np.array(d["utm"])[order], np.array(d["heading"])[order]
        )

    return Dataset(
        name, root, to_set(sets["database"]), {k: to_set(v) for k, v in splits.items()}, **kw
    )


def frame_key(path: Path) -> tuple[int, ...]:
    """Sort key of a frame file: the numbers in its file stem, in order, as integers.

    ``0000012.jpg`` -> (12,); ``seq2_frame0007.png`` -> (2, 7). Frames are ordered by this tuple
    (numbers compare by value, so ``frame9`` comes before ``frame10``). A stem without any digit
    has no frame number and raises :class:`DataError` naming the file.
    """
    numbers, run = [], ""
    for ch in path.stem + " ":
        if ch.isascii() and ch.isdigit():
            run += ch
        elif run:
            numbers.append(int(run))
            run = ""
    if not numbers:
        raise DataError(
            f"{path}: frame file name {path.name!r} has no frame number (no digits in the name); "
            "frames are ordered by the numbers in their names, e.g. 0000012.jpg"
        )
    return tuple(numbers)


def sort_frames(files: list[Path]) -> list[Path]:
    """``files`` ordered by :func:`frame_key`; two files with the same frame number (e.g.
    ``1.jpg`` and ``01.png``) make the order ambiguous and raise :class:`DataError` naming both."""
    keyed = sorted(((frame_key(p), p) for p in files), key=lambda kp: (kp[0], kp[1].as_posix()))
    for (k0, p0), (k1, p1) in zip(keyed, keyed[1:], strict=False):
        if k0 == k1:
            raise DataError(
                f"{p0} and {p1}: same frame number {'/'.join(map(str, k0))}; "
                "the frame order is ambiguous"
            )
    return [p for _, p in keyed]


def read_frames_dataset(
    name: str,
    root: str | Path,
    database: str = "ref",
    queries: str = "query",
    ground_truth: str = "ground_truth_new.npy",
    split: str = "queries",
    **kw,
) -> Dataset:
    """Frame-index ground truth as in VPR-Bench (e.g. Corridor): folders of frames and
    ``ground_truth_new.npy`` holding ``[query_index, [positive db indices]]`` rows, where an
    index is a frame's position in its folder ordered by frame number (:func:`sort_frames`;
    every file name must carry a frame number, else :class:`DataError`).
    Positions are unknown (UTM NaN); positives come from the file."""
    root = Path(root)
    db_files = sort_frames(list_images(root / database))
    q_files = sort_frames(list_images(root / queries))
    gt_path = root / ground_truth
    if not gt_path.is_file():
        raise DataError(f"{gt_path}: ground-truth file not found")
    try:
        gt = np.load(gt_path, allow_pickle=True)
    except Exception as exc:
        raise DataError(f"{gt_path}: cannot read ground truth ({exc})") from None
    pos: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(q_files)
    for row in gt:
        qi, refs = int(row[0]), np.atleast_1d(np.asarray(row[1], dtype=np.int64))
        if not 0 <= qi < len(q_files):
            raise DataError(f"{gt_path}: query index {qi} out of range (0..{len(q_files) - 1})")
        if len(refs) and (refs.min() < 0 or refs.max() >= len(db_files)):
            raise DataError(
                f"{gt_path}: query {qi} has reference indices outside 0..{len(db_files) - 1}"
            )
        pos[qi] = np.sort(refs)
    nan = np.full((len(db_files), 2), np.nan)
    db = ImageSet([p.relative_to(root).as_posix() for p in db_files], nan)
    q = ImageSet(
        [p.relative_to(root).as_posix() for p in q_files], np.full((len(q_files), 2), np.nan)
    )
    return Dataset(name, root, db, {split: q}, explicit_positives={split: pos}, **kw)
