"""Patch-NetVLAD (extractor ``patchnetvlad``, matcher ``pnv-mnn``, scorers ``pnv-ransac`` /
``pnv-rapid``) against the authors' own package ``patchnetvlad==0.1.8`` (MIT; a test-only
reference, ``pip install --no-deps patchnetvlad==0.1.8``; skipped when absent).

Both networks get the same random weights (our state_dict loaded strictly into theirs), see the
same input tensor, and must agree on the global NetVLAD+WPCA descriptor and on every scale's
patch descriptors; fed the same patch descriptors, our matcher + scorers must give the
reference ``PatchMatcher``'s per-scale RANSAC and rapid-spatial scores and their weighted sum.
A real Gardens Point pair (``../shared``) and a generated pair (always) are used; small
networks (32 clusters, PCA 128) and 256 x 192 inputs keep it fast.
"""

from __future__ import annotations

import configparser
import importlib
import importlib.machinery
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from realdata import REAL

from vgrerank.errors import ConfigError, DataError
from vgrerank.imageio import load_image
from vgrerank.local.base import Features
from vgrerank.local.extractors.patchnetvlad import PatchNetVLAD, load_weights
from vgrerank.local.registry import make_matcher, make_scorer, parse_method

SIZE = (256, 192)  # network input (w, h): conv5 map 12 x 16
PATCHES, STRIDES = [2, 5, 8], [1, 1, 1]
WEIGHTS = {2: 0.45, 5: 0.15, 8: 0.4}
CONF = {"num_clusters": 32, "num_pcs": 128, "patch_sizes": PATCHES, "strides": STRIDES,
        "resize": list(SIZE), "random_init": True, "seed": 3, "device": "cpu"}  # fmt: skip


def _reference():
    """The reference's modules; its NetVLAD files import sklearn (used only for clustering,
    not here) at import time, so a stub stands in when scikit-learn is not installed."""
    if importlib.util.find_spec("patchnetvlad") is None:
        pytest.skip("reference package patchnetvlad not installed (pip install --no-deps "
                    "patchnetvlad==0.1.8)")  # fmt: skip
    import torchvision  # noqa: F401 - imported before the stub (torch scans installed modules)

    stubs = {}
    if importlib.util.find_spec("sklearn") is None:
        stubs = {n: types.ModuleType(n) for n in ("sklearn", "sklearn.neighbors")}
        for name, mod in stubs.items():
            mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
        stubs["sklearn.neighbors"].NearestNeighbors = None
    sys.modules.update(stubs)
    try:
        mods = [importlib.import_module(f"patchnetvlad.{m}") for m in
                ("models.models_generic", "models.local_matcher", "tools.patch_matcher",
                 "tools.datasets")]  # fmt: skip
    finally:
        for name in stubs:
            sys.modules.pop(name, None)
    return mods


def _ref_config(matcher: str = "RANSAC") -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg["global_params"] = {"pooling": "patchnetvlad", "num_clusters": "32", "num_pcs": "128",
                            "vladv2": "false", "patch_sizes": ",".join(map(str, PATCHES)),
                            "strides": ",".join(map(str, STRIDES))}  # fmt: skip
    cfg["feature_match"] = {"imageresizew": str(SIZE[0]), "imageresizeh": str(SIZE[1]),
                            "matcher": matcher}  # fmt: skip
    return cfg


def _images(case: str) -> tuple[np.ndarray, np.ndarray]:
    if case == "real":
        root = REAL / "place_triplets" / "p0"
        if not root.exists():
            pytest.skip(f"{root} not available (../shared is absent)")
        ims = [load_image(root / n) for n in ("i0/Image001.jpg", "i1/Image002.jpg")]
        # at the network's size, so that patch centres are the reference's pixels
        return tuple(np.asarray(Image.fromarray(im).resize(SIZE, Image.BILINEAR)) for im in ims)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8).repeat(5, 0).repeat(5, 1)
    base = (base.astype(np.float32) * np.linspace(0.4, 1.0, 400)[None, :, None]).astype(np.uint8)
    return base[:192, :256].copy(), base[40:232, 60:316].copy()  # shifted views of one scene


