import numpy as np
import pytest

from vgrerank.datasets.positives import positives_within
from vgrerank.evaluate import chance_recall, depth_sweep, recall_at_n, rerank_predictions


def test_recall_hand_made():
    preds = np.array([[3, 1, 2], [0, 5, 4], [7, 8, 9]])
    pos = [np.array([1]), np.array([4, 0]), np.array([], dtype=int)]
    r = recall_at_n(preds, pos, ns=(1, 2, 3, 100))
    assert r[1] == pytest.approx(1 / 3)  # query 1: first prediction is positive
    assert r[2] == pytest.approx(2 / 3)  # query 0 at rank 2
    assert r[3] == pytest.approx(2 / 3)  # query 2 has no positive and stays a failure
    assert r[100] == pytest.approx(2 / 3)


def test_rerank_ties_keep_retrieval_order():
    retrieval = np.array([[10, 11, 12, 13]])
    scores = np.array([[5, 9, 9, 1]])
    assert rerank_predictions(retrieval, scores).tolist() == [[11, 12, 10, 13]]
    # depth 2: only the first two are re-ordered, the rest keeps retrieval order
    assert rerank_predictions(retrieval, scores, 2).tolist() == [[11, 10, 12, 13]]


def test_depth_sweep_uses_cached_scores():
    retrieval = np.array([[0, 1, 2, 3, 4]])
    scores = np.array([[0, 0, 0, 0, 10]])
    pos = [np.array([4])]
    sweep = depth_sweep(retrieval, scores, pos, depths=(1, 5, 10), ns=(1,))
    assert sweep[1][1] == 0.0 and sweep[5][1] == 1.0 and 10 not in sweep


def test_chance_recall_matches_simulation():
    rng = np.random.default_rng(0)
    num_db = 50
    pos = [rng.choice(num_db, size=s, replace=False) for s in (1, 5, 10, 0)]
    exact = chance_recall(num_db, pos, ns=(1, 5, 20, 100))
    trials = 4000
    sim = {n: 0.0 for n in (1, 5, 20, 100)}
    for _ in range(trials):
        preds = np.stack([rng.permutation(num_db) for _ in pos])
        r = recall_at_n(preds, pos, ns=(1, 5, 20, 100))
        for n in sim:
            sim[n] += r[n] / trials
    for n in sim:
        assert exact[n] == pytest.approx(sim[n], abs=0.02)
    assert exact[100] == pytest.approx(0.75)  # everyone with a positive is found


def test_kdtree_positives_equal_brute_force():
    rng = np.random.default_rng(1)
    db = rng.uniform(0, 500, size=(2000, 2))
    q = rng.uniform(0, 500, size=(300, 2))
    got = positives_within(db, q, 25.0)
    d = np.linalg.norm(q[:, None] - db[None], axis=2)
    for i in range(len(q)):
        assert got[i].tolist() == np.flatnonzero(d[i] <= 25.0).tolist()


def test_heading_aware_positives():
    db = np.array([[0, 0], [1, 0], [2, 0]], dtype=float)
    q = np.array([[0, 1]], dtype=float)
    got = positives_within(db, q, 25, np.array([0, 90, 350]), np.array([10.0]), max_heading_deg=30)
    assert got[0].tolist() == [0, 2]  # 350 deg is 20 deg from 10 deg across north
    with pytest.raises(ValueError, match="heading"):
        positives_within(db, q, 25, np.array([0, np.nan, 0]), np.array([10.0]), 30)
