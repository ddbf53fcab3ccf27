"""SuperGlue (Sarlin, DeTone, Malisiewicz, Rabinovich, "SuperGlue: Learning Feature Matching with
Graph Neural Networks", CVPR 2020), written here from the paper, for SuperPoint features.

1. keypoint encoder ``kenc``: an MLP (conv1d 3 -> 32 -> 64 -> 128 -> 256 -> 256, BatchNorm + ReLU
   between) of (x, y, detection score), x and y centred on the image and divided by 0.7 times its
   longer side, added to the 256-D descriptor;
2. attentional GNN ``gnn``: 18 layers alternating self and cross attention (4 heads; channel
   ``4 * d + h`` is dimension d of head h, as in the official weights); each layer adds
   ``mlp([x, message])`` (512 -> 512 -> 256) to x;
3. ``final_proj`` (1x1 conv), similarities divided by sqrt(256);
4. optimal transport: the similarity matrix with a dustbin row and column of the learned
   ``bin_score``, ``sinkhorn_iterations`` log-domain Sinkhorn iterations towards marginals
   (1, ..., 1, n) and (1, ..., 1, m);
5. a match is a mutual row/column maximum whose probability exceeds ``match_threshold``.

Module names are those of ``superglue_{outdoor,indoor}.pth`` (``kenc.encoder.*``,
``gnn.layers.N.attn.{merge,proj.0-2}``, ``gnn.layers.N.mlp.*``, ``final_proj``, ``bin_score``).
Weights (see :data:`vgrerank.local.torchload.EXTERNAL`: official URLs, non-commercial research
licence): conf ``weights`` or ``$VGRERANK_WEIGHTS_DIR/superglue/superglue_<model>.pth``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..base import Features
from ..torchbase import TorchMatcher
from ..torchload import load_strict
from .specs import SPECS

DIM, HEADS, LAYERS = 256, 4, 18


def _mlp(channels: list[int]) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(1, len(channels)):
        mods.append(nn.Conv1d(channels[i - 1], channels[i], 1))
        if i < len(channels) - 1:
            mods += [nn.BatchNorm1d(channels[i]), nn.ReLU()]
    return nn.Sequential(*mods)


class _Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = _mlp([3, 32, 64, 128, 256, DIM])


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.merge = nn.Conv1d(DIM, DIM, 1)
        self.proj = nn.ModuleList([nn.Conv1d(DIM, DIM, 1) for _ in range(3)])

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        # [b, DIM, n] -> [b, heads, n, DIM / heads]; channel 4 * d + h
        q, k, v = (
            p(t).view(b, DIM // HEADS, HEADS, -1).permute(0, 2, 3, 1)
            for p, t in zip(self.proj, (x, source, source), strict=True)
        )
        msg = F.scaled_dot_product_attention(q, k, v)
        return self.merge(msg.permute(0, 3, 1, 2).reshape(b, DIM, -1))


class _Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = _Attention()
        self.mlp = _mlp([2 * DIM, 2 * DIM, DIM])

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(torch.cat([x, self.attn(x, source)], dim=1))


class _GNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_Layer() for _ in range(LAYERS)])


def log_optimal_transport(sim: torch.Tensor, alpha: torch.Tensor, iters: int) -> torch.Tensor:
    """[b, m, n] similarities -> [b, m+1, n+1] log assignment (dustbins last), scaled so that a
    certain match has log-probability 0."""
    b, m, n = sim.shape
    couplings = F.pad(sim, (0, 1, 0, 1), value=0.0)
    couplings[:, :m, n] = alpha
    couplings[:, m, :] = alpha
    norm = -np.log(m + n)
    log_mu = sim.new_full((b, m + 1), norm)
    log_mu[:, m] = np.log(n) + norm
    log_nu = sim.new_full((b, n + 1), norm)
    log_nu[:, n] = np.log(m) + norm
    u, v = torch.zeros_like(log_mu), torch.zeros_like(log_nu)
    for _ in range(iters):
        u = log_mu - torch.logsumexp(couplings + v[:, None, :], dim=2)
        v = log_nu - torch.logsumexp(couplings + u[:, :, None], dim=1)
    return couplings + u[:, :, None] + v[:, None, :] - norm


class SuperGlueNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kenc = _Encoder()
        self.gnn = _GNN()
        self.final_proj = nn.Conv1d(DIM, DIM, 1)
        self.bin_score = nn.Parameter(torch.tensor(1.0))

    def forward(self, kpts, desc, scores, sizes, iters: int) -> torch.Tensor:
        """Per image i in (0, 1): kpts [1, n, 2] px, desc [1, n, D], scores [1, n], sizes (w, h)
        -> log assignment [1, m+1, n+1]."""
        x = []
        for k, d, s, (w, h) in zip(kpts, desc, scores, sizes, strict=True):
            kn = (k - k.new_tensor([w / 2, h / 2])) / (0.7 * max(w, h))
            enc = self.kenc.encoder(torch.cat([kn.transpose(1, 2), s[:, None]], dim=1))
            x.append(d.transpose(1, 2) + enc)
        for i, layer in enumerate(self.gnn.layers):
            src = x if i % 2 == 0 else x[::-1]  # self, cross, self, ...
            x = [layer(x[0], src[0]), layer(x[1], src[1])]
        m0, m1 = self.final_proj(x[0]), self.final_proj(x[1])
        sim = torch.einsum("bdm,bdn->bmn", m0, m1) / DIM**0.5
        return log_optimal_transport(sim, self.bin_score, iters)


def mutual_matches(log_p: torch.Tensor, threshold: float) -> torch.Tensor:
    """[m+1, n+1] log assignment -> [M, 2] pairs that are mutual maxima with p > threshold."""
    inner = log_p[:-1, :-1]
    best0, j = inner.max(1)
    i = torch.arange(len(j), device=j.device)
    keep = (inner.argmax(0)[j] == i) & (best0.exp() > threshold)
    return torch.stack([i[keep], j[keep]], -1)


class SuperGlue(TorchMatcher):
    default_conf = SPECS["superglue"].default_conf()

    def _build(self) -> nn.Module:
        model = self.conf["model"]
        if model not in ("outdoor", "indoor"):
            raise ConfigError(f"superglue.model: {model!r} is not 'outdoor' or 'indoor'")
        return load_strict(SuperGlueNet(), self._weights_path(f"superglue-{model}"))

    def match(self, f0: Features, f1: Features) -> np.ndarray:
        for which, f in (("first", f0), ("second", f1)):
            if len(f) and f.descriptors.shape[1] != DIM:
                raise ConfigError(
                    f"superglue: {which} descriptors have dimension {f.descriptors.shape[1]}, "
                    f"the weights expect {DIM} (SuperPoint descriptors)"
                )
        if len(f0) == 0 or len(f1) == 0:
            return np.zeros((0, 2), np.int64)

        def t(a):
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None].to(self.device)

        with torch.inference_mode():
            log_p = self.net(
                (t(f0.keypoints), t(f1.keypoints)),
                (t(f0.descriptors), t(f1.descriptors)),
                (t(f0.scores), t(f1.scores)),
                (f0.size, f1.size),
                int(self.conf["sinkhorn_iterations"]),
            )
            pairs = mutual_matches(log_p[0], float(self.conf["match_threshold"]))
        return pairs.cpu().numpy().astype(np.int64).reshape(-1, 2)
