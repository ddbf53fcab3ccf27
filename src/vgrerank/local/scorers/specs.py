"""Specs of the scorer types (torch-free; see :mod:`vgrerank.local.spec`): each class's
parameters with default and check, its weight files, whether it is learned."""

from __future__ import annotations

from ...presets import boolean, integer, mapping, number, one_of, optional, string
from ..spec import GEOMETRIC_METHODS, OPT_STR, POS_INT, MethodSpec, P

SPECS: dict[str, MethodSpec] = {
    "ransac": MethodSpec(
        "geometric:HomographyScorer",
        {
            "method": P("magsac", one_of(*GEOMETRIC_METHODS)),
            "threshold": P(3.0, number(gt=0)),
            "confidence": P(0.999, number(gt=0, lt=1)),
            "max_iters": P(10000, POS_INT),
            "seed": P(0, integer(0)),
            "normalize": P(False, boolean()),
        },
    ),
    "affine": MethodSpec(
        "geometric:AffineScorer",
        {
            "method": P("magsac", one_of(*GEOMETRIC_METHODS)),
            "threshold": P(3.0, number(gt=0)),
            "confidence": P(0.999, number(gt=0, lt=1)),
            "max_iters": P(10000, POS_INT),
            "seed": P(0, integer(0)),
            "normalize": P(False, boolean()),
        },
    ),
    "rapid": MethodSpec(
        "rapid:RapidSpatialScorer",
        {
            "normalize": P(True, boolean()),
        },
    ),
    "count": MethodSpec(
        "count:MatchCountScorer",
        {
            "normalize": P(False, boolean()),
        },
    ),
    "rrt": MethodSpec(
        "rrt:RRTScorer",
        {
            "model": P(
                "r50-gldv1", one_of("r50-gldv1", "r50-gldv2")
            ),  # pairs with DELG r50-gld; r50-gldv2 with r50-gldv2clean
            "num_local": P(500, POS_INT),
            "probability": P(False, boolean()),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("rrt-r50-gldv1", "rrt-r50-gldv2"),
        learned=True,
    ),
    "pnv-ransac": MethodSpec(
        "patchnetvlad:PatchRansacScorer",
        {
            "weights": P(None, optional(mapping())),
            "threshold": P(1.5, number(gt=0)),
            "device": P("auto", string()),
            "seed": P(0, integer(0)),
        },
    ),
    "pnv-rapid": MethodSpec(
        "patchnetvlad:PatchRapidScorer",
        {
            "weights": P(None, optional(mapping())),
            "threshold": P(1.5, number(gt=0)),
            "device": P("auto", string()),
            "seed": P(0, integer(0)),
        },
    ),
    "cvnet": MethodSpec(
        "cvnet:CVNetScorer",
        {
            "depth": P(50, one_of(50, 101)),
            "mix": P(0.5, optional(number(ge=0))),  # None: the verification probability alone
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("cvnet-r50", "cvnet-r101"),
        learned=True,
    ),
}
