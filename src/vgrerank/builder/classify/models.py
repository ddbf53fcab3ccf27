"""Network factory: timm architectures with random weights (pretrained ImageNet backbones come
from :mod:`vgrerank.backbones` through :mod:`.transfer`; a checkpoint rebuilds either here).

:func:`create_model` builds any timm architecture name with ``pretrained=False``; the defaults
are ``mobilenetv2_100`` (day/night) and ``efficientnet_b0`` (indoor/outdoor), and width-reduced
variants such as ``mobilenetv2_050`` or ``mobilenetv2_035`` train faster on two CPU cores.
Weights trained elsewhere (e.g. with ImageNet transfer) come in through a checkpoint
(:mod:`.checkpoint`), whose ``arch`` names the architecture to build.
"""

from __future__ import annotations

import torch

from ...errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def create_model(arch: str, num_classes: int, *, drop_rate: float = 0.2) -> torch.nn.Module:
    """A timm ``arch`` with a ``num_classes`` head and random initial weights."""
    import timm

    if not timm.is_model(arch):
        raise ConfigError(f"arch={arch!r}: not a timm architecture (e.g. mobilenetv2_100)")
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes, drop_rate=drop_rate)
    head = model.get_classifier()
    if isinstance(head, torch.nn.Linear):
        # timm's EfficientNet-family init scales the head by 1/sqrt(fan_out): with 2..11 classes
        # the initial logits are ~10 and the first epochs are wasted; start from small logits
        torch.nn.init.normal_(head.weight, std=0.01)
        torch.nn.init.zeros_(head.bias)
    return model
