"""Dataset readers: the ``@UTM`` VG folder layout, a CSV manifest, frame-index ground truth.

All readers return a :class:`~vgrerank.datasets.base.Dataset` whose image names are paths
relative to the dataset root, sorted, so that the same folder always gives the same order.
"""

from __future__ import annotations

import csv
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
        return float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"{path}:{line}: column {column!r} value {value!r} is not a number"
        ) from None


def read_manifest(name: str, manifest: str | Path, root: str | Path | None = None, **kw) -> Dataset:
    """A CSV manifest with columns ``name,east,north`` and optional ``heading``, ``condition``,
    ``set``.

    ``set`` is ``database`` or ``query`` (default ``query`` for rows with a ``condition``,
    else required). A query's ``condition`` is its split (default split: ``queries``). ``name``
    is a path relative to ``root`` (default: the manifest's folder).
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


def read_frames_dataset(
    name: str,
    root: str | Path,
    database: str = "ref",
    queries: str = "query",
    ground_truth: str = "ground_truth_new.npy",
    split: str = "queries",
    **kw,
) -> Dataset:
    """Frame-index ground truth as in VPR-Bench (e.g. Corridor): folders of frames sorted by
    index and ``ground_truth_new.npy`` holding ``[query_index, [positive db indices]]`` rows.
    Positions are unknown (UTM NaN); positives come from the file."""
    root = Path(root)
    db_files = list_images(root / database)
    q_files = list_images(root / queries)

    def frame_key(p: Path):
        digits = "".join(ch for ch in p.stem if ch.isdigit())
        return (int(digits) if digits else -1, p.name)

    db_files.sort(key=frame_key)
    q_files.sort(key=frame_key)
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
