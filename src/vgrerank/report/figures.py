"""Qualitative figures: keypoints per extractor, inlier matches before/after re-ranking, and
prediction strips (query + top-5 before and after re-ranking, green = correct, red = wrong)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..features import Features  # noqa: E402
from ..imageio import load_image  # noqa: E402
from ..io.atomic import atomic_path  # noqa: E402

GREEN, RED = (40, 180, 60), (220, 40, 40)


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def bordered(image: np.ndarray, colour, width: int = 8) -> np.ndarray:
    return cv2.copyMakeBorder(image, width, width, width, width, cv2.BORDER_CONSTANT, value=colour)


def keypoint_figure(
    rows: Sequence[tuple[str, np.ndarray, Features, np.ndarray, Features]],
    out: Path,
    titles: tuple[str, str] = ("night query", "day positive"),
) -> None:
    """``rows``: (extractor tag, query image, query features, positive image, positive features)."""
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.2 * len(rows)), squeeze=False)
    for (tag, qi, qf, pi, pf), ax in zip(rows, axes, strict=True):
        for a, img, f, t in ((ax[0], qi, qf, titles[0]), (ax[1], pi, pf, titles[1])):
            a.imshow(img)
            if len(f):
                a.scatter(f.keypoints[:, 0], f.keypoints[:, 1], s=2, c="lime", linewidths=0)
            a.set_title(f"{tag}: {t}, {len(f)} keypoints", fontsize=9)
            a.axis("off")
    _save(fig, out)


def match_panel(
    ax,
    img0: np.ndarray,
    img1: np.ndarray,
    k0: np.ndarray,
    k1: np.ndarray,
    inliers: np.ndarray | None,
    title: str,
    max_lines: int = 200,
) -> None:
    """Side-by-side images with matches: inliers green, outliers faint red."""
    h = max(img0.shape[0], img1.shape[0])
    pad = lambda im: np.pad(im, ((0, h - im.shape[0]), (0, 0), (0, 0)))  # noqa: E731
    canvas = np.concatenate([pad(img0), pad(img1)], axis=1)
    ax.imshow(canvas)
    off = img0.shape[1]
    inl = np.zeros(len(k0), bool) if inliers is None else inliers.astype(bool)
    rng = np.random.default_rng(0)
    for sel, colour, alpha in ((~inl, "red", 0.25), (inl, "lime", 0.8)):
        idx = np.flatnonzero(sel)
        if len(idx) > max_lines:
            idx = rng.choice(idx, max_lines, replace=False)
        for i in idx:
            ax.plot([k0[i, 0], k1[i, 0] + off], [k0[i, 1], k1[i, 1]], c=colour, lw=0.6, alpha=alpha)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def matches_figure(panels: Sequence[dict], out: Path) -> None:
    """``panels``: dicts with img0, img1, k0, k1, inliers, title (one row each)."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.4 * len(panels)), squeeze=False)
    for p, ax in zip(panels, axes[:, 0], strict=True):
        match_panel(ax, p["img0"], p["img1"], p["k0"], p["k1"], p.get("inliers"), p["title"])
    _save(fig, out)


def prediction_strips(
    root: Path, queries: Sequence[dict], out: Path, thumb: int = 160, top: int = 5
) -> None:
    """``queries``: dicts with ``query`` (name), ``before``/``after`` (top db names) and
    ``correct_before``/``correct_after`` (booleans); one block of two rows per query."""
    n = max(len(queries), 1)
    fig, axes = plt.subplots(2 * n, top + 1, figsize=(1.9 * (top + 1), 3.0 * n), squeeze=False)
    for qi, q in enumerate(queries):
        qimg = load_image(root / q["query"])
        for row, key in enumerate(("before", "after")):
            ax = axes[2 * qi + row]
            ax[0].imshow(_thumb(qimg, thumb))
            ax[0].set_title("query" if row == 0 else "", fontsize=8)
            ax[0].set_ylabel(key, fontsize=8)
            ax[0].set_xticks([])
            ax[0].set_yticks([])
            for j in range(top):
                a = ax[j + 1]
                a.axis("off")
                if j < len(q[key]):
                    ok = bool(q[f"correct_{key}"][j])
                    a.imshow(
                        bordered(_thumb(load_image(root / q[key][j]), thumb), GREEN if ok else RED)
                    )
                    if row == 0:
                        a.set_title(f"top-{j + 1}", fontsize=8)
    if not queries:
        axes[0, 0].text(0.5, 0.5, "no queries to show", ha="center")
    _save(fig, out)


def _thumb(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = size / max(h, w)
    return cv2.resize(
        img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
    )
