"""Frozen DINOv2 ViT-S/14 features + logistic probes, 5-fold CV on the real Pexels day/night photos.

The same photos, labels and folds as bench/daynight_cv.py (:func:`labelled_files`,
:func:`encode_labels`, :func:`stratified_folds` with the same seed), so the numbers compare with
its rows (shipped blend 92.3 %). Photos are squashed to S x S like :func:`decode_images`; per
photo and view (the photo and its mirror image) the backbone's final tokens give the CLS token
and the mean of the patch tokens. Probes: :meth:`LogisticModel.fit` (``std_floor`` 0.1, as the
transfer probe) on both views of the training folds, p(night) of the two views averaged; with
``+colour`` the colour statistics (:func:`colour_features`) are concatenated; ``blend`` averages
the probe's probabilities with the shipped colour model's (``COLOUR_L2``). Every variant is
printed for each ridge penalty of ``--l2`` (the best of a grid is optimistic: ``nested`` picks the
penalty inside each training split by an inner 4-fold CV).

Features are cached (``--cache``, default /tmp/dinov2_feats.npz): reruns only fit the probes.
Skips (prints why, exits 0) when the photos are absent. LAST line: ``daynight_dinov2_best: X``.

Usage: nice -n 15 .venv/bin/python bench/daynight_dinov2.py [--sizes 224 336] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vgrerank.backbones import get_backbone, load_backbone
from vgrerank.builder.classify.colour import LogisticModel, colour_features
from vgrerank.builder.classify.cv import stratified_folds
from vgrerank.builder.classify.data import labelled_files, squash, thumbnail, to_float
from vgrerank.builder.classify.train import COLOUR_L2, encode_labels
from vgrerank.imageio import load_image

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "daynight_pexels" / "train"
)
BACKBONE = "dinov2-vits14"
STD_FLOOR = 0.1


def decode(paths, sizes) -> tuple[dict[int, torch.Tensor], np.ndarray]:
    """uint8 [N, 3, S, S] per size (as :func:`decode_images`) and the colour features."""
    pix = {s: torch.empty((len(paths), 3, s, s), dtype=torch.uint8) for s in sizes}
    colour = []
    for i, path in enumerate(paths):
        image = load_image(path)
        small = thumbnail(image)
        colour.append(colour_features(small))
        for s in sizes:
            src = small if min(small.shape[:2]) >= s else image
            pix[s][i] = torch.from_numpy(squash(src, s))
    return pix, np.stack(colour)


@torch.no_grad()
def pooled(pixels: torch.Tensor, backbone: str, batch: int = 32) -> np.ndarray:
    """Frozen ImageNet pooled features [N, 2 views, F] of a CNN backbone (the stacking baseline:
    MobileNetV2 + EfficientNet-Lite0 + colour statistics)."""
    b = get_backbone(backbone)
    model = load_backbone(backbone, num_classes=0)
    out = []
    for i in range(0, len(pixels), batch):
        x = to_float(pixels[i : i + batch], b.mean, b.std)
        out.append(torch.stack([model(x), model(x.flip(3))], 1))
    return torch.cat(out).numpy()


@torch.no_grad()
def tokens(pixels: torch.Tensor, size: int, batch: int = 16) -> dict[str, np.ndarray]:
    """CLS token and patch-token mean [N, 2 views, 384] of the frozen backbone."""
    b = get_backbone(BACKBONE)
    model = load_backbone(BACKBONE, num_classes=0, img_size=size)
    cls, avg = [], []
    t0 = time.perf_counter()
    for i in range(0, len(pixels), batch):
        x = to_float(pixels[i : i + batch], b.mean, b.std)
        c, a = [], []
        for xv in (x, x.flip(3)):
            t = model.forward_features(xv)
            c.append(t[:, 0])
            a.append(t[:, model.num_prefix_tokens :].mean(1))
        cls.append(torch.stack(c, 1))
        avg.append(torch.stack(a, 1))
        if i % (batch * 16) == 0:
            print(f"  {size} px: {i + len(x)}/{len(pixels)} ({time.perf_counter() - t0:.0f} s)")
    return {"cls": torch.cat(cls).numpy(), "mean": torch.cat(avg).numpy()}


def features(args, paths) -> dict[str, np.ndarray]:
    names = np.array([str(p) for p in paths])
    cache: dict[str, np.ndarray] = {}
    if args.cache.exists():
        with np.load(args.cache) as z:
            if np.array_equal(z["paths"], names):
                cache = dict(z)
    todo = [s for s in args.sizes if f"cls{s}" not in cache]
    cnn = [c for c in args.cnn if f"cnn_{c}" not in cache]
    if todo or cnn or "colour" not in cache:
        t0 = time.perf_counter()
        pix, colour = decode(paths, sorted(set(todo) | ({224} if cnn else set())))
        print(f"decoded {len(paths)} photos in {time.perf_counter() - t0:.0f} s")
        cache["colour"] = colour
        for c in cnn:
            t0 = time.perf_counter()
            cache[f"cnn_{c}"] = pooled(pix[224], c)
            print(f"{c} pooled features at 224 px: {time.perf_counter() - t0:.0f} s (2 views)")
        for s in todo:
            t0 = time.perf_counter()
            for k, v in tokens(pix[s], s).items():
                cache[f"{k}{s}"] = v
            print(f"DINOv2 tokens at {s} px: {time.perf_counter() - t0:.0f} s (2 views)")
        cache["paths"] = names
        np.savez(args.cache, **cache)
    return cache


def fit_predict(xtr, ytr, xte, l2: float) -> np.ndarray:
    """Probe on every view of the training photos -> p per test photo (views averaged).
    ``xtr``/``xte``: [N, V, F]."""
    v = xtr.shape[1]
    lm = LogisticModel.fit(
        xtr.reshape(-1, xtr.shape[-1]), np.repeat(ytr, v), 2, l2=l2, std_floor=STD_FLOOR
    )
    return np.mean([lm.proba(xte[:, j]) for j in range(xte.shape[1])], axis=0)


def nested_l2(x, y, grid, seed: int) -> float:
    """The penalty of ``grid`` with the best inner 4-fold accuracy on (x, y)."""
    inner = stratified_folds(y, 4, seed + 100)
    acc = []
    for l2 in grid:
        hits = 0
        for k in range(4):
            tr, te = inner != k, inner == k
            hits += (fit_predict(x[tr], y[tr], x[te], l2).argmax(1) == y[te]).sum()
        acc.append(hits)
    return grid[int(np.argmax(acc))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sizes", type=int, nargs="+", default=[224])
    ap.add_argument("--l2", type=float, nargs="+", default=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/dinov2_feats.npz"))
    ap.add_argument(
        "--cnn",
        nargs="*",
        default=["mobilenetv2", "efficientnet-lite0"],
        help="frozen CNN features for the stacking rows (none: skip them)",
    )
    ap.add_argument("--only", default="", help="fit only the variants whose name has this")
    ap.add_argument("--no-nested", action="store_true", help="skip the nested penalty choice")
    ap.add_argument("--hard", action="store_true", help="list the photos every variant gets wrong")
    args = ap.parse_args()
    if not (args.data / "day").is_dir() or not (args.data / "night").is_dir():
        print(f"skipped: {args.data}/day and night/ not available (../shared is absent)")
        return
    torch.set_num_threads(args.threads)
    paths, labels = labelled_files({"day": args.data / "day", "night": args.data / "night"})
    y = encode_labels("daynight", labels, paths)
    fold = stratified_folds(y, args.folds, args.seed)
    f = features(args, paths)
    colour = f["colour"][:, None, :]

    variants: dict[str, np.ndarray] = {}
    for s in args.sizes:
        cls, avg = f[f"cls{s}"].astype(np.float64), f[f"mean{s}"].astype(np.float64)
        both = np.concatenate([cls, avg], -1)
        variants[f"{s} cls"] = cls
        variants[f"{s} mean"] = avg
        variants[f"{s} cls+mean"] = both
        variants[f"{s} cls+mean no-flip"] = both[:, :1]
        variants[f"{s} cls+mean+colour"] = np.concatenate([both, np.repeat(colour, 2, 1)], -1)
    if args.cnn:
        cnn = np.concatenate([f[f"cnn_{c}"] for c in args.cnn], -1).astype(np.float64)
        cnn = np.concatenate([cnn, np.repeat(colour, 2, 1)], -1)
        name = "+".join(args.cnn) + "+colour"
        variants[name] = cnn
        for s in args.sizes:
            both = np.concatenate([f[f"cls{s}"], f[f"mean{s}"]], -1)
            variants[f"{name}+dinov2 {s}"] = np.concatenate([cnn, both], -1)
    if len(args.sizes) > 1:
        allsz = [np.concatenate([f[f"cls{s}"], f[f"mean{s}"]], -1) for s in args.sizes]
        variants["+".join(map(str, args.sizes)) + " cls+mean"] = np.concatenate(allsz, -1)

    # the shipped colour model, out of fold (for the blends)
    p_col = np.zeros((len(y), 2))
    for k in range(args.folds):
        tr, te = fold != k, fold == k
        lm = LogisticModel.fit(f["colour"][tr], y[tr], 2, l2=COLOUR_L2)
        p_col[te] = lm.proba(f["colour"][te])
    acc_col = [float((p_col[fold == k].argmax(1) == y[fold == k]).mean()) for k in range(5)]
    print(f"colour model alone: mean {np.mean(acc_col):.4f} (folds {acc_col})")

    best = ("", 0.0)
    # per variant, the out-of-fold mistakes at its best penalty (for the photos all get wrong)
    wrong: dict[str, tuple[float, np.ndarray]] = {"colour": (0.0, p_col.argmax(1) != y)}
    for name, x in variants.items():
        if args.only not in name:
            continue
        for l2 in args.l2:
            p = np.zeros((len(y), 2))
            for k in range(args.folds):
                tr, te = fold != k, fold == k
                p[te] = fit_predict(x[tr], y[tr], x[te], l2)
            for tag, q in ((name, p), (name + " blend0.5", 0.5 * p + 0.5 * p_col)):
                acc = [float((q[fold == k].argmax(1) == y[fold == k]).mean()) for k in range(5)]
                folds = " ".join(f"{a:.3f}" for a in acc)
                print(f"{tag:34s} l2 {l2:<5g} mean {np.mean(acc):.4f} (folds {folds})")
                if np.mean(acc) > best[1]:
                    best = (f"{tag} l2 {l2:g}", float(np.mean(acc)))
                if np.mean(acc) > wrong.get(tag, (-1.0,))[0]:
                    wrong[tag] = (float(np.mean(acc)), q.argmax(1) != y)
        if not args.no_nested and "no-flip" not in name:
            p = np.zeros((len(y), 2))
            chosen = []
            for k in range(args.folds):
                tr, te = fold != k, fold == k
                l2 = nested_l2(x[tr], y[tr], args.l2, args.seed + k)
                chosen.append(l2)
                p[te] = fit_predict(x[tr], y[tr], x[te], l2)
            acc = [float((p[fold == k].argmax(1) == y[fold == k]).mean()) for k in range(5)]
            folds = " ".join(f"{a:.3f}" for a in acc)
            print(f"{name + ' nested':34s} l2 {chosen} mean {np.mean(acc):.4f} (folds {folds})")
    every = np.all([w for _, w in wrong.values()], axis=0)
    per = ", ".join(
        f"{lab} {int((every & (y == i)).sum())}" for i, lab in enumerate(("day", "night"))
    )
    print(
        f"wrong for all {len(wrong)} variants: {int(every.sum())} of {len(y)} photos "
        f"({every.mean():.1%}; labelled {per})"
    )
    if args.hard:
        for i in np.nonzero(every)[0]:
            print(f"  {paths[i]} (labelled {labels[i]})")
    print(f"best of the grid (optimistic): {best[0]}")
    print(f"daynight_dinov2_best: {best[1]:.4f}")


if __name__ == "__main__":
    main()
