"""Labelled training data for the builder's classifiers, rendered by SynthCity.

No indoor/outdoor or day/night model trained for this purpose exists offline, so the workflow trains
them (:mod:`.classify`) on a photo collection of a *different* city (the dataset's city conf with
another seed: the classifiers never see the test city) whose labels are exact: the generator's
truth gives each photo's condition and indoorness level. :func:`write_trainset` renders it and
lays out one folder per label (symbolic links into the collection):
``daynight/{day,night}/`` (dusk photos left out: dusk is a threshold on p(night)) and ``indoor/{0..9,panoramic}/``. Users add their own labelled
folders with the ``train: {folders: {label: [dir, ...]}}`` key of each task.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError
from ..io import atomic_path
from .truth import read_truth

TRAIN_SEED_OFFSET = 7919  # the training city: seed + this (a prime, far from user seeds)
TASKS = ("daynight", "indoor")
_TRAIN_KEYS = {"n", "epochs", "size", "folders", "arch", "collection"}


def collection_keys(conf: dict, default_n: int) -> tuple[int, dict]:
    """``n`` and the other generator keys of a collection conf."""
    conf = dict(conf or {})
    n = int(conf.pop("n", default_n))
    if n < 1:
        raise ConfigError(f"collection.n={n}: must be at least 1")
    return n, conf


def _check_train(task: str, conf: dict) -> dict:
    unknown = set(conf) - _TRAIN_KEYS
    if unknown:
        raise ConfigError(
            f"build.*.{task}.train: unknown key(s) {sorted(unknown)} (valid: {sorted(_TRAIN_KEYS)})"
        )
    return conf


def label_of(task: str, row) -> str:
    if task == "daynight":
        return str(row.condition)
    return "panoramic" if bool(row.panoramic) else str(int(row.indoor_level))


def write_trainset(city_conf: dict, out: str | os.PathLike, daynight: dict, indoor: dict) -> dict:
    """Render the training collection into ``out`` and its label folders; ``out/collection.json``
    (the generator's completion file) is the job's output."""
    from ..synth.photos import write_collection

    out = Path(out)
    daynight, indoor = _check_train("daynight", daynight), _check_train("indoor", indoor)
    n = max(int(daynight.get("n", 400)), int(indoor.get("n", 400)))
    keys = {**dict(daynight.get("collection", {})), **dict(indoor.get("collection", {}))}
    seed = int(city_conf.get("seed", 0)) + TRAIN_SEED_OFFSET
    conf = {**city_conf, "seed": seed, "photos": keys}
    summary = write_collection(conf, out / "collection", n=n, seed=seed)
    truth = read_truth(out / "collection" / "truth.csv")
    photos = {
        p["id"]: p["file"] for p in json.loads((out / "collection" / "photos.json").read_text())
    }
    counts: dict[str, dict[str, int]] = {}
    for task in TASKS:
        for row in truth.itertuples():
            label = label_of(task, row)
            if task == "daynight" and label == "dusk":
                continue  # dusk is no class: a threshold on p(night) decides (classify.tasks)
            folder = out / task / label
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / Path(photos[row.Index]).name
            if not link.exists():
                link.symlink_to(os.path.relpath(out / "collection" / photos[row.Index], folder))
            counts.setdefault(task, {}).setdefault(label, 0)
            counts[task][label] += 1
    with atomic_path(out / "collection.json") as tmp:
        tmp.write_text(json.dumps({"seed": seed, "n": n, "labels": counts, **summary}, indent=1))
    return counts


def label_folders(task: str, trainset: str | os.PathLike, train: dict) -> dict[str, list[Path]]:
    """label -> folders: the rendered ones plus the user's ``train.folders``."""
    trainset = Path(trainset)
    folders: dict[str, list[Path]] = {}
    base = trainset / task
    if base.is_dir():
        for d in sorted(base.iterdir()):
            if d.is_dir():
                folders.setdefault(d.name, []).append(d)
    for label, dirs in (train.get("folders") or {}).items():
        for d in [dirs] if isinstance(dirs, str) else dirs:
            if not Path(d).is_dir():
                raise ConfigError(f"build.*.{task}.train.folders.{label}: {d} is not a folder")
            folders.setdefault(str(label), []).append(Path(d))
    return folders


def train_task(
    task: str,
    trainset: str | os.PathLike,
    out: str | os.PathLike,
    *,
    train: dict,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Train ``task``'s classifier on the training collection (and the user's folders)."""
    from .classify import train_classifier

    if task not in TASKS:
        raise ConfigError(f"unknown builder task {task!r} (valid: {', '.join(TASKS)})")
    train = _check_train(task, dict(train or {}))
    folders = label_folders(task, trainset, train)
    kw = {k: train[k] for k in ("epochs", "size", "arch") if k in train}
    return train_classifier(task, folders, out, seed=seed, device=device, **kw)
