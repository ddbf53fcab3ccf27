"""Retrieval at scale: database-chunked exact search (identical to unchunked, ties included),
IVF-PQ recall against exact on structured descriptors, the faiss GPU path and its CPU fallback,
option errors."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest

from vgrerank import retrieval
from vgrerank._faiss import gpu_count, import_faiss
from vgrerank.errors import ConfigError
from vgrerank.io.global_h5 import write_global
from vgrerank.retrieval import (
    _db_bounds,
    merge_topk,
    read_retrieval,
    retrieve,
    search,
    search_exact_chunked,
)

faiss = import_faiss()


def _structured(n=3000, q=40, d=64, clusters=30, rank=8, seed=0, dups=True):
    """Clustered, low-rank descriptors; queries are noisy copies of database rows; with
    ``dups`` some database rows are exact copies of others (ties across chunks)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    basis = rng.standard_normal((clusters, rank, d)).astype(np.float32) / np.sqrt(rank)
    lab = rng.integers(0, clusters, n)
    z = rng.standard_normal((n, rank)).astype(np.float32)
    db = centres[lab] + np.einsum("nr,nrd->nd", z, basis[lab]) * 0.6
    db += 0.05 * rng.standard_normal((n, d)).astype(np.float32)
    if dups:
        src = rng.choice(n, n // 10, replace=False)
        dst = rng.choice(n, n // 10, replace=False)
        db[dst] = db[src]
    src = rng.choice(n, q, replace=False)
    qs = db[src] + 0.15 * rng.standard_normal((q, d)).astype(np.float32)
    if dups:
        qs[:3] = db[src[:3]]  # a query equal to database rows: distance 0, tied with copies
    return db.astype(np.float32), qs.astype(np.float32)


@pytest.fixture
def one_thread():
    """faiss on one thread for the k-means of IVF-PQ: OpenMP barriers on a loaded 2-core
    machine make training 10-20x slower (results do not depend on it)."""
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(old)


@pytest.fixture
def small_blas_block(monkeypatch):
    """faiss's BLAS database block of 16 rows (restored after), so small chunks exercise the
    merge; the unchunked reference uses the same setting."""
    old = faiss.cvar.distance_compute_blas_database_bs
    faiss.cvar.distance_compute_blas_database_bs = 16
    yield 16
    faiss.cvar.distance_compute_blas_database_bs = old


@pytest.mark.parametrize(
    ("n", "q", "k", "db_chunk", "blas_threshold"),
    [
        (1000, 37, 10, 40, None),  # chunk 40 -> 48 rows, not dividing N
        (1000, 37, 100, 40, None),  # K > chunk
        (1000, 37, 100, 40, 0),  # faiss BLAS kernel for every call
        (50, 5, 80, 16, None),  # K clamped to N, with a warning
        (997, 300, 20, 1000, 0),  # a single chunk
    ],
)
def test_chunked_exact_equals_unchunked(small_blas_block, n, q, k, db_chunk, blas_threshold):
    db, qs = _structured(n=n, q=q)
    old = faiss.cvar.distance_compute_blas_threshold
    if blas_threshold is not None:
        faiss.cvar.distance_compute_blas_threshold = blas_threshold
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_i, ref_d = search(db, qs, k, chunk=16, exact=False)
            int_i, int_d = search(db, qs, k, chunk=16)
        if k > n:
            with pytest.warns(UserWarning, match=f"database size {n}"):
                idx, dist = search(db, qs, k, chunk=16, db_chunk=db_chunk, exact=False)
            with pytest.warns(UserWarning, match=f"database size {n}"):
                int_ci, int_cd = search(db, qs, k, chunk=16, db_chunk=db_chunk)
        else:
            idx, dist = search(db, qs, k, chunk=16, db_chunk=db_chunk, exact=False)
            int_ci, int_cd = search(db, qs, k, chunk=16, db_chunk=db_chunk)
    finally:
        faiss.cvar.distance_compute_blas_threshold = old
    assert idx.shape == (q, min(k, n)) and idx.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(dist, ref_d)
    _assert_ties_by_index(idx, dist)
    # the integer-score search (the default): chunked equals unchunked, ties ordered by index
    np.testing.assert_array_equal(int_ci, int_i)
    np.testing.assert_array_equal(int_cd, int_d)
    _assert_ties_by_index(int_i, int_d)


def _assert_ties_by_index(idx, dist):
    """The duplicated rows really produce ties, and they are ordered by index."""
    tied = (np.diff(dist, axis=1) == 0) & (np.diff(idx, axis=1) != 0)
    assert tied.any()
    rows, cols = np.nonzero(tied)
    assert np.all(idx[rows, cols] < idx[rows, cols + 1])


def test_chunked_exact_with_few_queries_matches_database_parallel_kernel():
    """With fewer queries than threads faiss switches kernel by database size (>= 10000 rows):
    chunks are kept on the same side so distances stay bitwise equal."""
    db, qs = _structured(n=12500, q=1, d=32, dups=False)
    ref_i, ref_d = search(db, qs, 50, exact=False)
    idx, dist = search(db, qs, 50, db_chunk=3000, exact=False)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(dist, ref_d)


def test_db_bounds_cover_the_database(small_blas_block):
    for n, c, mq in [(1000, 40, 37), (1000, 1, 37), (50, 16, 5), (48, 48, 5)]:
        b = _db_bounds(n, c, mq)
        assert b[0][0] == 0 and b[-1][1] == n
        assert all(b[i][1] == b[i + 1][0] for i in range(len(b) - 1))
        assert all((e - s) % 16 == 0 for s, e in b[:-1])
    assert _db_bounds(1000, 40, 37)[0] == (0, 48)


def test_merge_topk_orders_ties_by_index():
    da = np.array([[0.1, 0.5, 0.5]], np.float32)
    ia = np.array([[7, 2, 9]], np.int64)
    db_ = np.array([[0.5, 0.05]], np.float32)
    ib = np.array([[1, 30]], np.int64)
    d, i = merge_topk(da, ia, db_, ib, 4)
    np.testing.assert_array_equal(i, [[30, 7, 1, 2]])
    np.testing.assert_array_equal(d, np.array([[0.05, 0.1, 0.5, 0.5]], np.float32))


def test_chunked_retrieve_from_hdf5_equals_unchunked(tmp_path):
    db, qs = _structured(n=2500, q=30, d=32)
    conf = {"type": "vlad", "tag": "g"}
    write_global(tmp_path / "db.h5", [f"db/{i:05d}.jpg" for i in range(len(db))], db, conf)
    write_global(
        tmp_path / "q.h5", [f"q/{i}.jpg" for i in range(len(qs))], qs, conf, role="queries"
    )
    retrieve(tmp_path / "db.h5", tmp_path / "q.h5", tmp_path / "a.h5", k=25)
    retrieve(tmp_path / "db.h5", tmp_path / "q.h5", tmp_path / "b.h5", k=25, db_chunk=1000)
    a, b = read_retrieval(tmp_path / "a.h5"), read_retrieval(tmp_path / "b.h5")
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)
    assert b.attrs["index_opts"] == '{"db_chunk": 1000}'
    # an h5py dataset is streamed as is
    with h5py.File(tmp_path / "db.h5", "r") as f:
        i2, d2 = search_exact_chunked(f["descriptors"], qs, 25, db_chunk=700)
        i3, d3 = search(f["descriptors"], qs, 25, db_chunk=700)
    np.testing.assert_array_equal(i3, a.indices)
    np.testing.assert_array_equal(d3, a.distances)
    f_i, f_d = search(db, qs, 25, exact=False)
    np.testing.assert_array_equal(i2, f_i)
    np.testing.assert_array_equal(d2, f_d)


def _overlap(a, b):
    return float(np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(a, b, strict=True)]))


