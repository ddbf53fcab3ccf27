"""Specs of the matcher types (torch-free; see :mod:`vgrerank.local.spec`): each class's
parameters with default and check, its weight files, whether it is learned."""

from __future__ import annotations

from ...presets import any_of, boolean, number, one_of, optional, string
from ..spec import OPT_STR, POS_INT, MethodSpec, P

SPECS: dict[str, MethodSpec] = {
    "mnn": MethodSpec(
        "nn:MutualNN",
        {
            "ratio": P(None, optional(number(gt=0, le=1))),
            "distance": P("auto", one_of("auto", "l2", "hamming")),
            "device": P("auto", string()),
            "batch": P("auto", any_of(one_of("auto"), boolean())),
            "max_elements": P(33554432, POS_INT),
        },
    ),
    "rrt": MethodSpec(
        "rrt:RRTMatcher",
        {
            "num_local": P(500, POS_INT),
            "device": P("auto", string()),
        },
    ),
    "lightglue": MethodSpec(
        "lightglue:LightGlue",
        {
            "features": P("aliked", one_of("auto", "aliked", "disk", "xfeat")),
            "filter_threshold": P(0.1, number(ge=0, le=1)),
            "adaptive": P(
                True, boolean()
            ),  # kornia's depth/width confidences; False disables both (batchable)
            "depth_confidence": P(
                None, optional(number(ge=-1, le=1))
            ),  # None: kornia's value for the features (used when adaptive)
            "width_confidence": P(None, optional(number(ge=-1, le=1))),
            "batch": P(
                "auto", any_of(one_of("auto"), boolean())
            ),  # match_many batching (adaptive: false only); 'auto': not on CPU
            "batch_size": P(16, POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("lightglue-aliked", "lightglue-disk", "lighterglue-xfeat"),
        learned=True,
    ),
    "pnv-mnn": MethodSpec(
        "patchnetvlad:PatchMutualNN",
        {
            "device": P("auto", string()),
        },
    ),
    "superglue": MethodSpec(
        "superglue:SuperGlue",
        {
            "model": P(
                "outdoor", one_of("outdoor", "indoor")
            ),  # weights: superglue_outdoor.pth | superglue_indoor.pth
            "sinkhorn_iterations": P(100, POS_INT),
            "match_threshold": P(0.2, number(ge=0, le=1)),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("superglue-outdoor", "superglue-indoor"),
        learned=True,
    ),
    "loftr": MethodSpec(
        "loftr:LoFTR",
        {
            "model": P("outdoor", one_of("outdoor", "indoor", "indoor_new")),
            "match_threshold": P(
                0.2, number(ge=0, le=1)
            ),  # coarse confidence threshold (kornia's match_coarse.thr)
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("loftr-outdoor", "loftr-indoor", "loftr-indoor_new"),
        learned=True,
    ),
    "cvnet": MethodSpec(
        "cvnet:CVNetMatcher",
        {
            "device": P("auto", string()),
        },
    ),
}
