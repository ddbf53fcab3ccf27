"""Named presets for extractors, matchers and scorers (hloc's ``confs`` pattern).

A re-ranking method is ``<extractor>+<matcher>+<scorer>`` (preset names). Its output files are
named by the presets' ``tag`` s, which encode the parameters that change results, e.g.
``sift-n4096+mnn+magsac-3px``. User presets from the config (``presets:`` section) extend or
override these; a user preset without a ``tag`` gets ``<name>-<hash of params>``.

Each preset's ``type`` names the implementing class (``module:Class`` under ``vgrerank.local``);
classes are imported lazily so that listing presets never imports torch.

``PARAMS`` holds each type's parameter schema (allowed keys and value checks, kept in step with
the classes' ``default_conf`` by a test): a preset with an unknown or invalid parameter is a
:class:`~vgrerank.errors.ConfigError` naming the preset and the key when it is resolved.
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

EXTRACTOR_TYPES = {
    "sift": "extractors.opencv:SIFT",
    "rootsift": "extractors.opencv:RootSIFT",
    "orb": "extractors.opencv:ORB",
    "akaze": "extractors.opencv:AKAZE",
    "aliked": "extractors.kornia_feats:ALIKED",
    "disk": "extractors.kornia_feats:DISK",
    "xfeat": "extractors.kornia_feats:XFeat",
    "alike": "extractors.alike:ALIKE",
    "r2d2": "extractors.r2d2:R2D2",
    "delg": "extractors.delg:DELG",
    "patchnetvlad": "extractors.patchnetvlad:PatchNetVLAD",
    "superpoint": "extractors.superpoint:SuperPoint",
    "d2net": "extractors.d2net:D2Net",
    "loftr": "extractors.loftr:LoFTR",
    "transvpr": "extractors.transvpr:TransVPR",
    "cvnet": "extractors.cvnet:CVNet",
}
MATCHER_TYPES = {
    "mnn": "matchers.nn:MutualNN",
    "rrt": "matchers.rrt:RRTMatcher",
    "lightglue": "matchers.lightglue:LightGlue",
    "pnv-mnn": "matchers.patchnetvlad:PatchMutualNN",
    "superglue": "matchers.superglue:SuperGlue",
    "loftr": "matchers.loftr:LoFTR",
    "cvnet": "matchers.cvnet:CVNetMatcher",
}
SCORER_TYPES = {
    "ransac": "scorers.geometric:HomographyScorer",
    "affine": "scorers.geometric:AffineScorer",
    "rapid": "scorers.rapid:RapidSpatialScorer",
    "count": "scorers.count:MatchCountScorer",
    "rrt": "scorers.rrt:RRTScorer",
    "pnv-ransac": "scorers.patchnetvlad:PatchRansacScorer",
    "pnv-rapid": "scorers.patchnetvlad:PatchRapidScorer",
    "cvnet": "scorers.cvnet:CVNetScorer",
}

EXTRACTORS: dict[str, dict] = {
    # TransVPR (official weights, user-downloaded): patch tokens of block 3 kept by the attention
    # mask (> 0.02) at the official 640 x 480 input; re-rank with transvpr+mnn+ransac-24px
    "transvpr": {
        "type": "transvpr",
        "model": "msls",
        "resize": [640, 480],
        "layer": 3,
        "mask_threshold": 0.02,
        "tag": "transvpr-msls-r640",
    },
    "transvpr-pitts30k": {
        "type": "transvpr",
        "model": "pitts30k",
        "resize": [640, 480],
        "layer": 3,
        "mask_threshold": 0.02,
        "tag": "transvpr-pitts30k-r640",
    },
    # CVNet (official weights, user-downloaded): dense maps + global descriptor for the scorer
    # 'cvnet'; CPU-sized (longer side 512, one global scale) or the official setting (own size,
    # global scales 0.7071 / 1 / 1.4142)
    "cvnet": {
        "type": "cvnet",
        "depth": 50,
        "resize_max": 512,
        "global_scales": [1.0],
        "tag": "cvnet-r50-r512",
    },
    "cvnet-r101": {
        "type": "cvnet",
        "depth": 101,
        "resize_max": 512,
        "global_scales": [1.0],
        "tag": "cvnet-r101-r512",
    },
    "cvnet-full": {
        "type": "cvnet",
        "depth": 50,
        "resize_max": None,
        "global_scales": [0.70710677, 1.0, 1.4142135],
        "tag": "cvnet-r50-full",
    },
    # DELG R50 (official TF weights converted by the user, see extractors/delg.py): a CPU-sized
    # pyramid (3 local, 2 global scales); 'delg-full' the official 7 / 3; 'delg-rrt' packs the
    # top 500 with the global descriptor for the Reranking Transformer (delg-rrt+rrt+rrt)
    "delg": {"type": "delg", "max_keypoints": 1000, "tag": "delg-r50gld-k1000-s3"},
    "delg-full": {
        "type": "delg",
        "max_keypoints": 1000,
        "scales": [0.25, 0.35355338, 0.5, 0.70710677, 1.0, 1.4142135, 2.0],
        "global_scales": [0.70710677, 1.0, 1.4142135],
        "tag": "delg-r50gld-k1000-s7",
    },
    "delg-rrt": {
        "type": "delg",
        "max_keypoints": 500,
        "output": "rrt",
        "tag": "delg-r50gld-rrt500-s3",
    },
    # Patch-NetVLAD (official weights: user-supplied, see extractors/patchnetvlad.py): the
    # authors' "performance" (sizes 2, 5, 8, PCA 4096) and "speed" (size 5, PCA 512) settings
    "patchnetvlad": {
        "type": "patchnetvlad",
        "model": "mapillary_WPCA4096",
        "num_pcs": 4096,
        "patch_sizes": [2, 5, 8],
        "strides": [1, 1, 1],
        "resize": [640, 480],
        "tag": "pnv-mapillary4096-p2-5-8",
    },
    "patchnetvlad-speed": {
        "type": "patchnetvlad",
        "model": "mapillary_WPCA512",
        "num_pcs": 512,
        "patch_sizes": [5],
        "strides": [1],
        "resize": [640, 480],
        "tag": "pnv-mapillary512-p5",
    },
    "sift": {"type": "sift", "max_keypoints": 4096, "tag": "sift-n4096"},
    "rootsift": {"type": "rootsift", "max_keypoints": 4096, "tag": "rootsift-n4096"},
    "orb": {"type": "orb", "max_keypoints": 4096, "tag": "orb-n4096"},
    "akaze": {"type": "akaze", "max_keypoints": 4096, "tag": "akaze-n4096"},
    "aliked": {
        "type": "aliked",
        "model": "aliked-n16",
        "max_keypoints": 2048,
        "tag": "aliked-n16-k2048",
    },
    # lighter variants for CPU runs (LightGlue's attention cost grows with the square of n)
    "aliked-k1024": {
        "type": "aliked",
        "model": "aliked-n16",
        "max_keypoints": 1024,
        "tag": "aliked-n16-k1024",
    },
    "aliked-k512": {
        "type": "aliked",
        "model": "aliked-n16",
        "max_keypoints": 512,
        "resize_max": 480,
        "tag": "aliked-n16-k512-r480",
    },
    "xfeat-k1024": {"type": "xfeat", "max_keypoints": 1024, "tag": "xfeat-k1024"},
    "disk": {"type": "disk", "max_keypoints": 2048, "tag": "disk-k2048"},
    "xfeat": {"type": "xfeat", "max_keypoints": 4096, "tag": "xfeat-k4096"},
    "alike": {"type": "alike", "model": "alike-t", "max_keypoints": 2048, "tag": "alike-t-k2048"},
    "r2d2": {
        "type": "r2d2",
        "model": "r2d2_WASF_N16",
        "max_keypoints": 5000,
        "tag": "r2d2-wasf-n16-k5000",
    },
    # official Magic Leap weights, user-downloaded (vgrerank.local.torchload.EXTERNAL)
    "superpoint": {"type": "superpoint", "max_keypoints": 2048, "tag": "superpoint-k2048"},
    "superpoint-k1024": {"type": "superpoint", "max_keypoints": 1024, "tag": "superpoint-k1024"},
    # D2-Net (official d2_tf.pth, user-downloaded): scales 0.5, 1, 2 or 1 only; longer side
    # capped at 1024 (official: 1600) to bound the memory of the 2x scale
    "d2net-ms": {
        "type": "d2net",
        "multiscale": True,
        "max_keypoints": 4096,
        "resize_max": 1024,
        "tag": "d2net-ms-k4096-r1024",
    },
    "d2net-ss": {
        "type": "d2net",
        "multiscale": False,
        "max_keypoints": 4096,
        "resize_max": 1024,
        "tag": "d2net-ss-k4096-r1024",
    },
    # LoFTR (user checkpoint): cached backbone maps (~22 MB per 640x480 image) or the compact
    # grayscale cells (~0.7 MB; the matcher runs the backbone); see extractors/loftr.py
    "loftr": {"type": "loftr", "cache": "backbone", "resize_max": 640, "tag": "loftr-r640"},
    "loftr-image": {"type": "loftr", "cache": "image", "resize_max": 640, "tag": "loftr-img-r640"},
}
MATCHERS: dict[str, dict] = {
    # CVNet features only; mutual NN of the scale-1 cells (diagnostic; CVNet scores)
    "cvnet": {"type": "cvnet", "tag": "cvnet-mnn"},
    # RRT's inputs checked; mutual NN among its 500 local tokens (diagnostic; RRT scores)
    "rrt": {"type": "rrt", "num_local": 500, "tag": "rrt-mnn500"},
    "pnv-mnn": {"type": "pnv-mnn", "tag": "pnv-mnn"},  # Patch-NetVLAD: per-scale mutual NN
    "mnn": {"type": "mnn", "ratio": None, "tag": "mnn"},
    "mnn-ratio": {"type": "mnn", "ratio": 0.9, "tag": "mnn-r0.9"},
    # SuperPoint descriptors only (official Magic Leap weights, user-downloaded)
    "superglue": {
        "type": "superglue",
        "model": "outdoor",
        "sinkhorn_iterations": 100,
        "match_threshold": 0.2,
        "tag": "superglue-outdoor",
    },
    # LightGlue's weights depend on the extractor: 'features' is filled from the extractor type.
    # 'lightglue' keeps kornia's adaptive settings for the features (ALIKED / DISK: early stop
    # depth_confidence 0.95, point pruning width_confidence 0.99; LighterGlue: pruning 0.95 only),
    # decided per pair; 'lightglue-full' runs every layer on every point (no early stop, no
    # pruning), which lets match_many batch a query's candidates on a GPU (on a CPU batching is
    # slower; bench/lightglue_adaptive.py).
    "lightglue": {"type": "lightglue", "features": "auto", "tag": "lightglue"},
    # LoFTR on the loftr extractor's cells (returns its own points: base.PointMatches)
    "loftr": {"type": "loftr", "model": "outdoor", "match_threshold": 0.2, "tag": "loftr-outdoor"},
    "lightglue-full": {
        "type": "lightglue",
        "features": "auto",
        "adaptive": False,
        "tag": "lightglue-full",
    },
}
SCORERS: dict[str, dict] = {
    # CVNet: global similarity + 0.5 x verification probability (the paper's re-ranking), or the
    # verification probability alone; depth as the extractor's
    "cvnet": {"type": "cvnet", "depth": 50, "mix": 0.5, "tag": "cvnet-r50-mix0.5"},
    "cvnet-only": {"type": "cvnet", "depth": 50, "mix": None, "tag": "cvnet-r50"},
    "cvnet-r101": {"type": "cvnet", "depth": 101, "mix": 0.5, "tag": "cvnet-r101-mix0.5"},
    # TransVPR's verification: classical RANSAC, 1.5 patches = 24 px of its 640 x 480 input
    "ransac-24px": {"type": "ransac", "method": "ransac", "threshold": 24.0, "tag": "ransac-24px"},
    # Reranking Transformer logit (official uvavision checkpoints, user-downloaded, GPL-3.0)
    "rrt": {"type": "rrt", "model": "r50-gldv1", "num_local": 500, "tag": "rrt-r50gldv1"},
    # Patch-NetVLAD per-scale RANSAC / rapid spatial scoring, weighted as the authors do
    "pnv-ransac": {
        "type": "pnv-ransac",
        "weights": {2: 0.45, 5: 0.15, 8: 0.4},
        "threshold": 1.5,
        "tag": "pnv-ransac",
    },
    "pnv-rapid": {"type": "pnv-rapid", "weights": {2: 0.45, 5: 0.15, 8: 0.4}, "tag": "pnv-rapid"},
    "magsac": {"type": "ransac", "method": "magsac", "threshold": 3.0, "tag": "magsac-3px"},
    "ransac": {"type": "ransac", "method": "ransac", "threshold": 3.0, "tag": "ransac-3px"},
    "affine": {"type": "affine", "method": "ransac", "threshold": 3.0, "tag": "affine-3px"},
    # DELG's reference verification (tensorflow/models delf perform_retrieval: affine RANSAC,
    # 10 px residual, 1000 trials) for its coarse keypoints (32 px / scale receptive centres)
    "affine-10px": {
        "type": "affine",
        "method": "ransac",
        "threshold": 10.0,
        "max_iters": 1000,
        "tag": "affine-10px-i1000",
    },
    "rapid": {"type": "rapid", "tag": "rapid"},
    "count": {"type": "count", "tag": "count"},
}

# ------------------------------------------------------------------ parameter schemas
_POS_INT = integer(1)
_OPT_POS_INT = optional(integer(1))
_OPT_STR = optional(string())
_OPENCV = {"max_keypoints": _OPT_POS_INT, "resize_max": _OPT_POS_INT}
_SIFT = {
    **_OPENCV,
    "n_octave_layers": _POS_INT,
    "contrast_threshold": number(ge=0),
    "edge_threshold": number(gt=0),
    "sigma": number(gt=0),
}
_TORCH = {
    "max_keypoints": _POS_INT,
    "resize_max": _OPT_POS_INT,
    "device": string(),
    "weights": _OPT_STR,
    "sha256": _OPT_STR,
}
# the classical RANSAC flavours of vgrerank.local.scorers.geometric.METHODS
GEOMETRIC_METHODS = ("magsac", "ransac", "usac", "accurate", "prosac", "fast", "parallel", "lmeds")
_GEOMETRIC = {
    "method": one_of(*GEOMETRIC_METHODS),
    "threshold": number(gt=0),
    "confidence": number(gt=0, lt=1),
    "max_iters": _POS_INT,
    "seed": integer(0),
    "normalize": boolean(),
}
_PNV_SCORER = {
    "weights": optional(mapping()),
    "threshold": number(gt=0),
    "device": string(),
    "seed": integer(0),
}
PARAMS: dict[str, dict[str, dict]] = {
    "extractor": {
        "transvpr": {
            "model": one_of("msls", "pitts30k"),
            "resize": optional(list_of(integer(16), 2)),
            "layer": integer(0, 5),
            "mask_threshold": number(ge=0, le=1),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
        "cvnet": {
            "depth": one_of(50, 101),
            "resize_max": _OPT_POS_INT,
            "global_scales": list_of(number(gt=0)),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
        "delg": {
            **_TORCH,
            "model": one_of("r50-gld", "r50-gldv2clean"),
            "scales": list_of(number(gt=0)),
            "global_scales": list_of(number(gt=0)),
            "score_threshold": optional(number()),
            "iou": number(gt=0, le=1),
            "output": one_of("local", "rrt"),
        },
        "patchnetvlad": {
            "model": string(),
            "num_clusters": _POS_INT,
            "num_pcs": _POS_INT,
            "patch_sizes": list_of(_POS_INT),
            "strides": list_of(_POS_INT),
            "vladv2": boolean(),
            "resize": optional(list_of(_POS_INT, 2)),
            "weights": _OPT_STR,
            "random_init": boolean(),
            "seed": integer(0),
            "device": string(),
        },
        "sift": _SIFT,
        "rootsift": _SIFT,
        "orb": {
            **_OPENCV,
            "scale_factor": number(gt=1),
            "n_levels": _POS_INT,
            "edge_threshold": integer(0),
            "fast_threshold": integer(0),
        },
        "akaze": {**_OPENCV, "threshold": number(gt=0)},
        "aliked": {
            **_TORCH,
            "model": one_of("aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32"),
            "detection_threshold": number(),
            "nms_radius": integer(0),
        },
        "disk": {**_TORCH, "window_size": _POS_INT, "score_threshold": number(ge=0)},
        "xfeat": {**_TORCH, "detection_threshold": number(ge=0)},
        "alike": {
            **_TORCH,
            "model": string(),
            "detection_threshold": number(),
            "nms_radius": integer(0),
        },
        "r2d2": {
            **_TORCH,
            "model": string(),
            "threshold": number(ge=0, le=1),
            "multiscale": boolean(),
            "min_size": _POS_INT,
            "max_size": _POS_INT,
            "min_scale": number(ge=0),
            "max_scale": number(gt=0),
        },
        "superpoint": {
            **_TORCH,
            "nms_radius": integer(0),
            "keypoint_threshold": number(ge=0),
            "remove_borders": integer(0),
        },
        "d2net": {**_TORCH, "multiscale": boolean()},
        "loftr": {
            "resize_max": _OPT_POS_INT,
            "cache": one_of("backbone", "image"),
            "model": one_of("outdoor", "indoor", "indoor_new"),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
    },
    "matcher": {
        "cvnet": {"device": string()},
        "rrt": {"num_local": _POS_INT, "device": string()},
        "pnv-mnn": {"device": string()},
        "loftr": {
            "model": one_of("outdoor", "indoor", "indoor_new"),
            "match_threshold": number(ge=0, le=1),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
        "superglue": {
            "model": one_of("outdoor", "indoor"),
            "sinkhorn_iterations": _POS_INT,
            "match_threshold": number(ge=0, le=1),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
        "mnn": {
            "ratio": optional(number(gt=0, le=1)),
            "distance": one_of("auto", "l2", "hamming"),
            "device": string(),
            "batch": any_of(one_of("auto"), boolean()),
            "max_elements": _POS_INT,
        },
        "lightglue": {
            "features": one_of("auto", "aliked", "disk", "xfeat"),
            "filter_threshold": number(ge=0, le=1),
            "adaptive": boolean(),
            "depth_confidence": optional(number(ge=-1, le=1)),
            "width_confidence": optional(number(ge=-1, le=1)),
            "batch": any_of(one_of("auto"), boolean()),
            "batch_size": _POS_INT,
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
    },
    "scorer": {
        "cvnet": {
            "depth": one_of(50, 101),
            "mix": optional(number(ge=0)),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
        "rrt": {
            "model": one_of("r50-gldv1", "r50-gldv2"),
            "num_local": _POS_INT,
            "probability": boolean(),
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
        "pnv-ransac": _PNV_SCORER,
        "pnv-rapid": _PNV_SCORER,
        "ransac": _GEOMETRIC,
        "affine": _GEOMETRIC,
        "rapid": {"normalize": boolean()},
        "count": {"normalize": boolean()},
    },
}

KINDS = {
    "extractor": (EXTRACTORS, EXTRACTOR_TYPES),
    "matcher": (MATCHERS, MATCHER_TYPES),
    "scorer": (SCORERS, SCORER_TYPES),
}


def get_preset(kind: str, name: str, user: dict | None = None) -> dict:
    """Resolve preset ``name`` of ``kind`` ('extractor'|'matcher'|'scorer').

    ``user`` holds config-defined presets for that kind; they may ``base`` on a built-in one.
    Unknown or invalid parameters raise :class:`ConfigError` naming the preset and the key.
    """
    presets, types = KINDS[kind]
    return resolve_preset(kind, name, presets, types, user, params=PARAMS[kind])


def parse_method(method: str, user_presets: dict | None = None) -> dict:
    """``'sift+mnn+magsac'`` -> {'extractor': conf, 'matcher': conf, 'scorer': conf, 'tag': ...}."""
    parts = method.split("+")
    if len(parts) != 3:
        raise ConfigError(
            f"method {method!r}: expected '<extractor>+<matcher>+<scorer>' (three preset names)"
        )
    user_presets = user_presets or {}
    out = {}
    for kind, name in zip(("extractor", "matcher", "scorer"), parts, strict=True):
        out[kind] = get_preset(kind, name, user_presets.get(f"{kind}s"))
    if out["matcher"].get("features") == "auto":
        out["matcher"]["features"] = out["extractor"]["type"]
    out["name"] = method
    out["tag"] = "+".join(out[k]["tag"] for k in ("extractor", "matcher", "scorer"))
    return out


def _load(kind: str, conf: dict):
    _, types = KINDS[kind]
    module, cls = types[conf["type"]].split(":")
    mod = importlib.import_module(f"vgrerank.local.{module}")
    params = {k: v for k, v in conf.items() if k not in ("type", "tag")}
    return getattr(mod, cls)(params)


def make_extractor(conf: dict):
    return _load("extractor", conf)


def make_matcher(conf: dict):
    return _load("matcher", conf)


def make_scorer(conf: dict):
    return _load("scorer", conf)
