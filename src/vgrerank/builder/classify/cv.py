"""Stratified k-fold cross-validation of the classifiers on labelled folders.

Images are decoded once; each fold trains one :func:`.train.fit_arrays` model (network and colour
model) on the other folds and scores, on the held-out fold,

- ``brightness``: the weights-free rule (day/night only; no training),
- ``colour``: the colour-statistics logistic regression alone,
- ``network``: the timm network alone (flip-averaged),
- ``ensemble``: their blend (``blend`` x network + (1 - blend) x colour), what
  :func:`.train.train_classifier` ships.

Folds are stratified per class and seeded (:func:`stratified_folds`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ...backbones import BACKBONES
from ...errors import ConfigError, DataError
from .colour import LogisticModel, feature_matrix, mean_value
from .data import decode_images, labelled_files
from .models import create_model
from .predict import BRIGHTNESS_THRESHOLD
from .tasks import get_task
from .train import encode_labels, fit_arrays, network_proba
from .transfer import cache_activations, cached_proba

METHODS = ("brightness", "colour", "network", "ensemble")


def stratified_folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold index per sample: each class shuffled (seeded) and dealt round-robin to k folds."""
    y = np.asarray(y)
    if k < 2:
        raise ConfigError(f"folds={k}: need at least 2")
    counts = np.unique(y, return_counts=True)[1]
    if len(y) < k or counts.max() < k:
        raise DataError(f"{len(y)} images ({counts.tolist()} per class) are too few for {k} folds")
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), np.int64)
    offset = 0
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)  # the next class starts where this one ended: balanced fold sizes
    return fold


def cross_validate(
    task: str,
    folders: Mapping[str, Sequence[str | os.PathLike] | str | os.PathLike],
    *,
    folds: int = 5,
    seed: int = 0,
    arch: str | None = None,
    epochs: int | None = None,
    size: int | None = None,
    blend: float | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
    progress: bool = True,
    return_oof: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Per-fold accuracies (rows ``fold`` 0..k-1, then ``mean``) of :data:`METHODS`, with
    ``n_test`` and ``train_time_s`` (network and colour model of that fold).

    ``arch='none'`` skips the network (``network``/``ensemble`` columns are NaN). With
    ``return_oof`` also returns the out-of-fold probabilities: one row per image (``path``,
    ``label``, ``fold``, ``mean_value``, ``colour_<class>``, ``network_<class>``), e.g. to
    choose ``blend``.
    """
    spec = get_task(task)
    blend = spec.blend if blend is None else float(blend)
    paths, labels = labelled_files(folders)
    y = encode_labels(task, labels, paths)
    size = spec.size if size is None else int(size)
    use_net = (arch or spec.arch) not in ("none", "")
    pixels, thumbs = decode_images(paths, size if use_net else None, progress=progress)
    features = feature_matrix(thumbs)
    values = np.array([mean_value(t) for t in thumbs])
    fold = stratified_folds(y, folds, seed)
    transfer = use_net and (arch or spec.arch) in BACKBONES
    # the frozen part of a pretrained backbone does not see the labels: one cache for all folds
    acts = (
        cache_activations(arch or spec.arch, pixels, seed=seed, progress=progress)
        if transfer
        else None
    )
    night = spec.classes.index("night") if "night" in spec.classes else None
    rows = []
    n_cls = len(spec.classes)
    oof_col = np.full((len(y), n_cls), np.nan, np.float32)
    oof_net = np.full((len(y), n_cls), np.nan, np.float32)
    for k in range(folds):
        tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        t0 = time.perf_counter()
        ckpt = fit_arrays(
            task,
            pixels[tr] if use_net else None,
            features[tr],
            y[tr],
            activations=acts[tr] if transfer else None,
            arch=arch,
            epochs=epochs,
            seed=seed + k,
            device=device,
            blend=blend,
            progress=progress,
        )
        train_s = time.perf_counter() - t0
        row = {"fold": str(k), "n_test": len(te), "train_time_s": train_s}
        p_col = LogisticModel.from_dict(ckpt["colour_model"]).proba(features[te])
        oof_col[te] = p_col
        row["colour"] = float((p_col.argmax(1) == y[te]).mean())
        if night is not None:
            row["brightness"] = float(
                ((values[te] <= BRIGHTNESS_THRESHOLD) == (y[te] == night)).mean()
            )
        else:
            row["brightness"] = np.nan
        if use_net:
            net = create_model(ckpt["arch"], len(spec.classes))
            net.load_state_dict(ckpt["state_dict"])
            if transfer:
                p_net = cached_proba(net, acts[te])
            else:
                p_net = network_proba(net, pixels[te], ckpt["mean"], ckpt["std"], device=device)
            oof_net[te] = p_net
            row["network"] = float((p_net.argmax(1) == y[te]).mean())
            p_ens = blend * p_net + (1 - blend) * p_col
            row["ensemble"] = float((p_ens.argmax(1) == y[te]).mean())
        else:
            row["network"] = row["ensemble"] = np.nan
        rows.append(row)
        log(
            f"fold {k}: "
            + " ".join(f"{m} {row[m]:.4f}" for m in METHODS if not np.isnan(row[m]))
            + f" (n={len(te)}, train {train_s:.0f} s)"
        )
    df = pd.DataFrame(rows, columns=["fold", "n_test", "train_time_s", *METHODS])
    mean = {"fold": "mean", "n_test": int(df["n_test"].sum())}
    mean.update({c: float(df[c].mean()) for c in ("train_time_s", *METHODS)})
    table = pd.concat([df, pd.DataFrame([mean])], ignore_index=True)
    if not return_oof:
        return table
    oof = pd.DataFrame({"path": [str(p) for p in paths], "label": list(labels), "fold": fold})
    oof["mean_value"] = values
    for j, c in enumerate(spec.classes):
        oof[f"colour_{c}"] = oof_col[:, j]
        oof[f"network_{c}"] = oof_net[:, j]
    return table, oof
