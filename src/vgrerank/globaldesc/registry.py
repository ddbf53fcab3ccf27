"""Named presets for global descriptors (the global-retrieval stage).

Each preset's ``type`` names the implementing class (imported lazily, so listing presets never
imports torch or faiss) and its ``tag`` names the output files
(``results/<dataset>/global/<tag>/...``). User presets from the config extend or override these
and may ``base`` on a built-in one; a user preset without a ``tag`` gets
``<name>-<hash of params>``. ``PARAMS`` holds each type's parameter schema: an unknown or invalid
parameter is a :class:`~vgrerank.errors.ConfigError` naming the preset and the key.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..presets import (
    any_of,
    boolean,
    integer,
    list_of,
    mapping,
    number,
    one_of,
    optional,
    resolve_preset,
    string,
)

GLOBAL_TYPES = {
    "vlad": "vlad:VLAD",
    "cosplace": "cosplace:CosPlace",
}

GLOBALS: dict[str, dict] = {
    # DenseVLAD-style, weights-free default
    "vlad-rootsift-64": {
        "type": "vlad", "local": "rootsift-dense", "k": 64, "resize_max": 480, "step": 8,
        "scales": [16, 24, 32], "power": 0.5, "pca_dim": None, "tag": "vlad-rootsift-k64-r480",
    },
    "vlad-rootsift-64-w1024": {
        "type": "vlad", "local": "rootsift-dense", "k": 64, "resize_max": 640, "step": 8,
        "scales": [16, 24, 32, 40], "power": 0.5, "pca_dim": 1024,
        "tag": "vlad-rootsift-k64-r640-w1024",
    },
    # for thumbnails (~160x120, e.g. Corridor / synthetic sets): fine grid, small patches
    "vlad-rootsift-64-tiny": {
        "type": "vlad", "local": "rootsift-dense", "k": 64, "resize_max": None, "step": 4,
        "scales": [8, 12, 16], "power": 0.5, "pca_dim": None, "tag": "vlad-rootsift-k64-tiny",
    },
    # learned VLAD: ALIKED descriptors (vgrerank.local.registry 'aliked') aggregated by VLAD
    "vlad-aliked-64": {
        "type": "vlad", "local": "aliked", "k": 64, "resize_max": 640, "power": 0.5,
        "pca_dim": None, "fit_per_image": 500, "tag": "vlad-aliked-k64",
    },
    "cosplace-r18-512": {
        "type": "cosplace", "backbone": "resnet18", "fc_output_dim": 512, "weights": None,
        "tag": "cosplace-r18-512",
    },
    "cosplace-r50-2048": {
        "type": "cosplace", "backbone": "resnet50", "fc_output_dim": 2048, "weights": None,
        "tag": "cosplace-r50-2048",
    },
}  # fmt: skip


PARAMS: dict[str, dict] = {
    "vlad": {
        # 'rootsift-dense' or a local extractor preset name (vgrerank.local.registry) or conf
        "local": any_of(string(), mapping()),
        "k": integer(1),
        "resize_max": optional(integer(1)),
        "step": integer(1),
        "scales": list_of(number(gt=0)),
        "power": number(gt=0, le=1),
        "intra_norm": boolean(),
        "pca_dim": optional(integer(1)),
        "whiten": boolean(),
        "whiten_eps": number(ge=0),
        "fit_images": integer(1),
        "fit_per_image": integer(1),
        "kmeans_iters": integer(1),
        "pca_images": optional(integer(1)),
    },
    "cosplace": {
        "backbone": one_of("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
        "fc_output_dim": integer(1),
        "weights": optional(string()),
        "random_init": boolean(),
        "seed": integer(0),
        "resize_max": optional(integer(1)),
        "batch_size": integer(1),
        "device": string(),
    },
}


def get_global_preset(name: str, user_presets: dict | None = None) -> dict:
    """Resolve global-descriptor preset ``name`` (user presets first, then built-ins); unknown
    or invalid parameters raise :class:`ConfigError` naming the preset and the key."""
    return resolve_preset(
        "global descriptor", name, GLOBALS, GLOBAL_TYPES, user_presets, "global", params=PARAMS
    )


def make_global(conf: dict):
    """Build the :class:`~vgrerank.globaldesc.base.GlobalDescriptor` of a resolved preset."""
    if conf.get("type") not in GLOBAL_TYPES:
        raise ConfigError(
            f"global descriptor type {conf.get('type')!r} is not one of {sorted(GLOBAL_TYPES)}"
        )
    module, cls = GLOBAL_TYPES[conf["type"]].split(":")
    mod = importlib.import_module(f"vgrerank.globaldesc.{module}")
    params = {k: v for k, v in conf.items() if k not in ("type", "tag")}
    return getattr(mod, cls)(params)
