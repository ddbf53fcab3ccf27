"""Mutual nearest-neighbour matching in torch (GPU when available, else CPU).

Similarities are ONE matrix product of the descriptors (no ``torch.cdist``). Distances follow
from it:

* float descriptors (assumed unit L2 norm, as every extractor here returns them):
  ``L2 = sqrt(2 - 2 * a.b)``;
* binary descriptors (every entry +-1, as the OpenCV ORB/AKAZE extractors return them):
  ``hamming = (d - a.b) / 2``.

Both are decreasing in ``a.b``, so nearest neighbours are argmaxes of the similarity matrix.
Conf: ``ratio`` (None, or Lowe's ratio: a nearest neighbour is kept when
``dist1 < ratio * dist2``, checked in both directions as hloc does), ``distance``
('auto' | 'l2' | 'hamming'; 'auto' recognises +-1 descriptors), ``device`` ('auto' | 'cpu' |
'cuda' | 'cuda:N', see :func:`vgrerank.device.resolve_device`), ``batch`` ('auto': batch
candidates in ``match_many`` on GPU only, where it pays; on CPU one product per candidate is
faster) and ``max_elements`` (upper bound on similarity-matrix entries per batch).
"""

from __future__ import annotations

import numpy as np
import torch

from ...device import resolve_device
from ...errors import ConfigError
from ..base import Features, Matcher
from .specs import SPECS


class MutualNN(Matcher):
    default_conf = SPECS["mnn"].default_conf()

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        ratio = self.conf["ratio"]
        if ratio is not None and not (0 < float(ratio) <= 1):
            raise ConfigError(f"matcher ratio: expected None or a float in (0, 1], got {ratio!r}")
        if self.conf["distance"] not in ("auto", "l2", "hamming"):
            raise ConfigError(
                f"matcher distance: expected 'auto', 'l2' or 'hamming', got {self.conf['distance']!r}"
            )
        self.device = resolve_device(self.conf["device"])

    # ------------------------------------------------------------------ helpers
    def _tensor(self, desc: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(desc, dtype=np.float32))
        return t.to(self.device, non_blocking=True)

    def _is_binary(self, *descs: torch.Tensor) -> bool:
        mode = self.conf["distance"]
        if mode != "auto":
            return mode == "hamming"
        descs = [d for d in descs if d.numel()]
        return bool(descs) and all(bool((d.abs() == 1).all()) for d in descs)

    def _ratio_mask(self, top2: torch.Tensor, dim: int, binary: int) -> torch.Tensor:
        """Lowe's test on the two largest similarities ``top2`` (size 2 along ``dim``)."""
        s1, s2 = top2.select(dim, 0), top2.select(dim, 1)
        if binary:
            d1, d2 = (binary - s1) * 0.5, (binary - s2) * 0.5
        else:
            d1 = (2 - 2 * s1).clamp_min(0).sqrt()
            d2 = (2 - 2 * s2).clamp_min(0).sqrt()
        return d1 < float(self.conf["ratio"]) * d2

    def _mutual(self, sim: torch.Tensor, binary: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``sim``: [n0, B, m] similarities (padding masked to -inf by the caller); ``binary``:
        0 for float descriptors, else the number of bits (Hamming distance = (bits - sim) / 2).

        Returns ``keep`` [n0, B] (query keypoint i has a mutual match in candidate b) and
        ``idx0`` [n0, B] (its nearest neighbour). Query keypoint i and candidate keypoint j are
        mutual when j is i's nearest neighbour (first on ties) and no query keypoint is closer to
        j; the caller keeps the smallest i per j so the result is one-to-one.
        """
        ratio = self.conf["ratio"]
        n0, _, m = sim.shape
        if ratio is not None and m >= 2:
            top0, idx0 = sim.topk(2, dim=2)  # [n0, B, 2]
            keep = self._ratio_mask(top0, 2, binary)
            best0, idx0 = top0[..., 0], idx0[..., 0]
        else:
            best0, idx0 = sim.max(dim=2)  # [n0, B]
            keep = None
        b = torch.arange(idx0.shape[1], device=sim.device).expand_as(idx0)
        if ratio is not None and n0 >= 2:
            top1 = sim.topk(2, dim=0).values  # [2, B, m]
            ok1 = self._ratio_mask(top1, 0, binary)[b, idx0]
            best1 = top1[0]
        else:
            best1 = sim.amax(dim=0)  # [B, m]: max is much faster than argmax on CPU
            ok1 = None
        mutual = best0 == best1[b, idx0]
        mutual &= torch.isfinite(best0)
        if keep is not None:
            mutual &= keep
        if ok1 is not None:
            mutual &= ok1
        return mutual, idx0

    # ------------------------------------------------------------------ API
    def match(self, f0: Features, f1: Features) -> np.ndarray:
        return self.match_many(f0, [f1])[0]

    @torch.inference_mode()
    def match_many(self, query: Features, candidates: list[Features]) -> list[np.ndarray]:
        empty = np.zeros((0, 2), dtype=np.int64)
        out: list[np.ndarray] = [empty] * len(candidates)
        n0 = len(query)
        todo = [i for i, c in enumerate(candidates) if len(c) and n0]
        if not todo:
            return out
        d = query.descriptors.shape[1]
        for i in todo:
            if candidates[i].descriptors.shape[1] != d:
                raise ConfigError(
                    f"matcher: descriptor sizes differ (query {d}, candidate "
                    f"{candidates[i].descriptors.shape[1]}): features of different extractors?"
                )
        q = self._tensor(query.descriptors)
        # the query decides; mixing extractors is a caller error
        binary = d if self._is_binary(q) else 0
        # Group candidates so that each group's similarity matrix stays below max_elements. On
        # CPU one big product is slower than one per candidate (cache), so groups hold one.
        batch = self.conf["batch"]
        if batch == "auto":
            batch = self.device.type != "cpu"
        limit = self.conf["max_elements"] if batch else 0
        groups, cur, cur_max = [], [], 0
        for i in todo:
            m = len(candidates[i])
            new_max = max(cur_max, m)
            if cur and n0 * new_max * (len(cur) + 1) > limit:
                groups.append(cur)
                cur, new_max = [], m
            cur.append(i)
            cur_max = new_max
        groups.append(cur)
        for group in groups:
            sizes = [len(candidates[i]) for i in group]
            mmax = max(sizes)
            if len(group) == 1:
                c = self._tensor(candidates[group[0]].descriptors)
                valid1 = None
            else:
                stacked = np.zeros((len(group), mmax, d), dtype=np.float32)
                for j, i in enumerate(group):
                    stacked[j, : sizes[j]] = candidates[i].descriptors
                c = self._tensor(stacked.reshape(-1, d))
                lens = torch.tensor(sizes, device=self.device)
                valid1 = torch.arange(mmax, device=self.device)[None, :] < lens[:, None]
            sim = (q @ c.T).view(n0, len(group), mmax)
            if valid1 is not None:
                sim.masked_fill_(~valid1[None], float("-inf"))
            mutual, idx0 = self._mutual(sim, binary)
            mutual, idx0 = mutual.cpu().numpy(), idx0.cpu().numpy()
            for j, i in enumerate(group):
                rows = np.flatnonzero(mutual[:, j])
                cols = idx0[rows, j]
                # one-to-one: on tied similarities keep the smallest query index per column
                _, first = np.unique(cols, return_index=True)
                if len(first) < len(rows):
                    first.sort()
                    rows, cols = rows[first], cols[first]
                out[i] = np.stack([rows, cols], axis=1).astype(np.int64)
        return out
