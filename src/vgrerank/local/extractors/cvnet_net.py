"""The CVNet network (Lee, Seong, Lee, Kim, "Correlation Verification for Image Retrieval",
CVPR 2022), written here from the paper and the layout of the official ``CVNet_Rerank``
(github.com/sungonce/CVNet: ``model/CVNet_Rerank_model.py``, ``model/resnet.py`` (pycls),
``model/CVlearner.py``, ``model/base/{conv4d,correlation,geometry,feature}.py``), whose key names
(``encoder_q.*``, ``conv2ds.{0,1,2}``, ``cv_learner.*``) the released ``.pyth`` files hold under
``model_state``.

* ``encoder_q``: pycls ResNet-50/101 (``stem.{conv,bn}``, ``s1`` .. ``s4``, blocks ``b1`` ..,
  each ``f.{a,a_bn,b,b_bn,c,c_bn}`` (stride on the 3x3) plus ``proj``/``bn`` on the first) and
  ``head`` = GeM (learned ``pool.p``) + ``fc`` 2048 -> 2048: the global descriptor (L2).
  The dense map for verification is the output of the last block of ``s3`` *before* its ReLU
  (1024 channels, stride 16).
* ``conv2ds[k]``: per scale ``s_k`` in (0.25, 0.5, 1.0) the dense map is resized (bilinear,
  corners aligned) to ``round(h sqrt(s_k))`` x ``round(w sqrt(s_k))`` and projected by a 3x3
  conv (1024 -> 256, no bias).
* correlation: cosine similarities of every query scale with every key scale (9 pairs, query
  scale outer), each 4-D correlation resized bilinearly to the scale-1 sizes of both images,
  clamped at 0 -> [b, 9, hq, wq, hk, wk].
* ``cv_learner``: center-pivot 4-D convolutions (``conv1`` over the query dims, ``conv2`` over
  the key dims, each strided, the other pair of dims subsampled by the same stride, summed),
  GroupNorm(4) + ReLU, 4 blocks (16 / 16-32 / 32-32-64 / 64-64-128 channels), mean over the 4-D
  positions, ``mlp`` 128 -> 128 -> 2; the score is the softmax probability of class 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
SCALES = (0.25, 0.5, 1.0)
GLOBAL_DIM, MAP_DIM, PROJ_DIM = 2048, 1024, 256


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-5)


class _Transform(nn.Module):
    def __init__(self, cin: int, cout: int, width: int, stride: int) -> None:
        super().__init__()
        self.a, self.a_bn = nn.Conv2d(cin, width, 1, bias=False), _bn(width)
        self.b = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.b_bn = _bn(width)
        self.c, self.c_bn = nn.Conv2d(width, cout, 1, bias=False), _bn(cout)

    def forward(self, x):
        x = F.relu(self.a_bn(self.a(x)))
        return self.c_bn(self.c(F.relu(self.b_bn(self.b(x)))))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, width: int, stride: int) -> None:
        super().__init__()
        if cin != cout or stride != 1:
            self.proj, self.bn = nn.Conv2d(cin, cout, 1, stride=stride, bias=False), _bn(cout)
        self.f = _Transform(cin, cout, width, stride)

    def forward(self, x):
        """The block's output before its final ReLU."""
        skip = self.bn(self.proj(x)) if hasattr(self, "proj") else x
        return skip + self.f(x)


class _Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), _bn(64)

    def forward(self, x):
        return F.max_pool2d(F.relu(self.bn(self.conv(x))), 3, 2, 1)


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.Module()
        self.pool.p = nn.Parameter(torch.ones(1) * 3)
        self.fc = nn.Linear(2048, GLOBAL_DIM)

    def forward(self, x):
        p = self.pool.p
        x = F.adaptive_avg_pool2d(x.clamp(min=1e-6).pow(p), 1).pow(1.0 / p).flatten(1)
        return self.fc(x)


class ResNet(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.stem = _Stem()
        cin = 64
        widths = zip(DEPTHS[depth], (256, 512, 1024, 2048), (64, 128, 256, 512), strict=True)
        for s, (n, cout, width) in enumerate(widths, 1):
            stride = 1 if s == 1 else 2
            stage = nn.Module()
            for i in range(n):
                stage.add_module(f"b{i + 1}", _Block(cin, cout, width, stride if i == 0 else 1))
                cin = cout
            setattr(self, f"s{s}", stage)
        self.head = _Head()

    def forward(self, x, head: bool = True):
        """-> (global [b, 2048] before L2 (None when not ``head``), s3 map before its last
        ReLU [b, 1024, h, w])."""
        x = self.stem(x)
        dense = None
        for s in (1, 2, 3, 4):
            if s == 4 and not head:
                return None, dense
            for blk in getattr(self, f"s{s}").children():
                pre = blk(x)
                x = F.relu(pre)
            dense = pre if s == 3 else dense
        return self.head(x), dense


class CenterPivotConv4d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
        self.conv2 = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)
        self.stride = stride

    def forward(self, x):  # [b, c, ha, wa, hb, wb]
        s = self.stride
        b, c = x.shape[:2]
        x1 = x[..., ::s, ::s]  # key dims subsampled, conv over the query dims
        hb, wb = x1.shape[-2:]
        y1 = self.conv1(x1.permute(0, 4, 5, 1, 2, 3).reshape(-1, c, *x1.shape[2:4]))
        y1 = y1.view(b, hb, wb, *y1.shape[1:]).permute(0, 3, 4, 5, 1, 2)
        x2 = x[:, :, ::s, ::s]  # query dims subsampled, conv over the key dims
        ha, wa = x2.shape[2:4]
        y2 = self.conv2(x2.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, *x2.shape[4:]))
        y2 = y2.view(b, ha, wa, *y2.shape[1:]).permute(0, 3, 1, 2, 4, 5)
        return y1 + y2


