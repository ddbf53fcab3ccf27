"""Mutual nearest neighbours of Patch-NetVLAD patch descriptors, scale by scale.

The features of the ``patchnetvlad`` extractor hold every scale of an image, with each patch's
patch size in the extra ``patch_size`` (the scale id, :func:`patch_sizes`). Patches are matched
only within their own scale. Nearest neighbours use the reference's distance ``sqrt(2 - 2 a.b + 1e-9)`` (clamped at 0) of unit
descriptors (argmin, first index on ties), so near-ties resolve as in Patch-NetVLAD's
``PatchMatcher``. A query patch ``i`` and a candidate patch ``j`` match when each is the
other's nearest neighbour. Matches are returned in global row indices, scale after scale, and
within a scale by ascending candidate patch (the reference's order).

Conf: ``device`` ('auto' | 'cpu' | 'cuda' | 'cuda:N').
"""

from __future__ import annotations

import numpy as np
import torch

from ...device import resolve_device
from ...errors import ConfigError, DataError
from ..base import Features, Matcher
from .specs import SPECS


def patch_sizes(f: Features) -> np.ndarray:
    """The patch size (scale id) of each row of Patch-NetVLAD features [n]."""
    sizes = f.extra("patch_size", "not Patch-NetVLAD features (extractor type 'patchnetvlad')")
    if sizes.shape != (len(f),):
        raise DataError(f"Patch-NetVLAD features: patch_size {sizes.shape} for {len(f)} patches")
    return sizes


def scale_blocks(f: Features) -> dict[float, np.ndarray]:
    """Scale id -> row indices of that scale, in order of first appearance."""
    ids, first, inverse = np.unique(patch_sizes(f), return_index=True, return_inverse=True)
    return {float(ids[u]): np.flatnonzero(inverse == u) for u in np.argsort(first)}


def mutual_nn(d0: torch.Tensor, d1: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of unit descriptors d0 [n0, D] and d1 [n1, D]: local indices
    (i0, i1), sorted by i1."""
    # clamped: the reference takes sqrt of a negative (NaN) when a.b > 1 by rounding, e.g. for
    # identical descriptors or float16-cached ones; elsewhere the values are the reference's
    dist = torch.sqrt((2 - 2 * torch.matmul(d0, d1.T.contiguous()) + 1e-9).clamp_min(0))
    best0 = torch.min(dist, 0).indices.cpu().numpy()  # per candidate patch: nearest query patch
    best1 = torch.argmin(dist, 1).cpu().numpy()  # per query patch: nearest candidate patch
    i1 = np.flatnonzero(best1[best0] == np.arange(len(best0)))
    return best0[i1].astype(np.int64), i1.astype(np.int64)


def match_scales(
    f0: Features, f1: Features, device: torch.device | str = "cpu"
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Per scale of ``f0`` (in order): (scale id, i0, i1) mutual matches in global rows."""
    if f0.descriptors.shape[1] != f1.descriptors.shape[1]:
        raise ConfigError(
            f"matcher: descriptor sizes differ (query {f0.descriptors.shape[1]}, candidate "
            f"{f1.descriptors.shape[1]}): features of different extractors?"
        )
    blocks1 = scale_blocks(f1)
    out = []
    empty = np.zeros(0, np.int64)
    for sid, rows0 in scale_blocks(f0).items():
        rows1 = blocks1.get(sid)
        if rows1 is None or not len(rows0) or not len(rows1):
            out.append((sid, empty, empty))
            continue
        d0 = torch.from_numpy(np.ascontiguousarray(f0.descriptors[rows0], np.float32))
        d1 = torch.from_numpy(np.ascontiguousarray(f1.descriptors[rows1], np.float32))
        i0, i1 = mutual_nn(d0.to(device), d1.to(device))
        out.append((sid, rows0[i0], rows1[i1]))
    return out


class PatchMutualNN(Matcher):
    default_conf = SPECS["pnv-mnn"].default_conf()

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        self.device = resolve_device(self.conf["device"])

    @torch.inference_mode()
    def match(self, f0: Features, f1: Features) -> np.ndarray:
        if not len(f0) or not len(f1):
            return np.zeros((0, 2), np.int64)
        per_scale = match_scales(f0, f1, self.device)
        i0 = np.concatenate([m[1] for m in per_scale])
        i1 = np.concatenate([m[2] for m in per_scale])
        return np.stack([i0, i1], axis=1).astype(np.int64)