def test_ivfpq_recall_against_exact(one_thread):
    db, qs = _structured(n=6000, q=60, d=64, clusters=40, dups=False)
    exact_i, exact_d = search(db, qs, 20)
    opts = {"nlist": 32, "m": 8, "nbits": 6, "nprobe": 8, "train_size": 3000, "db_chunk": 1000}
    pq_i, pq_d = search(db, qs, 20, index="ivfpq", **opts)
    assert pq_i.shape == (60, 20) and pq_i.dtype == np.int64
    plain = _overlap(pq_i, exact_i)
    ref_i, ref_d = search(db, qs, 20, index="ivfpq", refine=True, refine_k_factor=8, **opts)
    refined = _overlap(ref_i, exact_i)
    assert refined >= 0.95, refined
    assert plain >= 0.5, plain
    assert refined > plain
    # refined distances are exact: equal to the flat ones where the neighbour agrees
    same = ref_i == exact_i
    assert same.mean() > 0.9
    np.testing.assert_allclose(ref_d[same], exact_d[same], atol=1e-5)
    assert np.all(np.diff(ref_d, axis=1) >= 0)
    # seeded: the same options give the same result
    again_i, _ = search(db, qs, 20, index="ivfpq", **opts)
    np.testing.assert_array_equal(again_i, pq_i)
    # with an OPQ rotation (small, OPQ training is slow)
    db, qs = _structured(n=1500, q=20, d=16, clusters=10, dups=False)
    exact_i, _ = search(db, qs, 5)
    opq_i, _ = search(db, qs, 5, index="ivfpq", nlist=8, m=4, nbits=4, opq=True, nprobe=8)
    assert _overlap(opq_i, exact_i) >= 0.5


