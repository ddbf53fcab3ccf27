"""Global retrieval: faiss search vs brute force, approximate indices, HDF5, candidate union."""

from __future__ import annotations

import numpy as np
import pytest

from vgrerank.errors import ConfigError, DataError
from vgrerank.io.global_h5 import write_global
from vgrerank.retrieval import candidate_union, read_retrieval, retrieve, search


def _data(n=2000, q=50, d=64, seed=0):
    rng = np.random.default_rng(seed)
    db = rng.standard_normal((n, d)).astype(np.float32)
    # queries near some database rows so neighbours are well separated
    qs = db[rng.choice(n, q, replace=False)] + 0.3 * rng.standard_normal((q, d)).astype(np.float32)
    return db, qs


def _brute(db, qs, k):
    dbn = db / np.linalg.norm(db, axis=1, keepdims=True)
    qn = qs / np.linalg.norm(qs, axis=1, keepdims=True)
    d2 = ((qn[:, None, :] - dbn[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(d2, order, axis=1)


def test_flat_equals_brute_force():
    db, qs = _data()
    idx, dist = search(db, qs, 10, chunk=16)  # several chunks
    ref_i, ref_d = _brute(db, qs, 10)
    assert idx.shape == (50, 10) and idx.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, atol=1e-4)
    assert np.all(np.diff(dist, axis=1) >= -1e-6)


@pytest.mark.parametrize(
    ("index", "opts"), [("ivf", {"nlist": 16, "nprobe": 8}), ("hnsw", {"M": 16})]
)
def test_approximate_indices_mostly_agree(index, opts):
    db, qs = _data()
    exact, _ = search(db, qs, 10)
    approx, _ = search(db, qs, 10, index=index, **opts)
    assert approx.shape == exact.shape
    overlap = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert overlap >= 0.8, overlap
    assert np.mean(approx[:, 0] == exact[:, 0]) >= 0.9


def test_k_clamped_and_errors():
    db, qs = _data(n=5, q=3, d=8)
    with pytest.warns(UserWarning, match="exceeds the database size 5"):
        idx, dist = search(db, qs, 10)
    assert idx.shape == (3, 5)
    assert sorted(idx[0]) == [0, 1, 2, 3, 4]
    with pytest.raises(DataError, match="dim"):
        search(db, qs[:, :4], 2)
    with pytest.raises(ConfigError, match="index"):
        search(db, qs, 2, index="lsh")


def test_retrieve_round_trip_and_mismatch(tmp_path):
    db, qs = _data(n=300, q=20, d=32)
    dbn = [f"db/{i:04d}.jpg" for i in range(300)]
    qn = [f"q/{i:03d}.jpg" for i in range(20)]
    conf = {"type": "vlad", "tag": "vlad-x"}
    write_global(tmp_path / "db.h5", dbn, db, conf, {"centroids": np.zeros((2, 2), np.float32)})
    write_global(tmp_path / "q.h5", qn, qs, conf, role="queries")
    retrieve(tmp_path / "db.h5", tmp_path / "q.h5", tmp_path / "r.h5", k=7)
    r = read_retrieval(tmp_path / "r.h5")
    ref_i, _ = _brute(db, qs, 7)
    np.testing.assert_array_equal(r.indices, ref_i)
    assert r.query_names == qn and r.db_names == dbn
    assert r.attrs["k"] == 7 and r.attrs["index"] == "flat" and r.attrs["gdesc_tag"] == "vlad-x"
    assert r.attrs["database_file"].endswith("db.h5") and r.attrs["queries_file"].endswith("q.h5")
    assert r.candidates(qn[0]) == [dbn[j] for j in ref_i[0]]
    # mismatched dims: both files and both dims in the message
    write_global(tmp_path / "q16.h5", qn, qs[:, :16], conf, role="queries")
    with pytest.raises(DataError, match=r"db\.h5.*D=32.*q16\.h5.*D=16"):
        retrieve(tmp_path / "db.h5", tmp_path / "q16.h5", tmp_path / "r2.h5", k=7)
    assert not (tmp_path / "r2.h5").exists()
    write_global(tmp_path / "qt.h5", qn, qs, {"type": "vlad", "tag": "other"}, role="queries")
    with pytest.raises(DataError, match="tags differ"):
        retrieve(tmp_path / "db.h5", tmp_path / "qt.h5", tmp_path / "r3.h5", k=7)
    with pytest.raises(DataError, match="missing.h5"):
        read_retrieval(tmp_path / "missing.h5")


def test_candidate_union():
    idx = np.array([[5, 2, 9], [2, 7, -1], [9, 5, 0]])
    u = candidate_union(idx)
    np.testing.assert_array_equal(u, [0, 2, 5, 7, 9])
    assert u.dtype == np.int64
    assert candidate_union(np.zeros((0, 3), np.int64)).size == 0
