"""LoFTR matcher on the cached per-cell features of :mod:`vgrerank.local.extractors.loftr`.

From each image's :class:`Features` (one row per coarse cell) it rebuilds the coarse [1, 256, hc,
wc] and fine [1, 128, 4 hc, 4 wc] backbone maps (``cache: image`` rows: the grayscale image, run
through the backbone here, once per query in ``match_many``), adds the positional encoding and
runs kornia's LoFTR on them: coarse transformer, coarse matching (dual softmax, mutual nearest
neighbours above ``match_threshold``), fine windows + fine transformer, fine matching (sub-pixel
offset in image 1). That is ``kornia.feature.LoFTR.forward`` with ``features0`` / ``features1``.

LoFTR places its own points: image 0's are cell points, image 1's are refined off the grid. The
matcher therefore returns :class:`~vgrerank.local.base.PointMatches` (coordinates in the original
images' pixels, kornia's frame, and the coarse confidence), not index pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import ConfigError
from ..base import Features, PointMatches
from ..extractors.loftr import BACKBONE_DIM, COARSE, IMAGE_DIM, build_loftr, from_rows
from ..torchbase import TorchMatcher
from .specs import SPECS


def grid_shape(f: Features) -> tuple[int, int]:
    """(hc, wc) of the row-major cell grid of ``f`` (cells of the first row share its y)."""
    n = len(f)
    wc = int(np.sum(f.keypoints[:, 1] == f.keypoints[0, 1])) if n else 0
    if n == 0 or n % wc or f.descriptors.shape[1] not in (BACKBONE_DIM, IMAGE_DIM):
        raise ConfigError(
            f"loftr matcher: features of {n} rows x {f.descriptors.shape[1]} are not the loftr "
            f"extractor's cell grid ({BACKBONE_DIM} or {IMAGE_DIM} values per cell)"
        )
    return n // wc, wc


class LoFTR(TorchMatcher):
    default_conf = SPECS["loftr"].default_conf()

    def _build(self) -> torch.nn.Module:
        c = self.conf
        return build_loftr(c["model"], c.get("weights"), c.get("sha256"), c["match_threshold"])

    def features(self, f: Features) -> dict:
        """kornia's ``extract_features`` dict (position-encoded coarse map, fine map) of ``f``."""
        hc, wc = grid_shape(f)
        rows = torch.from_numpy(np.ascontiguousarray(f.descriptors, np.float32)).to(self.device)
        with torch.inference_mode():
            if rows.shape[1] == IMAGE_DIM:  # grayscale cells: undo the float16 rounding
                gray = from_rows(torch.round(rows * 255) / 255, hc, wc, 8)
                return self.net.extract_features(gray)
            coarse = from_rows(rows[:, :COARSE], hc, wc, 1)
            fine = from_rows(rows[:, COARSE:], hc, wc, 4)
            return {"coarse": self.net.pos_encoding(coarse), "fine": fine}

    def match_features(self, f0: Features, x0: dict, f1: Features, x1: dict) -> PointMatches:
        with torch.inference_mode():
            out = self.net({"features0": x0, "features1": x1})
        pts = []
        for f, x, k in ((f0, x0, out["keypoints0"]), (f1, x1, out["keypoints1"])):
            hc, wc = x["coarse"].shape[-2:]
            scale = np.array([f.size[0] / (8 * wc), f.size[1] / (8 * hc)], np.float64)
            pts.append(k.double().cpu().numpy() * scale - 0.5)
        return PointMatches(pts[0], pts[1], out["confidence"].float().cpu().numpy())

    def match(self, f0: Features, f1: Features) -> PointMatches:
        return self.match_features(f0, self.features(f0), f1, self.features(f1))

    def match_many(self, query: Features, candidates: list[Features]) -> list[PointMatches]:
        xq = self.features(query)
        return [self.match_features(query, xq, c, self.features(c)) for c in candidates]