@pytest.fixture(scope="module", params=["real", "generated"])
def pair(request):
    """Ours and the reference on one image pair; everything the tests compare."""
    from torchvision.models import vgg

    generic, local_matcher, patch_matcher, datasets = _reference()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    im0, im1 = _images(request.param)
    ours = PatchNetVLAD(CONF)
    ref_enc = torch.nn.Sequential(*list(vgg.make_layers(vgg.cfgs["D"]))[:-2])  # get_backend's
    ref = generic.get_model(ref_enc, 512, _ref_config()["global_params"], append_pca_layer=True)
    ref.load_state_dict(ours.net.state_dict(), strict=True)  # one layout, the same weights
    ref.eval()
    out = {"mods": (generic, local_matcher, patch_matcher), "ours": ours, "ref": {}, "our": {}}
    for name, im in (("q", im0), ("db", im1)):
        x = ours.prepare(im)
        x_ref = datasets.input_transform((SIZE[1], SIZE[0]))(Image.fromarray(im))[None]
        out.setdefault("input_diff", []).append(float((x - x_ref).abs().max()))
        with torch.no_grad():
            vlad_local, vlad_global = ref.pool(ref.encoder(x))
            glob = generic.get_pca_encoding(ref, vlad_global)[0].numpy()
            local = []
            for t in vlad_local:  # [1, K*C, P] -> WPCA per patch -> [P, D]
                pca = generic.get_pca_encoding(ref, t.permute(2, 0, 1).reshape(-1, t.size(1)))
                local.append(pca.reshape(t.size(2), 1, -1)[:, 0].numpy())
        out["ref"][name] = (glob, local)
        g, loc, net_hw = ours.describe(im)
        feats = ours.extract(im)  # the extractor's layout: the patch size in an extra
        assert feats.size == SIZE and np.array_equal(feats.keypoints, ours.keypoints(SIZE, net_hw))
        assert np.array_equal(feats.descriptors, np.concatenate(loc)) and (feats.scores == 1).all()
        out["our"][name] = (g, loc, feats)
    return out


def test_global_and_patch_descriptors_equal_reference(pair):
    assert max(pair["input_diff"]) == 0.0  # same resize + normalisation as the reference
    for name in ("q", "db"):
        g_ref, loc_ref = pair["ref"][name]
        g, loc, feats = pair["our"][name]
        diffs = [np.abs(g - g_ref).max()] + [
            np.abs(a - b).max() for a, b in zip(loc, loc_ref, strict=True)
        ]
        print(f"max |ours - reference| {name}: global, patches per scale", diffs)
        assert g.shape == (128,) and np.abs(g - g_ref).max() < 1e-5
        assert [len(d) for d in loc] == [len(d) for d in loc_ref] == [11 * 15, 8 * 12, 5 * 9]
        for d, d_ref in zip(loc, loc_ref, strict=True):
            assert np.abs(d - d_ref).max() < 1e-5
        sizes = feats.extras["patch_size"]
        assert sizes.dtype == np.int64 and np.array_equal(
            sizes, np.repeat(PATCHES, [len(d) for d in loc])
        )


def _features(pair, name: str) -> Features:
    """Our keypoints and scale ids with the *reference's* patch descriptors."""
    feats = pair["our"][name][2]
    desc = np.concatenate(pair["ref"][name][1])
    return Features(feats.keypoints, desc, feats.scores, SIZE, feats.extras)


