"""LoFTR split into a cached extractor and a matcher: equivalence with kornia's own
``kornia.feature.LoFTR`` on the same (random) weights, checkpoint loading, presets, errors.

The official checkpoints (zju3dv/LoFTR, Apache-2.0) are not available offline: the weights here
are kornia's random initialisation, saved in the official layout (``{'state_dict':
{'matcher.<key>': ...}}``). With random weights the coarse confidences are low, so the matchers
run with ``match_threshold`` 0 (every mutual nearest neighbour)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vgrerank.errors import ConfigError, DataError
from vgrerank.local.base import PointMatches
from vgrerank.local.registry import make_extractor, make_matcher, make_scorer, parse_method


@pytest.fixture(scope="module")
def ref_and_ckpt(tmp_path_factory):
    from kornia.feature import LoFTR

    torch.manual_seed(0)
    ref = LoFTR(pretrained=None).eval()
    ref.coarse_matching.thr = 0.0
    path = tmp_path_factory.mktemp("loftr") / "loftr_outdoor.ckpt"
    torch.save({"state_dict": {f"matcher.{k}": v for k, v in ref.state_dict().items()}}, path)
    return ref, path


@pytest.fixture(scope="module")
def matcher(ref_and_ckpt):
    _, path = ref_and_ckpt
    return make_matcher(
        {"type": "loftr", "weights": str(path), "device": "cpu", "match_threshold": 0.0}
    )


@pytest.fixture(scope="module")
def extractors(ref_and_ckpt):
    _, path = ref_and_ckpt
    return {
        cache: make_extractor(
            {"type": "loftr", "cache": cache, "weights": str(path), "device": "cpu"}
        )
        for cache in ("image", "backbone")
    }


def _drawn(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h + 40, w + 40, 3), 110, np.uint8)
    for _ in range(80):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, [w + 40, h + 40]))
        cv2.circle(img, (x, y), int(rng.integers(3, 18)), c, -1)
    return img


def _pair(kind: str):
    """Real: graffiti 1 and 3 (../shared), 128x96 crops; generated: a drawn scene and a crop
    of it shifted by (16, 8) px, 164x124 (not multiples of 8: resized to 160x120)."""
    if kind == "real":
        from realdata import REAL, need

        root = need(REAL / "graf_homography")
        from vgrerank.imageio import load_image

        a, b = load_image(root / "graf1.png"), load_image(root / "graf3.png")
        return np.ascontiguousarray(a[220:316, 320:448]), np.ascontiguousarray(b[220:316, 320:448])
    img = _drawn(124, 164)
    return np.ascontiguousarray(img[:124, :164]), np.ascontiguousarray(img[8:132, 16:180])


def _kornia(ref, img: np.ndarray, resize_max=640):
    """kornia's matches on the grayscale image the extractor makes (work_gray), mapped back to
    the original pixels (kornia's frame: -0.5) as the matcher documents."""
    from vgrerank.local.extractors.loftr import work_gray

    g = work_gray(img, resize_max)
    scale = np.array([img.shape[1] / g.shape[1], img.shape[0] / g.shape[0]])
    return torch.from_numpy(g).float().div(255)[None, None], scale


@pytest.mark.parametrize("kind", ["real", "generated"])
def test_matches_equal_kornia(ref_and_ckpt, matcher, extractors, kind):
    ref, _ = ref_and_ckpt
    a, b = _pair(kind)
    (ga, sa), (gb, sb) = _kornia(ref, a), _kornia(ref, b)
    with torch.inference_mode():
        out = ref({"image0": ga, "image1": gb})
    k0 = out["keypoints0"].double().numpy() * sa - 0.5
    k1 = out["keypoints1"].double().numpy() * sb - 0.5
    conf = out["confidence"].numpy()
    assert len(conf) >= 3
    for cache, ext in extractors.items():
        fa, fb = ext(a), ext(b)
        hc, wc = ga.shape[-2] // 8, ga.shape[-1] // 8
        assert len(fa) == hc * wc and fa.size == (a.shape[1], a.shape[0])
        assert fa.descriptors.shape[1] == (64 if cache == "image" else 2304)
        pm = matcher.match(fa, fb)
        assert isinstance(pm, PointMatches)
        # the same matches up to float32 rounding, which the CPU's SIMD level decides: a match
        # whose confidence sits at the threshold may flip, and sub-pixel positions may differ
        # in the last bits (1.05e-4 px under x86-64-v2 dispatch), so pair matches by their
        # image-0 cell point and allow one match (or 1 %) of either side to be unpaired
        dist = np.abs(pm.kpts0[:, None, :] - k0[None, :, :]).max(axis=2)
        mine, theirs = np.nonzero(dist < 1e-2)
        assert len(set(mine)) == len(mine) and len(set(theirs)) == len(theirs)
        n = max(len(pm), len(conf))
        assert len(mine) >= n - max(1, n // 100), (len(mine), len(pm), len(conf))
        d0 = np.abs(pm.kpts0[mine] - k0[theirs]).max()
        d1 = np.abs(pm.kpts1[mine] - k1[theirs]).max()
        dc = np.abs(pm.confidence[mine] - conf[theirs]).max()
        print(
            f"\n{kind} {cache}: {len(pm)} matches ({len(conf)} kornia, {len(mine)} paired), "
            f"max diff kpts0 {d0:.2e} kpts1 {d1:.2e} px, confidence {dc:.2e}"
        )
        assert d0 < 1e-2 and d1 < 1e-2 and dc < 1e-4
        # image 0's points are cell points of the cached grid
        assert np.isin(pm.kpts0[:, 0], fa.keypoints[:, 0]).all()


def test_row_layout_and_cell_points():
    from vgrerank.local.extractors.loftr import from_rows, grid_keypoints, to_rows
    from vgrerank.local.matchers.loftr import grid_shape

    fmap = torch.randn(5, 12, 20)
    rows = to_rows(fmap, 4)
    assert rows.shape == (15, 80)
    # row 1 * 5 + 2 = cell (y 1, x 2); its value (dy 3, dx 1, channel 4) is fine pixel (7, 9)
    assert rows[7, (3 * 4 + 1) * 5 + 4] == fmap[4, 7, 9]
    assert torch.equal(from_rows(rows, 3, 5, 4)[0], fmap)
    k = grid_keypoints(3, 5, (80, 48))  # work image 40x24 -> scale 2
    assert np.allclose(k[7], [2 * 16 - 0.5, 2 * 8 - 0.5])
    from vgrerank.local.base import Features

    assert grid_shape(Features(k, np.zeros((15, 64)), np.ones(15), (80, 48))) == (3, 5)
    with pytest.raises(ConfigError, match="cell grid"):
        grid_shape(Features(k, np.zeros((15, 128)), np.ones(15), (80, 48)))


def test_count_and_magsac_score_point_matches(matcher, extractors):
    from vgrerank.rerank_core import score_candidates

    img = _drawn(64, 80, seed=1)  # small: 80x64 and its crop shifted by (16, 8) px
    a, b = np.ascontiguousarray(img[:64, :80]), np.ascontiguousarray(img[8:72, 16:96])
    fa, fb = extractors["image"](a), extractors["image"](b)
    # match_many (the query's features computed once) gives match's matches
    (pm,) = matcher.match_many(fa, [fb])
    assert np.array_equal(pm.kpts1, matcher.match(fa, fb).kpts1) and len(pm) > 0
    res = score_candidates(fa, [fb], matcher, make_scorer({"type": "count"}))
    assert res["num_matches"][0] == res["score"][0] == len(pm)


def test_official_layout_loads_strictly_and_bad_keys_fail(ref_and_ckpt, tmp_path):
    ref, path = ref_and_ckpt
    from vgrerank.local.extractors.loftr import build_loftr

    sd = {k: v.clone() for k, v in ref.state_dict().items()}  # without 'matcher.', bare
    torch.save(sd, tmp_path / "bare.ckpt")
    net = build_loftr("outdoor", str(tmp_path / "bare.ckpt"))
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in net.state_dict().items())
    del sd["loftr_fine.layers.1.mlp.2.weight"]
    sd["loftr_fine.layers.2.mlp.2.weight"] = torch.zeros(3)
    sd["fine_preprocess.down_proj.weight"] = torch.zeros(128, 128)
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {f"matcher.{k}": v for k, v in sd.items()}}, bad)
    with pytest.raises(DataError) as e:
        make_matcher({"type": "loftr", "weights": str(bad), "device": "cpu"})
    msg = str(e.value)
    assert str(bad) in msg and "1 missing key(s): loftr_fine.layers.1.mlp.2.weight" in msg
    assert "1 unexpected key(s): loftr_fine.layers.2.mlp.2.weight" in msg
    assert "fine_preprocess.down_proj.weight (128, 128) (expected (128, 256))" in msg


