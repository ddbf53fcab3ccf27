"""Training: labelled folders -> a checkpoint (:mod:`.checkpoint`).

:func:`train_classifier` decodes every image once (:func:`.data.decode_images`), then fits

- the network: a pretrained backbone of :mod:`vgrerank.backbones` (``arch='mobilenetv2'``,
  the day/night default) fine-tuned by :mod:`.transfer`, or any other timm ``arch`` from scratch
  (AdamW, one-cycle learning rate, label smoothing, augmentations of :func:`.data.augment`,
  batches of 32) on the cached uint8 tensors, and
- the colour model (:class:`.colour.LogisticModel` on :func:`.colour.colour_features`),

and blends their probabilities (``blend`` = weight of the network). :func:`fit_arrays` is the
same on already decoded arrays (cross-validation decodes once for all folds).

Determinism: the same seed on the same machine and thread count gives the same checkpoint
(``torch.manual_seed``, deterministic algorithms, a seeded generator for batch order and
augmentations, no data-loader workers).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...backbones import BACKBONES, get_backbone
from ...device import resolve_device
from ...errors import ConfigError, DataError
from .checkpoint import FORMAT, VERSION, save_checkpoint
from .colour import LogisticModel, feature_matrix
from .data import augment, decode_images, labelled_files, to_float
from .models import IMAGENET_MEAN, IMAGENET_STD, create_model
from .tasks import get_task
from .transfer import cache_activations, fit_transfer

Log = str | os.PathLike | Callable[[str], None] | None
COLOUR_L2 = 0.1  # ridge penalty of the colour model (5-fold CV on the real day/night photos)


def make_logger(log: Log) -> Callable[[str], None]:
    """``log``: None (silent), a callable, or a file path (lines are appended)."""
    if log is None:
        return lambda msg: None
    if callable(log):
        return log
    path = Path(log)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(msg: str) -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(msg.rstrip("\n") + "\n")

    return write


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and switch deterministic algorithms on for the duration."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def fit_network(
    arch: str,
    pixels: torch.Tensor,
    y: np.ndarray,
    n_classes: int,
    *,
    epochs: int,
    seed: int = 0,
    device: str = "cpu",
    batch_size: int = 32,
    lr: float = 2e-3,
    weight_decay: float = 0.05,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    log: Callable[[str], None] = lambda m: None,
    progress: bool = True,
) -> tuple[torch.nn.Module, dict]:
    """Train ``arch`` from scratch on uint8 ``pixels`` [N, 3, S, S] and labels ``y`` [N]."""
    if len(pixels) < 2:
        raise DataError(f"need at least 2 training images, got {len(pixels)}")
    if epochs < 1:
        raise ConfigError(f"epochs={epochs}: must be at least 1")
    dev = resolve_device(device)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = create_model(arch, n_classes).to(dev)
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
    n = len(pixels)
    batch_size = max(2, min(batch_size, n))
    per_epoch = math.ceil(n / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * per_epoch, pct_start=0.15
    )
    m = torch.tensor(mean, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    losses = []
    bar = tqdm(range(epochs), desc=f"train {arch}", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=gen)
        total, seen = 0.0, 0
        for i in range(per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                sched.step()
                continue
            x = augment(pixels[idx].float().div_(255.0), gen).to(dev)
            logits = model((x - m) / s)
            loss = F.cross_entropy(logits, labels[idx].to(dev), label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        losses.append(total / max(seen, 1))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        log(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.4f}")
    model.eval()
    return model, {"loss": losses}


@torch.no_grad()
def network_proba(
    model: torch.nn.Module,
    pixels: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    tta_flip: bool = True,
    device: str = "cpu",
    batch_size: int = 64,
) -> np.ndarray:
    """Softmax probabilities [N, C] of uint8 ``pixels`` (flip-averaged with ``tta_flip``), with
    ``model`` moved to ``device`` ('auto' | 'cpu' | 'cuda[:N]')."""
    dev = resolve_device(device)
    model.to(dev).eval()
    out = []
    for i in range(0, len(pixels), batch_size):
        x = to_float(pixels[i : i + batch_size], mean, std).to(dev)
        p = model(x).softmax(1)
        if tta_flip:
            p = (p + model(x.flip(3)).softmax(1)) / 2
        out.append(p.cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def fit_arrays(
    task: str,
    pixels: torch.Tensor | None,
    features: np.ndarray | None,
    y: np.ndarray,
    *,
    arch: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    colour: bool = True,
    blend: float | None = None,
    log: Callable[[str], None] = lambda m: None,
    progress: bool = True,
    activations: torch.Tensor | None = None,
) -> dict:
    """Fit on decoded arrays -> checkpoint dict (not written). ``arch='none'`` or ``pixels``
    None trains the colour model only; ``colour=False`` the network only. ``arch`` a backbone
    of :mod:`vgrerank.backbones` (e.g. ``mobilenetv2``) fine-tunes its ImageNet weights
    (:mod:`.transfer`; ``activations``: its cache of ``pixels``, computed when None); any other
    timm name trains from scratch."""
    spec = get_task(task)
    y = np.asarray(y, dtype=np.int64)
    arch = spec.arch if arch is None else arch
    use_net = arch not in ("none", "") and (pixels is not None or activations is not None)
    transfer = arch in BACKBONES
    if not use_net and not colour:
        raise ConfigError("nothing to train: arch='none' and colour=False")
    epochs = spec.epochs if epochs is None else int(epochs)
    blend = spec.blend if blend is None else float(blend)
    with deterministic(seed):
        summary: dict = {"n_train": int(len(y)), "seed": int(seed)}
        if use_net:
            summary["device"] = resolve_device(device).type
        colour_model = None
        if colour:
            t0 = time.perf_counter()
            lm = LogisticModel.fit(features, y, len(spec.classes), l2=COLOUR_L2)
            colour_model = {"features": "colour", **lm.to_dict()}
            summary["colour_train_accuracy"] = float((lm.proba(features).argmax(1) == y).mean())
            summary["colour_time_s"] = time.perf_counter() - t0
        state, size = None, None
        mean, std, timm_arch = IMAGENET_MEAN, IMAGENET_STD, arch
        if use_net and transfer:
            t0 = time.perf_counter()
            b = get_backbone(arch)
            if activations is None:
                activations = cache_activations(arch, pixels, seed=seed, progress=progress)
            summary["cache_time_s"] = time.perf_counter() - t0
            model, info = fit_transfer(
                arch, activations, y, len(spec.classes), epochs=epochs, seed=seed, log=log,
                progress=progress,
            )  # fmt: skip
            summary["network_time_s"] = time.perf_counter() - t0
            summary.update(backbone=arch, weights=b.weights, **info)
            mean, std, timm_arch = b.mean, b.std, b.arch
        elif use_net:
            t0 = time.perf_counter()
            model, info = fit_network(
                arch,
                pixels,
                y,
                len(spec.classes),
                epochs=epochs,
                seed=seed,
                device=device,
                log=log,
                progress=progress,
            )
            summary["network_time_s"] = time.perf_counter() - t0
            summary["loss"] = info["loss"]
        if use_net:
            summary["epochs"] = epochs
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            size = int(pixels.shape[-1]) if pixels is not None else get_backbone(arch).image_size
    return {
        "format": FORMAT,
        "version": VERSION,
        "task": spec.name,
        "classes": list(spec.classes),
        "arch": timm_arch if use_net else None,
        "input_size": size,
        "resize": "squash",
        "mean": list(mean),
        "std": list(std),
        "tta_flip": True,
        "state_dict": state,
        "colour_model": colour_model,
        "blend": float(blend if (use_net and colour) else (1.0 if use_net else 0.0)),
        "summary": summary,
    }


def encode_labels(task: str, labels: Sequence[str], paths: Sequence[Path]) -> np.ndarray:
    spec = get_task(task)
    return np.asarray(
        [spec.index(lab, str(p.parent)) for lab, p in zip(labels, paths, strict=True)], np.int64
    )


def train_classifier(
    task: str,
    folders: Mapping[str, Sequence[str | os.PathLike] | str | os.PathLike],
    out_path: str | os.PathLike,
    *,
    arch: str | None = None,
    epochs: int | None = None,
    size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    colour: bool = True,
    blend: float | None = None,
    log: Log = None,
    progress: bool = True,
) -> dict:
    """Train a ``task`` classifier on ``{label: [dir, ...]}`` and write the checkpoint to
    ``out_path``. Returns the training summary (also stored in the checkpoint).

    ``arch``: timm name (default per task: ``mobilenetv2_050`` / ``efficientnet_b0``) or
    'none' (colour model only); ``size``: square input side (default 128); ``colour``: also fit
    the colour model and blend it in with weight ``1 - blend`` (``blend`` default per task:
    0.2 for day/night, 0.5 for indoor).
    """
    spec = get_task(task)
    blend = spec.blend if blend is None else float(blend)
    if not 0.0 <= blend <= 1.0:
        raise ConfigError(f"blend={blend}: must be within 0..1")
    say = make_logger(log)
    t0 = time.perf_counter()
    paths, labels = labelled_files(folders)
    y = encode_labels(task, labels, paths)
    if len(set(y.tolist())) < 2:
        raise DataError(f"{task}: training needs at least two classes, got {sorted(set(labels))}")
    size = spec.size if size is None else int(size)
    use_net = (arch or spec.arch) not in ("none", "")
    names, counts = np.unique(labels, return_counts=True)
    say(
        f"{task}: {len(paths)} images, per label {dict(zip(names.tolist(), counts.tolist(), strict=True))}"
    )
    pixels, thumbs = decode_images(paths, size if use_net else None, progress=progress)
    features = feature_matrix(thumbs) if colour else None
    decode_s = time.perf_counter() - t0
    ckpt = fit_arrays(
        task,
        pixels,
        features,
        y,
        arch=arch,
        epochs=epochs,
        seed=seed,
        device=device,
        colour=colour,
        blend=blend,
        log=say,
        progress=progress,
    )
    summary = ckpt["summary"]
    summary.update(
        {
            "task": task,
            "arch": ckpt["arch"],
            "input_size": ckpt["input_size"],
            "counts": {c: int((y == i).sum()) for i, c in enumerate(spec.classes)},
            "folders": {
                k: [str(d) for d in (v if isinstance(v, list | tuple) else [v])]
                for k, v in folders.items()
            },  # fmt: skip
            "decode_time_s": decode_s,
            "train_time_s": time.perf_counter() - t0,
        }
    )
    save_checkpoint(ckpt, out_path)
    say(f"wrote {out_path} in {summary['train_time_s']:.1f} s")
    return summary
