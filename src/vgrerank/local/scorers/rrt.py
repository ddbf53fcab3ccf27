"""Reranking Transformer (Tan, Yuan, Ordonez, "Instance-level Image Retrieval using Reranking
Transformers", ICCV 2021), written here from the paper and the layout of the official
``MatchERT`` (github.com/uvavision/RerankingTransformer, ``RRT_GLD/models/matcher.py``, GPL-3.0;
its checkpoints ``RRT_GLD/rrt_gld_ckpts/r50_gldv{1,2}.pt`` hold ``{'state': state_dict, ...}``).

Input per image: the DELG global descriptor (2048) and its first ``num_local`` (500) local
descriptors in attention order with their pyramid scale (features of extractor ``delg`` with
``output: rrt``: the extras ``global``, float32, and ``scale`` written beside the local rows by
the one extraction, :func:`vgrerank.local.extractors.delg.rrt_inputs`). The official model:

* ``remap`` (Linear 2048 -> 128) of each global descriptor, L2-normalised; local descriptors
  L2-normalised, plus ``scale_encoder`` (Embedding 7) of the scale bin: ``bisect_right(SCALE_BINS,
  feature scale) - 1`` (as RRT's dataset code, clamped to 0..6), no position embedding;
* ``seg_encoder`` (Embedding 6): 0 query locals, 1 candidate locals, 2 [CLS], 3 [SEP],
  4 query global, 5 candidate global; sequence ``[CLS, qg, q locals, SEP, cg, c locals]``;
* ``encoder``: 6 post-norm transformer layers (d 128, 4 heads, feed-forward 1024, ReLU; key
  names of ``nn.TransformerEncoderLayer``), then ``classifier`` (Linear 128 -> 1) of [CLS].

The score is that logit (``probability: true``: its sigmoid; same order), query first as in the
official evaluation (not symmetric: the segments differ). ``inliers`` / ``num_matches`` are the
matcher's pairs (``vgrerank.local.matchers.rrt``), a diagnostic the score does not use.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, DataError
from ...weights import load_checkpoint
from ..base import Features, Score
from ..extractors.delg import rrt_inputs
from ..torchbase import TorchScorer
from ..torchload import load_strict
from .specs import SPECS

MODELS = {"r50-gldv1": "rrt-r50-gldv1", "r50-gldv2": "rrt-r50-gldv2"}
SCALE_BINS = [0.5, 0.70710677, 1.0, 1.41421354, 2.0, 2.82842708, 4.0]  # RRT's dataset.py
D_GLOBAL, D_MODEL, HEADS, LAYERS, FFN = 2048, 128, 4, 6, 1024


def scale_index(feature_scales: np.ndarray) -> np.ndarray:
    """RRT's scale bins of DELG feature scales (1 / image scale), clamped to 0..6."""
    idx = [bisect_right(SCALE_BINS, float(s)) - 1 for s in np.asarray(feature_scales)]
    return np.clip(np.asarray(idx, np.int64), 0, len(SCALE_BINS) - 1)


class MatchERT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FFN, dropout=0.0, activation="relu")
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.remap = nn.Linear(D_GLOBAL, D_MODEL)
        self.scale_encoder = nn.Embedding(len(SCALE_BINS), D_MODEL)
        self.seg_encoder = nn.Embedding(6, D_MODEL)
        self.classifier = nn.Linear(D_MODEL, 1)

    def forward(self, q_global, q_local, q_scales, c_global, c_local, c_scales, q_mask=None,
                c_mask=None):  # fmt: skip
        """Globals [b, 2048], locals [b, n, 128], scale bins [b, n] (int), masks [b, n] (True:
        padding) -> logits [b]."""
        b = q_global.shape[0]
        seg = self.seg_encoder.weight
        ql = nn.functional.normalize(q_local, dim=-1) + self.scale_encoder(q_scales) + seg[0]
        cl = nn.functional.normalize(c_local, dim=-1) + self.scale_encoder(c_scales) + seg[1]
        qg = nn.functional.normalize(self.remap(q_global), dim=-1)[:, None] + seg[4]
        cg = nn.functional.normalize(self.remap(c_global), dim=-1)[:, None] + seg[5]
        cls, sep = seg[2].expand(b, 1, -1), seg[3].expand(b, 1, -1)
        tokens = torch.cat([cls, qg, ql, sep, cg, cl], 1).transpose(0, 1)  # [L, b, d]
        mask = None
        if q_mask is not None or c_mask is not None:
            free = q_global.new_zeros((b, 2), dtype=torch.bool)
            qm = q_mask if q_mask is not None else free.new_zeros(ql.shape[:2])
            cm = c_mask if c_mask is not None else free.new_zeros(cl.shape[:2])
            mask = torch.cat([free, qm, free, cm], 1)
        out = self.encoder(tokens, src_key_padding_mask=mask)[0]
        return self.classifier(out).view(-1)


def official_state_dict(obj, path) -> dict:
    """The state_dict of an official RRT checkpoint (``{'state': ...}``) or of a plain one."""
    if isinstance(obj, dict) and isinstance(obj.get("state"), dict):
        return obj["state"]
    if isinstance(obj, dict) and obj and all(hasattr(v, "shape") for v in obj.values()):
        return obj
    raise DataError(f"{path}: not an RRT checkpoint (expected {{'state': state_dict}})")


class RRTScorer(TorchScorer):
    default_conf = SPECS["rrt"].default_conf()

    def _build(self) -> nn.Module:
        if self.conf["model"] not in MODELS:
            raise ConfigError(f"rrt.model: {self.conf['model']!r} is not one of {sorted(MODELS)}")
        path = self._weights_path(MODELS[self.conf["model"]])
        sd = official_state_dict(load_checkpoint(path), path)
        return load_strict(MatchERT(), path, state_dict=sd)

    def _inputs(self, f: Features):
        local, scales, g = rrt_inputs(f)
        n = int(self.conf["num_local"])
        t = torch.from_numpy
        return (
            t(np.ascontiguousarray(g, np.float32))[None].to(self.device),
            t(np.ascontiguousarray(local[:n], np.float32))[None].to(self.device),
            t(scale_index(scales[:n]))[None].to(self.device),
        )

    def logit(self, f0: Features, f1: Features) -> float:
        with torch.inference_mode():
            return float(self.net(*self._inputs(f0), *self._inputs(f1))[0])

    def score(self, kpts0, kpts1, f0: Features, f1: Features, matches=None) -> Score:
        s = self.logit(f0, f1)
        if not np.isfinite(s):
            raise DataError(f"RRT: non-finite logit {s}")
        if self.conf["probability"]:
            s = float(1.0 / (1.0 + np.exp(-s)))
        return Score(s, len(kpts0), len(kpts0))
