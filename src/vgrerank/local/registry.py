"""Named presets for extractors, matchers and scorers (hloc's ``confs`` pattern).

A re-ranking method is ``<extractor>+<matcher>+<scorer>`` (preset names). Its output files are
named by the presets' ``tag`` s, which encode the parameters that change results, e.g.
``sift-n4096+mnn+magsac-3px``. User presets from the config (``presets:`` section) extend or
override these; a user preset without a ``tag`` gets ``<name>-<hash of params>``.

Each preset's ``type`` names the implementing class (``module:Class`` under ``vgrerank.local``);
classes are imported lazily so that listing presets never imports torch.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..presets import resolve_preset

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

KINDS = {
    "extractor": (EXTRACTORS, EXTRACTOR_TYPES),
    "matcher": (MATCHERS, MATCHER_TYPES),
    "scorer": (SCORERS, SCORER_TYPES),
}


def get_preset(kind: str, name: str, user: dict | None = None) -> dict:
    """Resolve preset ``name`` of ``kind`` ('extractor'|'matcher'|'scorer').

    ``user`` holds config-defined presets for that kind; they may ``base`` on a built-in one.
    """
    presets, types = KINDS[kind]
    return resolve_preset(kind, name, presets, types, user)


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