def _block(cin: int, couts, ks, strides) -> nn.Sequential:
    layers = []
    for cout, k, s in zip(couts, ks, strides, strict=True):
        layers += [CenterPivotConv4d(cin, cout, k, s), nn.GroupNorm(4, cout), nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers)


class CVLearner(nn.Module):
    def __init__(self, inch: int = len(SCALES) ** 2) -> None:
        super().__init__()
        self.block1 = _block(inch, [16], [5], [2])
        self.block2 = _block(16, [16, 32], [3, 3], [1, 2])
        self.block3 = _block(32, [32, 32, 64], [3, 3, 3], [1, 1, 2])
        self.block4 = _block(64, [64, 64, 128], [3, 3, 3], [1, 1, 1])
        self.mlp = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))

    def forward(self, corr):
        x = self.block4(self.block3(self.block2(self.block1(corr))))
        return self.mlp(x.flatten(2).mean(-1))


def scale_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """The official ``round(side * sqrt(scale))`` (Python's round: halves to even)."""
    return round(h * math.sqrt(scale)), round(w * math.sqrt(scale))


def interpolate4d(corr: torch.Tensor, size) -> torch.Tensor:
    """[b, h1, w1, h2, w2] -> [b, ha, wa, hb, wb], bilinear (corners aligned) per pair of dims."""
    b, h1, w1, h2, w2 = corr.shape
    ha, wa, hb, wb = size
    x = corr.reshape(b, h1, w1, h2 * w2).permute(0, 3, 1, 2)
    x = F.interpolate(x, (ha, wa), mode="bilinear", align_corners=True)  # [b, h2 w2, ha, wa]
    x = x.reshape(b, h2, w2, ha * wa).permute(0, 3, 1, 2)
    x = F.interpolate(x, (hb, wb), mode="bilinear", align_corners=True)  # [b, ha wa, hb, wb]
    return x.reshape(b, ha, wa, hb, wb)


def correlation(q_maps, k_maps) -> torch.Tensor:
    """Projected maps per scale ([1, 256, h_s, w_s], last = scale 1) of both images ->
    [1, 9, hq, wq, hk, wk] clamped cosine correlations (query scale outer)."""
    (hq, wq), (hk, wk) = q_maps[-1].shape[-2:], k_maps[-1].shape[-2:]
    out = []
    for q in q_maps:
        qf = q.flatten(2).transpose(1, 2)  # [1, nq, c]
        qn = qf.norm(dim=2, keepdim=True)
        for k in k_maps:
            kf = k.flatten(2)
            c = (qf @ kf) / (qn @ kf.norm(dim=1, keepdim=True) + 1e-8)
            c = c.view(1, *q.shape[-2:], *k.shape[-2:])
            out.append(interpolate4d(c, (hq, wq, hk, wk)))
    return torch.stack(out, 1).clamp(min=0)


class CVNetRerank(nn.Module):
    """The official ``CVNet_Rerank`` layout (``softmax`` has no parameters)."""

    def __init__(self, depth: int = 50) -> None:
        super().__init__()
        self.encoder_q = ResNet(depth)
        self.conv2ds = nn.ModuleList(
            [nn.Conv2d(MAP_DIM, PROJ_DIM, 3, padding=1, bias=False) for _ in SCALES]
        )
        self.cv_learner = CVLearner()

    def project(self, dense: torch.Tensor) -> list[torch.Tensor]:
        """s3 map [1, 1024, h, w] -> the three projected maps the correlation uses."""
        h, w = dense.shape[-2:]
        out = []
        for s, conv in zip(SCALES, self.conv2ds, strict=True):
            x = F.interpolate(dense, scale_size(h, w, s), mode="bilinear", align_corners=True)
            out.append(conv(x))
        return out

    def verify(self, q_maps, k_maps) -> torch.Tensor:
        """Probability (class 1) that the two images show the same object / place."""
        return F.softmax(self.cv_learner(correlation(q_maps, k_maps)), dim=1)[:, 1]
