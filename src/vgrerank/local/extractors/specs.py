"""Specs of the extractor types (torch-free; see :mod:`vgrerank.local.spec`): each class's
parameters with default and check, its weight files, whether it is learned."""

from __future__ import annotations

from ...presets import boolean, integer, list_of, number, one_of, optional, string
from ..spec import OPT_POS_INT, OPT_STR, POS_INT, MethodSpec, P

SPECS: dict[str, MethodSpec] = {
    "sift": MethodSpec(
        "opencv:SIFT",
        {
            "max_keypoints": P(4096, OPT_POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "n_octave_layers": P(3, POS_INT),
            "contrast_threshold": P(0.04, number(ge=0)),
            "edge_threshold": P(10.0, number(gt=0)),
            "sigma": P(1.6, number(gt=0)),
        },
    ),
    "rootsift": MethodSpec(
        "opencv:RootSIFT",
        {
            "max_keypoints": P(4096, OPT_POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "n_octave_layers": P(3, POS_INT),
            "contrast_threshold": P(0.04, number(ge=0)),
            "edge_threshold": P(10.0, number(gt=0)),
            "sigma": P(1.6, number(gt=0)),
        },
    ),
    "orb": MethodSpec(
        "opencv:ORB",
        {
            "max_keypoints": P(4096, OPT_POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "scale_factor": P(1.2, number(gt=1)),
            "n_levels": P(8, POS_INT),
            "edge_threshold": P(31, integer(0)),
            "fast_threshold": P(20, integer(0)),
        },
    ),
    "akaze": MethodSpec(
        "opencv:AKAZE",
        {
            "max_keypoints": P(4096, OPT_POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "threshold": P(0.001, number(gt=0)),
        },
    ),
    "aliked": MethodSpec(
        "kornia_feats:ALIKED",
        {
            "max_keypoints": P(2048, POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "model": P(
                "aliked-n16", one_of("aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32")
            ),
            "detection_threshold": P(-1.0, number()),
            "nms_radius": P(2, integer(0)),
        },
        weights=("aliked-t16", "aliked-n16", "aliked-n16rot", "aliked-n32"),
        learned=True,
    ),
    "disk": MethodSpec(
        "kornia_feats:DISK",
        {
            "max_keypoints": P(2048, POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "window_size": P(5, POS_INT),
            "score_threshold": P(0.0, number(ge=0)),
        },
        weights=("disk-depth",),
        learned=True,
    ),
    "xfeat": MethodSpec(
        "kornia_feats:XFeat",
        {
            "max_keypoints": P(4096, POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "detection_threshold": P(0.05, number(ge=0)),
        },
        weights=("xfeat",),
        learned=True,
    ),
    "alike": MethodSpec(
        "alike:ALIKE",
        {
            "max_keypoints": P(2048, POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "model": P("alike-t", string()),
            "detection_threshold": P(-1.0, number()),  # <= 0: top-k mode
            "nms_radius": P(2, integer(0)),
        },
        weights=("alike-t", "alike-s", "alike-n", "alike-l"),
        learned=True,
    ),
    "r2d2": MethodSpec(
        "r2d2:R2D2",
        {
            "max_keypoints": P(5000, POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "model": P("r2d2_WASF_N16", string()),
            "threshold": P(0.7, number(ge=0, le=1)),  # reliability and repeatability thresholds
            "multiscale": P(False, boolean()),
            "min_size": P(256, POS_INT),
            "max_size": P(1024, POS_INT),
            "min_scale": P(0.0, number(ge=0)),
            "max_scale": P(1.0, number(gt=0)),
        },
        weights=("r2d2_WASF_N16", "r2d2_WAF_N16", "faster2d2_WASF_N16"),
        learned=True,
    ),
    "delg": MethodSpec(
        "delg:DELG",
        {
            "max_keypoints": P(1000, POS_INT),
            "resize_max": P(1024, OPT_POS_INT),  # the official max_image_size
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "model": P("r50-gld", one_of("r50-gld", "r50-gldv2clean")),
            "scales": P(
                [0.5, 0.7071, 1.0], list_of(number(gt=0))
            ),  # official: 0.25, 0.3535, 0.5, 0.7071, 1.0, 1.4142, 2.0
            "global_scales": P(
                [0.7071, 1.0], list_of(number(gt=0))
            ),  # official: 0.7071, 1.0, 1.4142
            "score_threshold": P(None, optional(number())),  # None: the model's official value
            "iou": P(1.0, number(gt=0, le=1)),
            "output": P(
                "local", one_of("local", "rrt")
            ),  # 'local' | 'rrt' (rrt_features: + extras global, scale)
        },
        weights=("delg-r50-gld", "delg-r50-gldv2clean"),
        learned=True,
    ),
    "patchnetvlad": MethodSpec(
        "patchnetvlad:PatchNetVLAD",
        {
            "model": P("mapillary_WPCA4096", string()),  # official file name (without .pth.tar)
            "num_clusters": P(64, POS_INT),
            "num_pcs": P(4096, POS_INT),
            "patch_sizes": P([2, 5, 8], list_of(POS_INT)),
            "strides": P([1, 1, 1], list_of(POS_INT)),
            "vladv2": P(False, boolean()),
            "resize": P([640, 480], optional(list_of(POS_INT, 2))),  # (w, h) or None: native size
            "weights": P(None, OPT_STR),
            "random_init": P(
                False, boolean()
            ),  # tests only: random network when no weights are given
            "seed": P(0, integer(0)),
            "device": P("auto", string()),
        },
        learned=True,
    ),
    "superpoint": MethodSpec(
        "superpoint:SuperPoint",
        {
            "max_keypoints": P(2048, POS_INT),
            "resize_max": P(None, OPT_POS_INT),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "nms_radius": P(4, integer(0)),
            "keypoint_threshold": P(0.005, number(ge=0)),
            "remove_borders": P(4, integer(0)),
        },
        weights=("superpoint",),
        learned=True,
    ),
    "d2net": MethodSpec(
        "d2net:D2Net",
        {
            "max_keypoints": P(4096, POS_INT),
            "resize_max": P(1600, OPT_POS_INT),  # the official --max_edge
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
            "multiscale": P(True, boolean()),
        },
        weights=("d2net-tf",),
        learned=True,
    ),
    "loftr": MethodSpec(
        "loftr:LoFTR",
        {
            "resize_max": P(640, OPT_POS_INT),
            "cache": P(
                "backbone", one_of("backbone", "image")
            ),  # 'backbone' (coarse + fine CNN maps) | 'image' (grayscale cells)
            "model": P("outdoor", one_of("outdoor", "indoor", "indoor_new")),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("loftr-outdoor", "loftr-indoor", "loftr-indoor_new"),
        learned=True,
    ),
    "transvpr": MethodSpec(
        "transvpr:TransVPR",
        {
            "model": P("msls", one_of("msls", "pitts30k")),  # 'msls' | 'pitts30k'
            "resize": P(
                [640, 480], optional(list_of(integer(16), 2))
            ),  # (w, h), multiples of 16, or None
            "layer": P(3, integer(0, 5)),
            "mask_threshold": P(0.02, number(ge=0, le=1)),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("transvpr-msls", "transvpr-pitts30k"),
        learned=True,
    ),
    "cvnet": MethodSpec(
        "cvnet:CVNet",
        {
            "depth": P(50, one_of(50, 101)),
            "resize_max": P(512, OPT_POS_INT),  # None: the image's own size (official)
            "global_scales": P([0.70710677, 1.0, 1.4142135], list_of(number(gt=0))),
            "device": P("auto", string()),
            "weights": P(None, OPT_STR),
            "sha256": P(None, OPT_STR),
        },
        weights=("cvnet-r50", "cvnet-r101"),
        learned=True,
    ),
}
