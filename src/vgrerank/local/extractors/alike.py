"""ALIKE (Zhao et al., "ALIKE: Accurate and Lightweight Keypoint Detection and Descriptor
Extraction", IEEE TMM 2022), written here from the paper's description; kornia has no ALIKE.

Network (ALNet): a 4-stage encoder, a plain two-conv block at full resolution then three
ResNet basic blocks (1x1-conv shortcut) after 2x, 4x and 4x max pooling (1, 1/2, 1/8, 1/32);
each stage is reduced by a 1x1 conv + ReLU to ``dim/4`` channels, upsampled bilinearly to full
resolution and concatenated; a 1x1 head (two for alike-l) gives ``dim`` descriptor channels and
one score channel (sigmoid). Keypoints: strict maxima of the score map in a ``2r+1`` window
(kornia's DKD, the same soft detection as ALIKE's, with sub-pixel soft-argmax), the
``max_keypoints`` best (top-k mode) or those above ``detection_threshold``; descriptors sampled
bilinearly at the keypoints and L2-normalised.

Weights (BSD-3-Clause, https://github.com/Shiaoming/ALIKE, ``models/alike-{t,s,n,l}.pth``):
conf ``weights`` (path) or ``$VGRERANK_WEIGHTS_DIR/alike/<model>.pth``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ...weights import load_checkpoint, load_state_dict_strict
from ..torchbase import TorchExtractor
from .specs import SPECS

# c1, c2, c3, c4, dim, single_head
CONFIGS = {
    "alike-t": (8, 16, 32, 64, 64, True),
    "alike-s": (8, 16, 48, 96, 96, True),
    "alike-n": (16, 32, 64, 128, 128, True),
    "alike-l": (32, 64, 128, 128, 128, False),
}


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(cin, cout), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3x3(cout, cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv3x3(cin, cout), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = _conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.downsample = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.downsample(x))


class ALNet(nn.Module):
    def __init__(self, c1: int, c2: int, c3: int, c4: int, dim: int, single_head: bool) -> None:
        super().__init__()
        self.block1 = _ConvBlock(3, c1)
        self.block2 = _ResBlock(c1, c2)
        self.block3 = _ResBlock(c2, c3)
        self.block4 = _ResBlock(c3, c4)
        self.conv1 = nn.Conv2d(c1, dim // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(c2, dim // 4, 1, bias=False)
        self.conv3 = nn.Conv2d(c3, dim // 4, 1, bias=False)
        self.conv4 = nn.Conv2d(c4, dim // 4, 1, bias=False)
        self.single_head = single_head
        if not single_head:
            self.convhead1 = nn.Conv2d(dim, dim, 1, bias=False)
        self.convhead2 = nn.Conv2d(dim, dim + 1, 1, bias=False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image [B, 3, H, W] in [0, 1], H and W multiples of 32 -> (scores [B,1,H,W], desc)."""
        x1 = self.block1(image)
        x2 = self.block2(F.max_pool2d(x1, 2))
        x3 = self.block3(F.max_pool2d(x2, 4))
        x4 = self.block4(F.max_pool2d(x3, 4))
        size = x1.shape[-2:]

        def up(x):
            return F.interpolate(x, size=size, mode="bilinear", align_corners=True)

        x = torch.cat(
            [
                F.relu(self.conv1(x1)),
                up(F.relu(self.conv2(x2))),
                up(F.relu(self.conv3(x3))),
                up(F.relu(self.conv4(x4))),
            ],
            dim=1,
        )
        if not self.single_head:
            x = F.relu(self.convhead1(x))
        x = self.convhead2(x)
        return torch.sigmoid(x[:, -1:]), x[:, :-1]


class _ALIKENet(nn.Module):
    def __init__(self, model: str, radius: int, top_k: int, threshold: float) -> None:
        super().__init__()
        from kornia.feature.aliked.aliked import DKD

        self.net = ALNet(*CONFIGS[model])
        self.dkd = DKD(
            radius=radius,
            top_k=top_k if threshold <= 0 else -1,
            scores_th=threshold,
            n_limit=top_k if top_k > 0 else 20000,
        )

    def forward(self, image: torch.Tensor):
        b, _, h, w = image.shape
        ph, pw = (-h) % 32, (-w) % 32
        x = F.pad(image, (0, pw, 0, ph)) if ph or pw else image
        scores, desc = self.net(x)
        scores, desc = scores[..., :h, :w], desc[..., :h, :w]
        desc = F.normalize(desc, p=2, dim=1)
        kpts, kscores, _ = self.dkd(scores)
        k = kpts[0]  # normalised to [-1, 1] over (w-1, h-1)
        d = F.grid_sample(desc, k.view(1, 1, -1, 2), mode="bilinear", align_corners=True)
        d = F.normalize(d[0, :, 0].t(), p=2, dim=1)
        px = (k + 1) / 2 * k.new_tensor([w - 1, h - 1])
        return px, d, kscores[0]


class ALIKE(TorchExtractor):
    default_conf = SPECS["alike"].default_conf()

    def _build(self) -> nn.Module:
        model = self.conf["model"]
        if model not in CONFIGS:
            raise ConfigError(f"alike.model: unknown model {model!r}; known: {sorted(CONFIGS)}")
        net = _ALIKENet(
            model,
            int(self.conf["nms_radius"]),
            int(self.conf["max_keypoints"]),
            float(self.conf["detection_threshold"]),
        )
        path = self._weights_path(model)
        load_state_dict_strict(net.net, load_checkpoint(path), path)
        return net

    def _detect(self, img):
        return self.net(img)
