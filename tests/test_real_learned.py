"""Learned local features on real images from ../shared (skipped when it is absent).

* graf1 -> graf3 (Oxford graffiti, true homography): mean corner error of the MAGSAC/RANSAC
  homography per method, with real weights (ALIKE/R2D2 from ../shared/weights).
* place_triplets: each grey Gardens Point night frame against the 24 day frames of the 10 places,
  ranked by homography inliers; its own place must rank first (ALIKED+LightGlue by default;
  set VGRERANK_REAL_PLACE_METHODS=all for every method, slow on CPU).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from vgrerank.imageio import load_image
from vgrerank.local.registry import make_extractor, make_matcher

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "real"
WEIGHTS = SHARED / "weights"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(not REAL.is_dir(), reason="../shared real data not available"),
]

# name: (extractor conf, matcher conf, cv2 method); thresholds 3 px
METHODS = {
    "aliked+lightglue": (
        {"type": "aliked", "model": "aliked-n16", "max_keypoints": 2048},
        "lightglue",
        "magsac",
    ),
    "disk+lightglue": ({"type": "disk", "max_keypoints": 2048}, "lightglue", "magsac"),
    "xfeat+lighterglue": ({"type": "xfeat", "max_keypoints": 4096}, "lightglue", "magsac"),
    "alike+mnn": (
        {
            "type": "alike",
            "model": "alike-t",
            "max_keypoints": 2048,
            "weights": str(WEIGHTS / "alike/alike-t.pth"),
        },
        "mnn",
        "magsac",
    ),
    "r2d2+mnn": (
        {
            "type": "r2d2",
            "model": "r2d2_WASF_N16",
            "max_keypoints": 5000,
            "weights": str(WEIGHTS / "r2d2/r2d2_WASF_N16.pt"),
        },
        "mnn",
        "ransac",
    ),
}
# upper bounds on the graf corner error (px); measured: 3.4, 3.8, 1.6, 3.0, 1.6
GRAF_MAX_ERR = {
    "aliked+lightglue": 6.0,
    "disk+lightglue": 6.0,
    "xfeat+lighterglue": 4.0,
    "alike+mnn": 6.0,
    "r2d2+mnn": 4.0,
}


@cache
def _models(name: str, resize_max: int | None = None, max_keypoints: int | None = None):
    ext, matcher, _ = METHODS[name]
    ext = {**ext, "resize_max": resize_max, "device": "cpu"}
    if max_keypoints:
        ext["max_keypoints"] = max_keypoints
    e = make_extractor(ext)
    if matcher == "lightglue":
        m = make_matcher({"type": "lightglue", "features": ext["type"], "device": "cpu"})
    else:
        m = make_matcher({"type": "mnn", "ratio": None, "device": "cpu"})
    return e, m


def _homography(p0, p1, method: str):
    if len(p0) < 4:
        return None, 0
    cv2.setRNGSeed(0)
    flag = cv2.USAC_MAGSAC if method == "magsac" else cv2.RANSAC
    H, mask = cv2.findHomography(p0, p1, flag, 3.0, maxIters=10000, confidence=0.999)
    return H, 0 if mask is None else int(mask.sum())


def _weights_present(name: str) -> bool:
    w = METHODS[name][0].get("weights")
    return w is None or Path(w).is_file()


@pytest.mark.parametrize("name", list(METHODS))
def test_graf_corner_error(name):
    if not _weights_present(name):
        pytest.skip(f"{name}: weights not in ../shared")
    g = REAL / "graf_homography"
    im1, im3 = load_image(g / "graf1.png"), load_image(g / "graf3.png")
    fs = cv2.FileStorage(str(g / "H1to3p.xml"), cv2.FILE_STORAGE_READ)
    H_true = fs.getFirstTopLevelNode().mat()
    fs.release()
    ext, matcher = _models(name)
    f1, f3 = ext(im1), ext(im3)
    m = matcher.match(f1, f3)
    H, inl = _homography(f1.keypoints[m[:, 0]], f3.keypoints[m[:, 1]], METHODS[name][2])
    assert H is not None
    h, w = im1.shape[:2]
    c = np.float64([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]).reshape(-1, 1, 2)
    err = float(
        np.linalg.norm(
            cv2.perspectiveTransform(c, H) - cv2.perspectiveTransform(c, H_true), axis=2
        ).mean()
    )
    print(
        f"graf {name}: {len(f1)}/{len(f3)} kpts, {len(m)} matches, {inl} inliers, corner error {err:.2f} px"
    )
    assert inl >= 100
    assert err < GRAF_MAX_ERR[name]


def _place_images():
    root = REAL / "place_triplets"
    day, night = [], []
    for place in sorted(root.glob("p*")):
        for sub in sorted(place.glob("i*")):
            for f in sorted(sub.iterdir()):
                img = load_image(f)
                sat = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1]
                (night if sat.max() == 0 else day).append((place.name, f, img))
    return day, night


def _place_methods():
    env = os.environ.get("VGRERANK_REAL_PLACE_METHODS", "aliked+lightglue")
    return list(METHODS) if env == "all" else env.split(",")


@pytest.mark.parametrize("name", _place_methods())
def test_night_query_finds_own_place(name):
    if not _weights_present(name):
        pytest.skip(f"{name}: weights not in ../shared")
    day, night = _place_images()
    assert len(day) == 24 and len(night) == 6
    # 144 pairs: smaller images and 1024 keypoints keep it to minutes on 2 CPU cores
    ext, matcher = _models(name, resize_max=512, max_keypoints=1024)
    day_feats = [ext(img) for _, _, img in day]  # cached: each image extracted once
    correct = 0
    for place, f, img in night:
        q = ext(img)
        inliers = []
        for fd, m in zip(day_feats, matcher.match_many(q, day_feats), strict=True):
            inliers.append(
                _homography(q.keypoints[m[:, 0]], fd.keypoints[m[:, 1]], METHODS[name][2])[1]
            )
        best = int(np.argmax(inliers))
        own = max(n for n, d in zip(inliers, day, strict=True) if d[0] == place)
        ok = day[best][0] == place
        correct += ok
        print(
            f"{name} night {place}/{f.name}: best {day[best][0]} ({inliers[best]} inl), "
            f"own {own} inl, {'OK' if ok else 'WRONG'}"
        )
    print(f"{name}: own place first for {correct} of {len(night)} night frames")
    if name == "aliked+lightglue":
        assert correct >= 4