def test_presets_and_absent_weights(tmp_path, monkeypatch):
    m = parse_method("loftr+loftr+count")
    assert m["tag"] == "loftr-r640+loftr-outdoor+count" and m["extractor"]["cache"] == "backbone"
    m2 = parse_method("loftr-image+loftr+magsac")
    assert m2["extractor"]["cache"] == "image" and m2["scorer"]["method"] == "magsac"
    with pytest.raises(ConfigError, match="cache"):
        parse_method("lf+loftr+count", {"extractors": {"lf": {"base": "loftr", "cache": "x"}}})
    monkeypatch.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
    url = "https://huggingface.co/kornia/loftr/resolve/main/loftr_outdoor.ckpt"
    for make, conf in ((make_matcher, m["matcher"]), (make_extractor, m["extractor"])):
        with pytest.raises(ConfigError, match="loftr_outdoor.ckpt") as e:
            make(conf)
        assert url in str(e.value) and "Apache-2.0" in str(e.value)
    # the image cache needs no weights: the matcher runs the whole network
    assert len(make_extractor({**m2["extractor"], "device": "cpu"})(_drawn(40, 48)[:40, :48])) == 30
    monkeypatch.setenv("VGRERANK_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path / "loftr" / "loftr_outdoor.ckpt")):
        make_matcher(m["matcher"])