def test_gpu_fallback_on_cpu(monkeypatch, small_blas_block, one_thread):
    db, qs = _structured(n=800, q=10, d=32)
    ref_i, ref_d = search(db, qs, 5)
    assert gpu_count(faiss) == 0 or faiss.get_num_gpus() > 0
    # no GPU: device=cuda warns and runs on the CPU
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0, raising=False)
    with pytest.warns(UserWarning, match="device=cuda.*CPU"):
        i, d = search(db, qs, 5, device="cuda")
    np.testing.assert_array_equal(i, ref_i)
    # a GPU reported: the index goes through index_cpu_to_all_gpus (faked: returns it as is)
    moved = []

    def fake_to_gpus(index, *a, **kw):
        moved.append(type(index).__name__)
        return index

    ref_i, ref_d = search(db, qs, 5, exact=False)  # on a GPU, flat search is faiss's
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", fake_to_gpus, raising=False)
    i, d = search(db, qs, 5)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
    assert moved == ["IndexFlatL2"]
    i, d = search(db, qs, 5, db_chunk=300)  # chunked (304, 304, 192 rows): every chunk moved
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(d, ref_d)
    assert len(moved) == 4
    search(db, qs, 5, index="ivfpq", nlist=8, m=8, nbits=4, train_size=800)
    assert moved[-1] == "IndexIVFPQ"
    n_before = len(moved)
    search(db, qs, 5, device="cpu")  # device=cpu never moves
    search(db, qs, 5, index="hnsw")  # no GPU HNSW
    assert len(moved) == n_before

    # the move fails (e.g. an index type without GPU support): warning, CPU result
    def broken(index, *a, **kw):
        raise RuntimeError("no GPU implementation")

    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", broken)
    with pytest.warns(UserWarning, match="could not move.*no GPU implementation"):
        i, d = search(db, qs, 5)
    np.testing.assert_array_equal(i, ref_i)
    # faiss-cpu without get_num_gpus at all
    monkeypatch.delattr(faiss, "get_num_gpus")
    assert gpu_count(faiss) == 0
    assert retrieval.to_device("idx", "auto") == "idx"


@pytest.mark.parametrize(
    ("index", "opts", "key"),
    [
        ("flat", {"nprobes": 4}, "retrieval.nprobes"),
        ("flat", {"db_chunk": 0}, "retrieval.db_chunk"),
        ("flat", {"db_chunk": 2.5}, "retrieval.db_chunk"),
        ("flat", {"device": "tpu"}, "retrieval.device"),
        ("ivfpq", {"nbits": 0}, "retrieval.nbits"),
        ("ivfpq", {"nbits": 20}, "retrieval.nbits"),
        ("ivfpq", {"m": 7}, "retrieval.m"),
        ("ivfpq", {"refine": "yes"}, "retrieval.refine"),
        ("ivfpq", {"refine_k_factor": 0.5}, "retrieval.refine_k_factor"),
        ("ivfpq", {"train_size": 100}, "retrieval.train_size"),
        ("ivfpq2", {}, "retrieval.index"),
    ],
)
def test_bad_options_name_the_key(index, opts, key):
    db, qs = _structured(n=500, q=4, d=32, dups=False)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        search(db, qs, 5, index=index, **opts)
