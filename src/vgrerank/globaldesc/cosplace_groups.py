"""CosPlace classes and groups from ``@UTM`` image names (Berton et al., CVPR 2022, Sec. 3).

A *class* is a UTM cell of side ``M`` metres and a heading bin of ``alpha`` degrees: the integer
triple ``(floor(east / M), floor(north / M), floor((heading mod 360) / alpha))``. Classes whose
cells are ``N`` cells apart (east and north) and whose bins are ``L`` bins apart form a *group*:
``(cell_east mod N, cell_north mod N, bin mod L)``, so two classes of one group are at least
``N * M`` metres or ``L * alpha`` degrees apart and never show the same place from the same side.
There are at most ``N * N * L`` groups; training visits them in turn, each with its own classifier.

Floor division makes negative coordinates work (east -3 with M=10 is cell -1, group (-1 mod N));
headings wrap at 360 (360 and 0 share a bin). ``alpha`` must divide 360 and ``L`` the number of
bins, so that the groups of the bins stay ``L`` apart across the wrap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets.names import parse_name
from ..errors import ConfigError, DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def check_params(M: float, alpha: float, N: int, L: int, key: str = "cosplace_train") -> None:
    """Raise :class:`ConfigError` naming ``<key>.<param>`` for an invalid class/group setting."""
    for name, value in (("M", M), ("alpha", alpha)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{key}.{name}={value!r}: must be a positive number")
    for name, value in (("N", N), ("L", L)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key}.{name}={value!r}: must be a positive integer")
    bins = 360.0 / alpha
    if abs(bins - round(bins)) > 1e-9:
        raise ConfigError(f"{key}.alpha={alpha}: must divide 360 (heading bins wrap at 360)")
    if round(bins) % L:
        raise ConfigError(
            f"{key}.L={L}: must divide the {round(bins)} heading bins of alpha={alpha} "
            "(otherwise two bins of one group meet across 360 degrees)"
        )


def class_of(east: float, north: float, heading: float, M: float, alpha: float) -> tuple:
    """The class ``(cell_east, cell_north, heading_bin)`` of one pose (integers)."""
    nbins = round(360.0 / alpha)
    return (
        math.floor(east / M),
        math.floor(north / M),
        min(math.floor((heading % 360.0) / alpha), nbins - 1),
    )


def group_of(cls: tuple, N: int, L: int) -> tuple:
    """The group ``(cell_east mod N, cell_north mod N, bin mod L)`` of class ``cls``."""
    return (cls[0] % N, cls[1] % N, cls[2] % L)


@dataclass
class Groups:
    """``groups[g]`` lists its classes (sorted); ``images[cls]`` the image names of a class."""

    group_ids: list[tuple] = field(default_factory=list)
    groups: list[list[tuple]] = field(default_factory=list)
    images: dict[tuple, list[str]] = field(default_factory=dict)
    dropped_classes: int = 0

    def summary(self) -> dict:
        return {
            "groups": len(self.groups),
            "classes": sum(len(g) for g in self.groups),
            "images": sum(len(self.images[c]) for g in self.groups for c in g),
            "classes_per_group": [len(g) for g in self.groups],
            "dropped_classes": self.dropped_classes,
        }


def list_images(root: str | Path) -> list[str]:
    """Image files under ``root`` (recursively), as sorted root-relative POSIX paths."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"cosplace_train: training image folder {root} does not exist")
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def make_groups(
    names: list[str],
    M: float,
    alpha: float,
    N: int,
    L: int,
    min_images_per_class: int = 1,
    groups_num: int | None = None,
    root: str | Path | None = None,
) -> Groups:
    """Classes and groups of the ``@UTM`` image ``names``; groups sorted by size (largest
    first, then by id), the first ``groups_num`` kept. Errors name the file (under ``root``)."""
    check_params(M, alpha, N, L)
    images: dict[tuple, list[str]] = {}
    for name in names:
        label = str(Path(root) / name) if root is not None else name
        info = parse_name(label)
        if info.heading is None:
            raise DataError(f"{label}: CosPlace classes need a heading (the name's heading field)")
        cls = class_of(info.utm_east, info.utm_north, info.heading, M, alpha)
        images.setdefault(cls, []).append(name)
    kept = {c: sorted(v) for c, v in images.items() if len(v) >= min_images_per_class}
    by_group: dict[tuple, list[tuple]] = {}
    for cls in sorted(kept):
        by_group.setdefault(group_of(cls, N, L), []).append(cls)
    order = sorted(by_group, key=lambda g: (-len(by_group[g]), g))
    if groups_num is not None:
        order = order[:groups_num]
    if not order:
        where = f" under {root}" if root is not None else ""
        raise DataError(
            f"cosplace_train: no class{where} has {min_images_per_class} or more images "
            f"({len(names)} images, {len(images)} classes; lower min_images_per_class or M/alpha)"
        )
    return Groups(
        group_ids=order,
        groups=[by_group[g] for g in order],
        images=kept,
        dropped_classes=len(images) - len(kept),
    )
