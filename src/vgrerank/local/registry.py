"""Named presets for extractors, matchers and scorers (hloc's ``confs`` pattern).

A re-ranking method is ``<extractor>+<matcher>+<scorer>`` (preset names). Its output files are
named by the presets' ``tag`` s, which encode the parameters that change results, e.g.
``sift-n4096+mnn+magsac-3px``. User presets from the config (``presets:`` section) extend or
override these; a user preset without a ``tag`` gets ``<name>-<hash of params>``.

Each preset's ``type`` names the implementing class (``module:Class`` under ``vgrerank.local``);
classes are imported lazily so that listing presets never imports torch.

Each type is described once, by its spec beside its class (``SPECS`` of ``extractors/specs.py``,
``matchers/specs.py``, ``scorers/specs.py``; :mod:`vgrerank.local.spec`): the type tables below,
the classes' ``default_conf`` and ``PARAMS`` (each type's parameter schema: allowed keys and
value checks) are derived from it. A preset with an unknown or invalid parameter is a
:class:`~vgrerank.errors.ConfigError` naming the preset and the key when it is resolved.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from ..presets import resolve_preset
from .extractors.specs import SPECS as EXTRACTOR_SPECS
from .matchers.specs import SPECS as MATCHER_SPECS
from .scorers.specs import SPECS as SCORER_SPECS
from .spec import GEOMETRIC_METHODS, MethodSpec

__all__ = ["GEOMETRIC_METHODS", "PARAMS", "SPECS", "build_method", "get_preset", "parse_method"]

# the type tables and parameter schemas come from the specs beside the classes
SPECS: dict[str, dict[str, MethodSpec]] = {
    "extractor": EXTRACTOR_SPECS,
    "matcher": MATCHER_SPECS,
    "scorer": SCORER_SPECS,
}
_FOLDERS = {"extractor": "extractors", "matcher": "matchers", "scorer": "scorers"}
EXTRACTOR_TYPES, MATCHER_TYPES, SCORER_TYPES = (
    {t: f"{_FOLDERS[kind]}.{spec.cls}" for t, spec in SPECS[kind].items()}
    for kind in ("extractor", "matcher", "scorer")
)

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
PARAMS: dict[str, dict[str, dict]] = {
    kind: {t: spec.schema() for t, spec in specs.items()} for kind, specs in SPECS.items()
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


_MAKE = {"extractor": make_extractor, "matcher": make_matcher, "scorer": make_scorer}


def build_method(
    method: dict,
    device: str | None = None,
    seed: int | None = None,
    parts: tuple[str, ...] = ("extractor", "matcher", "scorer"),
) -> dict:
    """Build the components of a parsed method (:func:`parse_method`): ``{kind: instance}`` for
    each kind of ``parts``. ``device`` (when given) goes to every component whose spec takes a
    device; ``seed`` (when given) to the scorer, which ignores it unless its spec takes one.
    The one place where callers (re-ranking, figures, benchmarks) build a method."""
    out = {}
    for kind in parts:
        conf = dict(method[kind])
        if device is not None and SPECS[kind][conf["type"]].takes_device:
            conf["device"] = str(device)
        if seed is not None and kind == "scorer":
            conf["seed"] = seed
        out[kind] = _MAKE[kind](conf)
    return out