def test_keypoints_and_scores_equal_reference(pair):
    _, local_matcher, patch_matcher = pair["mods"]
    fq, fdb = _features(pair, "q"), _features(pair, "db")
    fm = _ref_config()["feature_match"]
    ref_kp = [local_matcher.calc_keypoint_centers_from_patches(fm, p, p, s, s)
              for p, s in zip(PATCHES, STRIDES, strict=True)]  # fmt: skip
    kps, idx = [k for k, _ in ref_kp], [i for _, i in ref_kp]
    assert np.array_equal(fq.keypoints, np.concatenate([k.T for k in kps]).astype(np.float32))
    qfeats = [torch.from_numpy(d) for d in pair["ref"]["q"][1]]  # [P, D]
    dbfeats = [torch.from_numpy(d.T.copy()) for d in pair["ref"]["db"][1]]  # [D, P]
    # cv2 5 rejects int64 point arrays: the reference's integer centres, as int32
    kps32 = [k.astype(np.int32) for k in kps]
    for kind in ("RANSAC", "spatialApproximator"):
        ref_scores, *_ = patch_matcher.PatchMatcher(kind, PATCHES, STRIDES, kps32, idx).match(
            qfeats, dbfeats
        )
        scorer = make_scorer({"type": "pnv-ransac" if kind == "RANSAC" else "pnv-rapid"})
        matches = make_matcher({"type": "pnv-mnn", "device": "cpu"}).match(fq, fdb)
        for p, ref in zip(PATCHES, ref_scores, strict=True):  # one scale at a time
            one = {q: float(q == p) for q in PATCHES}
            one_scale = scorer.__class__({**scorer.conf, "weights": one})
            ours = one_scale.score(None, None, fq, fdb, matches=matches)
            assert ours.score == pytest.approx(-ref, rel=1e-12, abs=1e-12), (kind, p)
        weighted = -sum(WEIGHTS[p] * s for p, s in zip(PATCHES, ref_scores, strict=True))
        both = scorer.__class__({**scorer.conf, "weights": WEIGHTS})
        via = both.score(None, None, fq, fdb, matches=matches)  # the matcher's pairs
        assert via.score == pytest.approx(weighted, rel=1e-12)
        with pytest.raises(DataError, match="needs the matcher's index pairs"):
            both.score(None, None, fq, fdb)  # it never matches by itself
        pair.setdefault("scores", {})[kind] = (weighted, [-s for s in ref_scores])
    assert pair["scores"]["RANSAC"][0] > 0


def test_official_layout_loads_strictly_and_mismatches_fail(tmp_path):
    ours = PatchNetVLAD({**CONF, "num_clusters": 4, "num_pcs": 8})
    sd = ours.net.state_dict()
    assert {k.split(".")[0] for k in sd} == {"encoder", "pool", "WPCA"}
    assert {"pool.conv.weight", "pool.centroids", "WPCA.0.weight", "WPCA.0.bias"} <= set(sd)
    good = tmp_path / "mapillary_WPCA8.pth.tar"
    torch.save({"epoch": 1, "best_score": 0.5, "state_dict": sd}, good)
    net = PatchNetVLAD({**CONF, "num_clusters": 4, "num_pcs": 8, "random_init": False,
                        "weights": str(good)}).net  # fmt: skip
    assert torch.equal(net.state_dict()["WPCA.0.weight"], sd["WPCA.0.weight"])
    cases = {
        "missing keys (1): pool.centroids": {k: v for k, v in sd.items() if k != "pool.centroids"},
        "unexpected keys (1): pool.extra": {**sd, "pool.extra": torch.zeros(1)},
        "WPCA.0.bias (9,) (expected (8,))": {**sd, "WPCA.0.bias": torch.zeros(9)},
    }
    for i, (msg, bad) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.pth.tar"
        torch.save({"state_dict": bad}, path)
        with pytest.raises(DataError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            load_weights(ours.net, path)
    with pytest.raises(ConfigError, match="huggingface.co/TobiasRobotics"):
        _ = PatchNetVLAD({**CONF, "random_init": False}).net


def test_methods_parse_by_name():
    for scorer in ("pnv-ransac", "pnv-rapid"):
        m = parse_method(f"patchnetvlad+pnv-mnn+{scorer}")
        assert m["extractor"]["type"] == "patchnetvlad" and m["scorer"]["type"] == scorer
        assert m["tag"] == f"pnv-mapillary4096-p2-5-8+pnv-mnn+{scorer}"
    assert parse_method("patchnetvlad-speed+pnv-mnn+pnv-rapid")["extractor"]["patch_sizes"] == [5]
    with pytest.raises(ConfigError, match="num_pcs"):
        parse_method("x+pnv-mnn+pnv-rapid", {"extractors": {"x": {"base": "patchnetvlad",
                                                                  "num_pcs": 0}}})  # fmt: skip
