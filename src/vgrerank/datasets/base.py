"""Dataset model: one database and one or more query splits, each an :class:`ImageSet`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .positives import positives_within


@dataclass
class ImageSet:
    """Images with positions. ``names`` are paths relative to the dataset root."""

    names: list[str]
    utm: np.ndarray  # [N, 2] float64 (east, north) in metres; NaN when unknown
    heading: np.ndarray | None = None  # [N] degrees (compass), NaN when unknown

    def __post_init__(self) -> None:
        self.utm = np.asarray(self.utm, dtype=np.float64).reshape(-1, 2)
        if len(self.names) != len(self.utm):
            raise ValueError("names and utm differ in length")
        if self.heading is None:
            self.heading = np.full(len(self.names), np.nan)
        self.heading = np.asarray(self.heading, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Dataset:
    name: str
    root: Path
    database: ImageSet
    queries: dict[str, ImageSet]
    threshold_m: float = 25.0
    heading_deg: float | None = None  # heading-aware positives when set
    # frame-index ground truth (e.g. Corridor): split -> list of positive db index arrays
    explicit_positives: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def split(self, split: str) -> ImageSet:
        if split not in self.queries:
            raise DataError(
                f"dataset {self.name!r}: no query split {split!r} (has: {sorted(self.queries)})"
            )
        return self.queries[split]

    def positives(
        self, split: str, threshold_m: float | None = None, heading_deg: float | None = None
    ) -> list[np.ndarray]:
        """Database indices that count as correct for each query of ``split``."""
        if split in self.explicit_positives:
            return self.explicit_positives[split]
        q = self.split(split)
        thr = self.threshold_m if threshold_m is None else threshold_m
        hd = self.heading_deg if heading_deg is None else heading_deg
        try:
            return positives_within(
                self.database.utm,
                q.utm,
                thr,
                db_heading=self.database.heading if hd is not None else None,
                q_heading=q.heading if hd is not None else None,
                max_heading_deg=hd,
            )
        except ValueError as exc:  # e.g. heading-aware positives with unknown headings
            raise DataError(
                f"dataset {self.name!r} (root {self.root}), split {split!r}, "
                f"datasets.{self.name}.heading_deg={hd}: {exc}"
            ) from exc

    def path(self, name: str) -> Path:
        return self.root / name
