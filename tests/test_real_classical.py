"""Classical local features on real images from ../shared (skipped when it is absent).

Run with ``pytest -s -m shared tests/test_real_classical.py`` to see the measured numbers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vgrerank.imageio import load_image
from vgrerank.local import registry
from vgrerank.rerank_core import rerank_order, score_candidates

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "real"
GARDENS_POINT = ["p0", "p1", "p2", "p3", "p8", "p9"]

pytestmark = pytest.mark.shared


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    return path


def method(ext: str, matcher: str = "mnn", scorer: str = "magsac"):
    conf = registry.parse_method(f"{ext}+{matcher}+{scorer}")
    return (
        registry.make_extractor(conf["extractor"]),
        registry.make_matcher(conf["matcher"]),
        registry.make_scorer(conf["scorer"]),
    )


def read_homography(path: Path) -> np.ndarray:
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        H = fs.getNode("H13").mat()
    finally:
        fs.release()
    assert H is not None and H.shape == (3, 3), f"{path}: no 3x3 matrix H13"
    return H


def corner_error(H_true: np.ndarray, H_est: np.ndarray, w: int, h: int) -> float:
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [w - 1, h - 1, 1], [0, h - 1, 1]], float)
    a, b = corners @ H_true.T, corners @ H_est.T
    return float(np.linalg.norm(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:], axis=1).mean())


@pytest.mark.parametrize("ext,max_err", [("sift", 4.0), ("rootsift", 4.0), ("orb", 4.0)])
def test_graf_homography(ext, max_err):
    root = need(REAL / "graf_homography")
    img1, img3 = load_image(root / "graf1.png"), load_image(root / "graf3.png")
    H_true = read_homography(root / "H1to3p.xml")
    extractor, matcher, scorer = method(ext)
    f1, f3 = extractor(img1), extractor(img3)
    m = matcher.match(f1, f3)
    s = scorer.score(f1.keypoints[m[:, 0]], f3.keypoints[m[:, 1]], f1, f3)
    assert s.model is not None, f"{ext}: no homography"
    h, w = img1.shape[:2]
    err = corner_error(H_true, s.model, w, h)
    print(
        f"\ngraf1->graf3 {ext}+mnn+magsac-3px: keypoints {len(f1)}/{len(f3)}, "
        f"matches {s.num_matches}, inliers {s.inliers}, mean corner error {err:.2f} px"
    )
    assert s.inliers >= 30
    assert err < max_err


def is_night(image: np.ndarray) -> bool:
    """Gardens Point night frames are grey: zero colour saturation everywhere."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    return int(hsv[..., 1].max()) == 0


def place_triplets():
    root = need(REAL / "place_triplets")
    night, day = [], []  # (place, path, image)
    for place in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for path in sorted((root / place).glob("i*/*")):
            img = load_image(path)
            (night if is_night(img) else day).append((place, path, img))
    return night, day


@pytest.fixture(scope="module")
def triplets():
    return place_triplets()


def test_night_frames_identified(triplets):
    night, day = triplets
    assert sorted(p for p, _, _ in night) == GARDENS_POINT  # exactly one per Gardens Point place
    assert len(day) == 24


@pytest.mark.parametrize("ext", ["sift", "rootsift", "orb"])
def test_gardens_point_night_vs_day(triplets, ext):
    """Each night frame ranks every day/summer/snow frame of all places by inliers."""
    night, day = triplets
    extractor, matcher, scorer = method(ext)
    db = [extractor(img) for _, _, img in day]
    places = np.array([p for p, _, _ in day])
    first, ranks, own_inliers, best_other = 0, [], [], []
    for place, _, img in night:
        q = extractor(img)
        out = score_candidates(q, db, matcher, scorer)
        order = rerank_order(out["inliers"])
        ranked = places[order]
        rank = int(np.flatnonzero(ranked == place)[0]) + 1
        ranks.append(rank)
        first += rank == 1
        own_inliers.append(int(out["inliers"][places == place].max()))
        best_other.append(int(out["inliers"][places != place].max()))
        assert out["inliers"].shape == (len(day),)
        assert (out["inliers"] <= out["num_matches"]).all()
    print(
        f"\nGardens Point night vs {len(day)} day frames, {ext}+mnn+magsac-3px: "
        f"own place first for {first}/{len(night)} night frames (strictly more inliers than "
        f"every other place: {sum(o > b for o, b in zip(own_inliers, best_other, strict=True))}); "
        f"rank of own place {ranks} (ties keep database order); "
        f"own-place inliers {own_inliers}; best other-place inliers {best_other}"
    )
    # classical features largely fail at night: only sanity, no accuracy bound
    assert 0 <= first <= len(night)
    assert all(1 <= r <= len(day) for r in ranks)


def test_day_to_day_sanity(triplets):
    """Control: a Gardens Point day frame finds its other day frame (same place) first."""
    _, day = triplets
    extractor, matcher, scorer = method("sift")
    gp = [(p, img) for p, _, img in day if p in GARDENS_POINT]
    feats = [extractor(img) for _, img in gp]
    places = np.array([p for p, _ in gp])
    hits = 0
    for i, (place, _) in enumerate(gp):
        others = [j for j in range(len(gp)) if j != i]
        out = score_candidates(feats[i], [feats[j] for j in others], matcher, scorer)
        hits += places[others][rerank_order(out["inliers"])[0]] == place
    print(f"\nGardens Point day->day sift+mnn+magsac-3px: own place first {hits}/{len(gp)}")
    assert hits >= len(gp) - 2
