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
}
MATCHER_TYPES = {
    "mnn": "matchers.nn:MutualNN",
    "lightglue": "matchers.lightglue:LightGlue",
}
SCORER_TYPES = {
    "ransac": "scorers.geometric:HomographyScorer",
    "affine": "scorers.geometric:AffineScorer",
    "rapid": "scorers.rapid:RapidSpatialScorer",
    "count": "scorers.count:MatchCountScorer",
}

EXTRACTORS: dict[str, dict] = {
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
}
MATCHERS: dict[str, dict] = {
    "mnn": {"type": "mnn", "ratio": None, "tag": "mnn"},
    "mnn-ratio": {"type": "mnn", "ratio": 0.9, "tag": "mnn-r0.9"},
    # LightGlue's weights depend on the extractor: 'features' is filled from the extractor type
    "lightglue": {"type": "lightglue", "features": "auto", "tag": "lightglue"},
}
SCORERS: dict[str, dict] = {
    "magsac": {"type": "ransac", "method": "magsac", "threshold": 3.0, "tag": "magsac-3px"},
    "ransac": {"type": "ransac", "method": "ransac", "threshold": 3.0, "tag": "ransac-3px"},
    "affine": {"type": "affine", "method": "ransac", "threshold": 3.0, "tag": "affine-3px"},
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
PARAMS: dict[str, dict[str, dict]] = {
    "extractor": {
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
    },
    "matcher": {
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
            "batch_size": _POS_INT,
            "device": string(),
            "weights": _OPT_STR,
            "sha256": _OPT_STR,
        },
    },
    "scorer": {
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
