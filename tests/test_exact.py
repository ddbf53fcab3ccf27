"""CPU-independent arithmetic of the default retrieval path: exact k-means and VLAD
(vgrerank.globaldesc.exact) and integer-score search (vgrerank.intsearch)."""

from __future__ import annotations

import numpy as np
import pytest

from vgrerank import intsearch
from vgrerank.errors import DataError
from vgrerank.globaldesc import exact
from vgrerank.globaldesc.vlad import VLAD
from vgrerank.retrieval import search


def _blobs(n_per: int = 200, k: int = 5, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 200, size=(k, d)).astype(np.float64)
    x = np.concatenate([c + rng.integers(-3, 4, size=(n_per, d)) for c in centres])
    return np.clip(x, 0, 255), np.repeat(np.arange(k), n_per), centres


def test_assign_is_the_exact_nearest_centroid_with_ties_to_the_lowest_index():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(500, 32)).astype(np.float64)
    c_fx = rng.integers(0, 256 * exact.FRAC, size=(12, 32)).astype(np.float64)
    c_fx[5] = c_fx[2]  # a duplicated centroid: every tie must go to 2
    got = exact.assign(x, c_fx)
    d2 = ((x[:, None, :] * exact.FRAC - c_fx[None]) ** 2).sum(-1)  # exact integers
    np.testing.assert_array_equal(got, d2.argmin(axis=1))
    assert not (got == 5).any() and (got == 2).any()


def test_kmeans_recovers_separated_clusters_and_is_seeded():
    x, truth, centres = _blobs()
    c = exact.kmeans(x, 5, niter=25, seed=0)
    labels = exact.assign(x, c)
    # every true cluster maps to one word and back (clusters are far apart)
    pairs = {(t, w) for t, w in zip(truth, labels, strict=True)}
    assert len(pairs) == 5 and len({w for _, w in pairs}) == 5
    for t, w in pairs:
        np.testing.assert_allclose(c[w] / exact.FRAC, x[truth == t].mean(axis=0), atol=1 / 16)
    np.testing.assert_array_equal(exact.kmeans(x, 5, 25, seed=0), c)
    # fixed point: integer valued
    assert np.array_equal(c, np.rint(c))


def test_kmeans_restarts_an_emptied_cluster_and_needs_enough_distinct_descriptors():
    x, _, _ = _blobs(n_per=50, k=3)
    c = exact.kmeans(x, 6, niter=10, seed=3)  # more words than clusters: some empty out
    assert len(np.unique(c, axis=0)) == 6
    with pytest.raises(DataError, match="only 3 distinct local descriptors for k=4"):
        exact.kmeans(np.repeat(x[[0, 60, 120]], 10, axis=0), 4, 5, seed=0)


def test_vlad_matches_a_float64_restatement():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(700, 8)).astype(np.float64)
    c_fx = exact.kmeans(x, 4, 10, seed=0)
    got = exact.vlad(x, c_fx, intra_norm=True, power=0.5)
    c = c_fx / exact.FRAC
    lab = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
    r = np.stack([(x[lab == j] - c[j]).sum(0) for j in range(4)])
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    v = np.sign(r) * np.sqrt(np.abs(r))
    v = (v / np.linalg.norm(v)).reshape(-1)
    assert got.dtype == np.float32 and got.shape == (32,)
    np.testing.assert_allclose(got, v, atol=1e-6)
    assert np.array_equal(exact.vlad(x[:0], c_fx, True, 0.5), np.zeros(32, np.float32))


def test_vlad_exact_mode_state_round_trip_and_old_state_error():
    rng = np.random.default_rng(4)
    descs = [rng.random((300, 128)).astype(np.float32) for _ in range(6)]
    conf = {"k": 8, "exact": True, "fit_images": 6, "fit_per_image": 200}
    v = VLAD(conf)
    v.local_descriptors = lambda i: descs[i]
    v.fit_vocabulary(lambda i: i, 6, seed=0)
    state = v.state()
    assert state["centroids_fx"].dtype == np.int32
    np.testing.assert_allclose(state["centroids"] * 16 * 255, state["centroids_fx"], atol=1e-3)
    w = VLAD(conf)
    w.load_state(state)
    np.testing.assert_array_equal(w.raw_vlad(descs[0]), v.raw_vlad(descs[0]))
    with pytest.raises(DataError, match="no 'centroids_fx'.*exact: false"):
        VLAD(conf).load_state({"centroids": state["centroids"]})


def test_overflow_is_refused():
    big = np.full((4, 128), 2.0**45)
    with pytest.raises(DataError, match="too large for exact float64"):
        exact.assign(big, np.ones((2, 128)))


