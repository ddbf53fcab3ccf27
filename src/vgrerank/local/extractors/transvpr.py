"""TransVPR (Wang, Shen, Yang, Zheng, Wang, "TransVPR: Transformer-Based Place Recognition with
Multi-Level Attention Aggregation", CVPR 2022), written here from the paper and the layout of
the authors' model code (github.com/RuotongWANG/TransVPR-model-implementation:
``feature_extractor.py``, ``blocks.py``, ``test_msls.py``).

Network (``Extractor_base`` + ``POOL``; module names are the official ones, so the released
``TransVPR_MSLS.pth`` / ``TransVPR_Pitts30k.pth`` (plain state_dicts) load strictly):

* CNN stem ``conv1`` .. ``conv4``: each Conv3x3 (bias) + BatchNorm + ReLU + MaxPool(3, 2, 1),
  64 / 128 / 256 / 512 channels at 1/2 .. 1/16 of the input;
* ``tokenizer1`` .. ``tokenizer4`` (``conv_layer``): patch convolutions of kernel = stride 8, 4,
  2, 1 on the four maps, 64 channels each, concatenated per 16x16 patch to a 256-D token (no
  positional embedding);
* ``transformer``: a learned ``class_emb`` token, 6 pre-norm blocks (``pre_norm``, 4-head
  ``self_attn.qkv`` without bias and ``self_attn.proj``; then ``norm1``; feed-forward ``linear1``
  512, GELU, ``linear2``) and one shared ``norm`` applied to the output of every block;
* ``pool``: tokens of blocks 1, 3, 5 concatenated (768-D), ``attention_pool`` (768 -> 3, softmax
  over patches: one attention map per level), the attention-weighted sums of each level,
  then L2, ``fc.1`` (768 -> 256), L2: the 256-D global descriptor.

Local features (``test_msls.py``): the patch tokens of block ``layer`` (3), not normalised
(matching is by dot product, as the official ``match_batch_tensor``); the attention mask is each
level's map min-max normalised over patches, summed, min-max normalised again; patches with
mask <= ``mask_threshold`` (0.02) are dropped. :class:`Features`: keypoints = patch centres
(``16 j + 8``, ``16 i + 8`` of the network input, mapped to the original pixels), descriptors =
tokens [n, 256], scores = the mask, row-major. Re-ranking as in the paper: mutual NN + RANSAC
homography, score = inliers; the authors' threshold is 1.5 patches = 24 px of the 640 x 480 input
(scorer preset ``ransac-24px``).

Input: RGB, bilinear resize (antialiased, as torchvision's ``Resize`` on tensors) to ``resize``
(w, h; official 640 x 480; multiples of 16; None: the image's size rounded down to multiples
of 16), ImageNet mean/std. Weights: see :data:`vgrerank.local.torchload.EXTERNAL` (conf
``weights`` or ``$VGRERANK_WEIGHTS_DIR/transvpr/TransVPR_<model>.pth``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...device import resolve_device
from ...errors import ConfigError
from ..base import Extractor, Features
from ..torchbase import image_to_rgb
from ..torchload import load_strict, resolve_external
from .specs import SPECS

MODELS = {"msls": "transvpr-msls", "pitts30k": "transvpr-pitts30k"}
DIM, HEADS, LAYERS, LEVELS, PATCH = 256, 4, 6, (1, 3, 5), 16
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class _Tokenizer(nn.Module):
    def __init__(self, cin: int, k: int) -> None:
        super().__init__()
        self.conv_layer = nn.Conv2d(cin, DIM // 4, k, stride=k)


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.proj = nn.Linear(DIM, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, HEADS, c // HEADS).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(64)) v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre_norm, self.norm1 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.self_attn = _Attention()
        self.linear1, self.linear2 = nn.Linear(DIM, 2 * DIM), nn.Linear(2 * DIM, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_attn(self.pre_norm(x)))
        return x + self.linear2(F.gelu(self.linear1(x)))


class _Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.class_emb = nn.Parameter(torch.zeros(1, 1, DIM))
        self.blocks = nn.ModuleList([_Block() for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(DIM)


class _Pool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Identity(), nn.Linear(DIM * len(LEVELS), DIM))
        self.attention_pool = nn.Linear(DIM * len(LEVELS), len(LEVELS))


def _minmax(x: torch.Tensor) -> torch.Tensor:
    lo, hi = x.amin(-1, keepdim=True), x.amax(-1, keepdim=True)
    return (x - lo) / (hi - lo)


class TransVPRNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        chans = (3, 64, 128, 256, 512)
        for i in range(1, 5):
            conv = nn.Conv2d(chans[i - 1], chans[i], 3, padding=1)
            stage = nn.Sequential(conv, nn.BatchNorm2d(chans[i]), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            setattr(self, f"conv{i}", stage)
            setattr(self, f"tokenizer{i}", _Tokenizer(chans[i], 2 ** (4 - i)))
        self.transformer = _Transformer()
        self.pool = _Pool()

    def forward(self, x: torch.Tensor, layer: int = 3):
        """``x`` [b, 3, H, W] (normalised; H, W multiples of 16) -> global [b, 256] (L2),
        tokens of block ``layer`` [b, N, 256] and attention mask [b, N] in [0, 1] (N = H W /
        256 patches, row-major)."""
        seqs = []
        for i in range(1, 5):
            x = getattr(self, f"conv{i}")(x)
            seqs.append(getattr(self, f"tokenizer{i}").conv_layer(x).flatten(2).transpose(1, 2))
        t = self.transformer
        x = torch.cat([t.class_emb.expand(x.shape[0], -1, -1), torch.cat(seqs, -1)], 1)
        outs = []
        for blk in t.blocks:
            x = blk(x)
            outs.append(t.norm(x))
        multi = torch.cat([outs[i][:, 1:] for i in LEVELS], -1)  # [b, N, 3 * 256]
        att = F.softmax(self.pool.attention_pool(multi), dim=1).transpose(1, 2)  # [b, 3, N]
        pooled = torch.cat(
            [att[:, i : i + 1] @ outs[lv][:, 1:] for i, lv in enumerate(LEVELS)], -1
        )[:, 0]
        glob = F.normalize(self.pool.fc(F.normalize(pooled, dim=-1)), dim=-1)
        mask = _minmax(_minmax(att).sum(1))
        return glob, outs[layer][:, 1:], mask


class TransVPR(Extractor):
    default_conf = SPECS["transvpr"].default_conf()

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        c = self.conf
        if c["model"] not in MODELS:
            raise ConfigError(f"transvpr.model: {c['model']!r} is not one of {sorted(MODELS)}")
        size = c["resize"]
        if size is not None and (len(size) != 2 or any(int(v) % PATCH or v <= 0 for v in size)):
            raise ConfigError(f"transvpr.resize: {c['resize']!r} is not (w, h), multiples of 16")
        if not 0 <= int(c["layer"]) < LAYERS:
            raise ConfigError(f"transvpr.layer: {c['layer']!r} is not in 0..{LAYERS - 1}")
        self.device = resolve_device(c["device"])
        path = resolve_external(MODELS[c["model"]], c.get("weights"), c.get("sha256"))
        self.net = load_strict(TransVPRNet(), path).to(self.device).eval()

    def prepare(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 -> normalised [1, 3, h, w] at the network's input size."""
        image = image_to_rgb(image)
        h, w = image.shape[:2]
        size = self.conf["resize"] or [max(PATCH, v // PATCH * PATCH) for v in (w, h)]
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        x = x.permute(2, 0, 1)[None].float() / 255
        if (x.shape[3], x.shape[2]) != tuple(size):
            x = F.interpolate(x, (int(size[1]), int(size[0])), mode="bilinear", antialias=True)
        return (x - x.new_tensor(MEAN).view(1, 3, 1, 1)) / x.new_tensor(STD).view(1, 3, 1, 1)

    @torch.inference_mode()
    def describe(self, image: np.ndarray):
        """(global [256], tokens [N, 256], mask [N], network input (h, w)) as numpy."""
        x = self.prepare(image)
        g, tok, mask = self.net(x, int(self.conf["layer"]))
        out = (t[0].float().cpu().numpy() for t in (g, tok, mask))
        return (*out, tuple(x.shape[2:]))

    def extract(self, image: np.ndarray) -> Features:
        h, w = image.shape[:2]
        _, tokens, mask, (hi, wi) = self.describe(image)
        rows, cols = np.divmod(np.arange(len(tokens)), wi // PATCH)
        centres = np.stack([PATCH * cols, PATCH * rows], 1) + PATCH / 2
        kpts = centres * np.array([w / wi, h / hi])
        keep = mask > float(self.conf["mask_threshold"])
        return Features(kpts[keep] - 0.5, tokens[keep], mask[keep], (w, h))
