"""Bootstrap intervals, paired comparisons and the per-run evaluation files built on them."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from vgrerank.report.recall import evaluate_rerank, evaluate_retrieval
from vgrerank.report.tables import claims_markdown, paired_table, query_ranks, recall_markdown
from vgrerank.stats import (
    bootstrap_recall,
    first_hit_ranks,
    holm,
    mcnemar_exact,
    paired_comparison,
    unpaired_difference,
)


def test_first_hit_ranks():
    h = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 0]], bool)
    assert first_hit_ranks(h).tolist() == [1, -1, 0]


def test_bootstrap_interval_covers_and_matches_binomial_width():
    ranks = np.array([0] * 12 + [-1] * 8)  # R@1 = 0.6 on 20 queries
    r = bootstrap_recall(ranks, (1,), seed=[0, 1], num_boot=20000)
    rec, lo, hi = r[1]
    assert rec == 0.6
    # normal approximation: 0.6 +- 1.96 * sqrt(0.24 / 20) = [0.385, 0.815]
    assert lo == pytest.approx(0.40, abs=0.051) and hi == pytest.approx(0.80, abs=0.051)
    assert lo < rec < hi


def test_bootstrap_is_seeded_and_exact():
    ranks = np.random.default_rng(3).integers(-1, 10, 50)
    a = bootstrap_recall(ranks, (1, 5), seed=[7], num_boot=2000)
    b = bootstrap_recall(ranks, (1, 5), seed=[7], num_boot=2000)
    c = bootstrap_recall(ranks, (1, 5), seed=[8], num_boot=2000)
    assert a == b and a != c
    # interval ends are achievable recalls (counts / Q), never interpolated
    for _, lo, hi in a.values():
        assert (lo * 50) == pytest.approx(round(lo * 50)) and (hi * 50) == pytest.approx(
            round(hi * 50)
        )


def test_n_beyond_depth_is_not_reported():
    r = bootstrap_recall(np.array([0, 3, -1]), (1, 5, 100), seed=[0], max_rank=10)
    assert np.isnan(r[100][0]) and r[5][0] == pytest.approx(2 / 3)


def test_mcnemar_matches_binomial_test():
    a = np.array([1] * 10 + [0] * 10, bool)
    b = np.array([1] * 4 + [0] * 6 + [1] * 9 + [0] * 1, bool)  # b only 9, a only 6
    b_only, a_only, p = mcnemar_exact(a, b)
    assert (b_only, a_only) == (9, 6)
    assert p == pytest.approx(binomtest(6, 15, 0.5).pvalue)
    assert mcnemar_exact(a, a)[2] == 1.0


def test_paired_comparison_detects_a_real_difference_and_not_noise():
    a = np.array([0] * 10 + [-1] * 30)  # 25 %
    b = np.array([0] * 30 + [-1] * 10)  # 75 %, right on every query a gets right
    c = paired_comparison(a, b, 1, seed=[0])
    assert c["diff"] == 0.5 and c["diff_lo"] > 0 and c["p_mcnemar"] < 1e-4
    # one discordant query each way: no evidence
    x = np.array([0, -1] + [0] * 18)
    y = np.array([-1, 0] + [0] * 18)
    c = paired_comparison(x, y, 1, seed=[0])
    assert c["diff"] == 0 and c["diff_lo"] < 0 < c["diff_hi"] and c["p_mcnemar"] == 1.0


def test_unpaired_difference():
    day = np.array([0] * 18 + [-1] * 2)
    night = np.array([0] * 4 + [-1] * 16)
    u = unpaired_difference(day, night, 1, seed=[1])
    assert u["diff"] == pytest.approx(-0.7) and u["diff_hi"] < 0


def test_holm():
    adj = holm([0.01, 0.04, 0.03])
    assert adj.tolist() == pytest.approx([0.03, 0.06, 0.06])


@pytest.fixture
def run_files(tmp_path):
    """A split of 30 queries, database of 100; retrieval depth 20, 5 candidates re-ranked."""
    rng = np.random.default_rng(0)
    q, depth = 30, 20
    indices = np.stack([rng.permutation(100)[:depth] for _ in range(q)])
    positives = [np.array([indices[i, (i % 7)]]) for i in range(q)]  # positive at rank i % 7
    names = [f"q{i:02d}.jpg" for i in range(q)]
    base = tmp_path / "results/city/night/recall/g-K5"
    common = dict(dataset="city", split="night", gdesc="g", threshold_m=25.0, num_boot=2000)
    ret = evaluate_retrieval(
        indices,
        positives,
        100,
        base / "retrieval.csv",
        base / "retrieval.queries.csv",
        names,
        k=5,
        ns=(1, 5, 10, 20, 100),
        **common,
    )
    # the method puts the positive first whenever it is among the first 5 candidates
    rows = []
    for i in range(q):
        for j in range(5):
            rows.append({"query": i, "retrieval_rank": j, "score": float(j == i % 7)})
    m = evaluate_rerank(
        indices,
        pd.DataFrame(rows),
        positives,
        base / "m+x+y.csv",
        base / "m+x+y.sweep.csv",
        base / "m+x+y.queries.csv",
        names,
        method="m+x+y",
        ns=(1, 5, 10, 20, 100),
        k_sweep=(1, 5, 10),
        **common,
    )
    return base, ret, m


def test_evaluation_files_are_honest(run_files):
    base, ret, m = run_files
    r = ret.set_index("method")
    # one K for every row, retrieval evaluated to its own depth, nothing beyond it
    assert set(ret.K) == {5} and set(m.K) == {5} and set(ret.depth) == {20}
    assert r.loc["retrieval", "R@1"] == pytest.approx(5 / 30, abs=1e-6)  # queries 0, 7, 14, 21, 28
    assert r.loc["retrieval", "R@10"] == pytest.approx(1.0)
    assert np.isnan(r.loc["retrieval", "R@100"]) and np.isnan(r.loc["chance", "R@100"])
    assert not np.isnan(r.loc["chance", "R@20"])
    # re-ranked: positive in the first 5 -> first; R@N beyond K is the untouched tail
    assert m["R@1"].iloc[0] == pytest.approx(22 / 30, abs=1e-6)
    assert m["R@10"].iloc[0] == pytest.approx(r.loc["retrieval", "R@10"])
    for df in (ret, m):
        for n in (1, 5, 10):
            assert (df[f"R@{n}_lo"] <= df[f"R@{n}"]).all()
            assert (df[f"R@{n}"] <= df[f"R@{n}_hi"]).all()
    sweep = pd.read_csv(base / "m+x+y.sweep.csv")
    assert sweep.K.tolist() == [1, 5]  # depths beyond the re-ranked 5 are not claimed
    qr = pd.read_csv(base / "m+x+y.queries.csv")
    assert list(qr.columns) == ["query_name", "m+x+y"] and len(qr) == 30


def test_tables_from_run_files(run_files):
    base, ret, m = run_files
    ranks = query_ranks(sorted(base.glob("*.queries.csv")))
    assert set(ranks) == {
        ("city", "night", "g", 5, "retrieval"),
        ("city", "night", "g", 5, "m+x+y"),
    }
    paired = paired_table(ranks, num_boot=2000)
    row = paired.iloc[0]
    assert (row.a, row.b) == ("retrieval", "m+x+y")
    assert row["diff"] == pytest.approx(17 / 30) and row.significant and row.b_only == 17
    md = recall_markdown(pd.concat([ret, m]), ranks)
    assert "top-5 re-ranked, retrieval depth 20" in md
    assert "re-rank ceiling R@5 73.3" in md and "R@100" not in md and "†" in md
    assert "16.7 [" in md  # retrieval R@1 with its interval
    claims = claims_markdown(ranks, paired, {"m+x+y": {"extractor": {"type": "sift"}}})
    assert "best re-ranking m+x+y" in claims and "**significant**" in claims


def test_all_same_outcome_gets_the_exact_binomial_bound():
    none = bootstrap_recall(np.full(20, -1), (1,), seed=[0])[1]
    assert none[0] == 0 and none[1] == 0 and none[2] == pytest.approx(0.1684, abs=1e-4)
    every = bootstrap_recall(np.zeros(20, int), (1,), seed=[0])[1]
    assert every[0] == 1 and every[2] == 1 and every[1] == pytest.approx(1 - 0.1684, abs=1e-4)