def test_integer_search_equals_float64_brute_force_away_from_ties():
    rng = np.random.default_rng(5)
    db = rng.normal(size=(300, 64))
    qs = rng.normal(size=(40, 64))
    idx, dist = intsearch.topk(db, qs, 20)
    dbn = db / np.linalg.norm(db, axis=1, keepdims=True)
    qn = qs / np.linalg.norm(qs, axis=1, keepdims=True)
    d2 = 2 - 2 * qn @ dbn.T
    ref = np.argsort(d2, axis=1, kind="stable")[:, :20]
    gaps = np.diff(np.sort(d2, axis=1)[:, :21], axis=1).min(axis=1)
    clear = gaps > 1e-5  # rows without near-ties: the rank order is unambiguous
    assert clear.sum() >= 20
    np.testing.assert_array_equal(idx[clear], ref[clear])
    np.testing.assert_allclose(dist, np.take_along_axis(d2, idx, 1), atol=1e-5)
    assert dist.dtype == np.float32 and idx.dtype == np.int64


def test_integer_search_ties_chunks_and_zero_rows():
    rng = np.random.default_rng(6)
    db = rng.normal(size=(50, 8))
    db[[7, 30, 41]] = db[3]  # exact duplicates tie with 3
    db[10] = 0  # a zero row stays zero (distance 2)
    qs = np.concatenate([db[3:4] * 2.0, rng.normal(size=(5, 8))])
    idx, dist = search(db, qs, 50, chunk=2)
    assert list(idx[0, :4]) == [3, 7, 30, 41] and (dist[0, :4] == dist[0, 0]).all()
    for c in (1, 7, 16):
        ci, cd = search(db, qs, 50, db_chunk=c)
        np.testing.assert_array_equal(ci, idx)
        np.testing.assert_array_equal(cd, dist)
    assert dist[0, list(idx[0]).index(10)] == pytest.approx(2.0)


def test_sum_squares_is_fixed_order_and_accurate():
    rng = np.random.default_rng(7)
    for d in (1, 2, 3, 7, 128, 8192, 1000):
        x = rng.normal(size=(5, d))
        np.testing.assert_allclose(intsearch.sum_squares(x), (x * x).sum(axis=1), rtol=1e-12)


DISPATCH_SCRIPT = r"""
import hashlib, json
import numpy as np
from vgrerank import intsearch, simd
from vgrerank.globaldesc.vlad import VLAD

rng = np.random.default_rng(0)
descs = [np.sqrt(rng.random((400, 128))).astype(np.float32) for _ in range(24)]
v = VLAD({"k": 16, "exact": True, "fit_images": 24, "fit_per_image": 300})
v.local_descriptors = lambda i: descs[i]
v.fit_vocabulary(lambda i: i, 24, seed=0)
x = np.stack([v.raw_vlad(d) for d in descs])
idx, dist = intsearch.topk(x[:16], x[16:] + np.float32(1e-3), 16)
h = lambda *a: hashlib.md5(b"".join(np.ascontiguousarray(b).tobytes() for b in a)).hexdigest()
print(json.dumps({"numpy": simd.numpy_targets(), "vocabulary": h(v.state()["centroids_fx"]),
                  "vlad": h(x), "search": h(idx, dist)}))
"""


def _run_dispatch_script(extra: dict) -> dict:
    import json
    import os
    import subprocess
    import sys

    full = {**os.environ, "OMP_NUM_THREADS": "2", **extra}
    out = subprocess.run(
        [sys.executable, "-c", DISPATCH_SCRIPT], env=full, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def native_digests() -> dict:
    return _run_dispatch_script({})


@pytest.mark.parametrize("profile", ["avx2", "baseline"])
def test_exact_path_is_bit_identical_under_restricted_simd(profile, native_digests):
    """Vocabulary, VLADs and search of the same descriptors: the same bytes with numpy, OpenBLAS,
    faiss, OpenCV and torch restricted to AVX2 or to x86-64-v2 (what another CPU computes)."""
    from vgrerank import simd

    env = simd.profile_env(profile)
    if profile == "avx2" and not any(simd.is_avx512(f) for f in simd.numpy_targets()):
        pytest.skip("this CPU has no AVX-512 to turn off")
    if not env["NPY_DISABLE_CPU_FEATURES"]:
        pytest.skip("this CPU has no numpy SIMD level above the baseline to turn off")
    ref, got = native_digests, _run_dispatch_script(env)
    off = env["NPY_DISABLE_CPU_FEATURES"].split()
    assert off and not set(off) & set(got["numpy"])  # the restriction took effect
    for stage in ("vocabulary", "vlad", "search"):
        assert got[stage] == ref[stage], stage
