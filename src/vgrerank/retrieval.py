"""Global retrieval: k nearest database descriptors of every query (faiss).

Metric: squared Euclidean distance between L2-normalised descriptors (``IndexFlatL2`` and
friends on normalised copies), so ``distance = 2 - 2 * cosine`` and the ranking equals the
inner-product / cosine ranking; rows are sorted by ascending distance. Index types:

* ``"flat"`` (default): exact search. With ``exact`` (default true) on the CPU, integer scores
  (:mod:`vgrerank.intsearch`: rows normalised and rounded to 2^-20, dot products computed
  exactly) give the same ranks and distances on every CPU, ties to the lower database index;
  ``exact: false`` (and a GPU with ``device`` auto / cuda) uses faiss's ``IndexFlatL2``, whose
  float32 distances differ in the last bits between CPUs. With ``db_chunk`` (rows) the database
  is streamed in chunks (an array, an ``h5py`` dataset or any ``[N, D]`` object that slices
  rows), each chunk searched exactly and merged into a running top-K per query: memory is one
  normalised chunk plus the [Q, K] results instead of a normalised copy of the whole database,
  and the result is identical (indices and distances, ties included) to the unchunked search.
  Chunks are rounded up to faiss's BLAS database block
  (``faiss.cvar.distance_compute_blas_database_bs``, 1024) and kept large enough that faiss
  picks the same kernel as for the whole database, so every pair gets the same float32 distance;
  ties are broken by the lower database index, as faiss does.
* ``"ivf"``: ``IndexIVFFlat`` with ``nlist`` cells (default ``~4 sqrt(N)``, at most N/39),
  ``nprobe`` cells visited (default 16); training is seeded (``seed``, default 0);
* ``"hnsw"``: ``IndexHNSWFlat`` with ``M`` (default 32), ``efConstruction`` /
  ``ef_construction`` (40), ``efSearch`` / ``ef_search`` (default max(128, k)).
* ``"ivfpq"``: ``IndexIVFPQ`` for large databases (SF-XL: millions of images): ``nlist`` cells
  (default as for ``ivf``), ``m`` sub-quantizers (default D/8, must divide D), ``nbits`` bits per
  code (default 8), ``nprobe`` (default 16), ``seed`` (k-means of the cells and of the PQ, 0),
  ``train_size`` rows sampled (seeded) for training (default min(N, max(40 nlist,
  40 * 2**nbits, 100000))), ``opq`` (an OPQ rotation before the PQ, default false) and
  ``refine`` (default false): re-rank a shortlist of ``refine_k_factor * k`` (default 4) PQ
  candidates by their exact distance, at the cost of keeping the normalised float32 database
  (4 D bytes per image) in memory. The database is added in chunks of ``db_chunk`` rows
  (default 65536), so without ``refine`` the memory is the codes (m * nbits / 8 bytes per
  image, plus 8 for the id), the training sample and one chunk.

Approximate indices may return fewer than k neighbours: missing entries are index -1 and
distance +inf. Queries are searched in chunks of ``chunk`` rows (default 4096) to bound memory.

Device (``device``: ``auto`` (default) | ``cpu`` | ``cuda``): when the ``faiss`` module has GPUs
(``faiss.get_num_gpus() > 0``: the ``faiss-gpu`` package and a CUDA device) and ``device`` is
not ``cpu``, the flat / ivf / ivfpq index is moved to all GPUs with
``faiss.index_cpu_to_all_gpus``; otherwise (``faiss-cpu``, no GPU, HNSW, k above the GPU limit
of 2048, or a failed move) the search runs on the CPU, with a warning when ``cuda`` was asked
for. GPU distances are not bitwise equal to the CPU ones.

Retrieval HDF5 layout (``results/<dataset>/retrieval/<gdesc tag>/<split>.h5``)::

    /indices      [Q, K] int64    database row indices (into /db_names), best first; -1 = none
    /distances    [Q, K] float32  squared L2 distances of the normalised descriptors
    /query_names  [Q]    utf-8 strings
    /db_names     [N]    utf-8 strings
    attrs: k, index, index_opts (JSON), metric = 'l2sq-normalised', gdesc_tag,
           database_file, queries_file, provenance (JSON), complete = True
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import intsearch
from ._faiss import gpu_count, import_faiss
from .errors import ConfigError, DataError
from .io.atomic import atomic_path
from .io.global_h5 import check_compatible, read_global
from .io.h5util import open_h5
from .io.provenance import provenance_json

INDEX_TYPES = ("flat", "ivf", "hnsw", "ivfpq")
DEVICES = ("auto", "cpu", "cuda")
METRIC = "l2sq-normalised"
GPU_MAX_K = 2048  # faiss GPU k-selection limit
IVFPQ_DB_CHUNK = 65536
NO_GPU = (
    "retrieval.device=cuda but faiss has no GPU (faiss-cpu installed, or no CUDA device): "
    "searching on the CPU"
)

# option -> (kind, minimum); kinds: int, number, bool, choice
_OPTIONS: dict[str, tuple[str, float | None]] = {
    "chunk": ("int", 1),
    "db_chunk": ("int", 1),
    "device": ("choice", None),
    "seed": ("int", None),
    "nlist": ("int", 1),
    "nprobe": ("int", 1),
    "M": ("int", 2),
    "efConstruction": ("int", 1),
    "ef_construction": ("int", 1),
    "efSearch": ("int", 1),
    "ef_search": ("int", 1),
    "m": ("int", 1),
    "nbits": ("int", 1),
    "train_size": ("int", 1),
    "opq": ("bool", None),
    "refine": ("bool", None),
    "refine_k_factor": ("number", 1),
    "exact": ("bool", None),
}


def check_options(index: str, opts: dict) -> None:
    """:class:`ConfigError` naming ``retrieval.<key>`` for an unknown index, an unknown option
    or a value of the wrong type or range (options of other index types are allowed: a config
    may keep ``nlist`` while switching to ``flat``)."""
    if index not in INDEX_TYPES:
        raise ConfigError(f"retrieval.index: {index!r} is not one of {list(INDEX_TYPES)}")
    for key, value in opts.items():
        if key not in _OPTIONS:
            raise ConfigError(
                f"retrieval.{key}: unknown retrieval option (known: {sorted(_OPTIONS)})"
            )
        if value is None and key in ("nlist", "m", "train_size", "db_chunk"):
            continue  # explicit null = the default
        kind, lo = _OPTIONS[key]
        if kind == "choice":
            if value not in DEVICES:
                raise ConfigError(f"retrieval.{key}: {value!r} is not one of {list(DEVICES)}")
            continue
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"retrieval.{key}: expected true or false, got {value!r}")
            continue
        ok_type = (int,) if kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            raise ConfigError(f"retrieval.{key}: expected an {kind}, got {value!r}")
        if lo is not None and value < lo:
            raise ConfigError(f"retrieval.{key}: expected at least {lo}, got {value!r}")
    if index == "ivfpq" and not 1 <= int(opts.get("nbits", 8)) <= 16:
        raise ConfigError(f"retrieval.nbits: expected 1..16, got {opts['nbits']!r}")


def _normalise(x: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy of the rows (zero rows stay zero)."""
    faiss = import_faiss()

    x = np.array(x, dtype=np.float32, order="C", copy=True)
    faiss.normalize_L2(x)
    return x


def _default_nlist(n: int) -> int:
    return max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))


def build_index(db: np.ndarray, index: str = "flat", k: int = 1, **opts):
    """A faiss index over the (already normalised) database rows ``db`` [N, D] float32
    (``flat``, ``ivf``, ``hnsw``; ``ivfpq`` is built by :func:`build_ivfpq`)."""
    faiss = import_faiss()

    n, d = db.shape
    if index == "flat":
        idx = faiss.IndexFlatL2(d)
    elif index == "ivf":
        nlist = opts.get("nlist") or _default_nlist(n)
        nlist = int(min(nlist, n))
        quantizer = faiss.IndexFlatL2(d)
        idx = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        idx.cp.seed = int(opts.get("seed", 0))
        idx.train(db)
        idx.nprobe = int(min(opts.get("nprobe", 16), nlist))
    elif index == "hnsw":
        idx = faiss.IndexHNSWFlat(d, int(opts.get("M", 32)))
        idx.hnsw.efConstruction = int(opts.get("efConstruction", opts.get("ef_construction", 40)))
        idx.hnsw.efSearch = int(max(opts.get("efSearch", opts.get("ef_search", 128)), k))
    elif index == "ivfpq":
        return build_ivfpq(db, **opts)
    else:
        raise ConfigError(f"retrieval.index: {index!r} is not one of {list(INDEX_TYPES)}")
    idx.add(db)
    return idx


# ------------------------------------------------------------------------------ device
def to_device(index, device: str = "auto", k: int = 1, what: str = "index"):
    """``index`` moved to all GPUs when faiss has GPUs and ``device`` allows, else ``index``.

    Falls back to the CPU (warning when ``device='cuda'``) when faiss has no GPU, k exceeds the
    GPU limit, or the move fails (e.g. an index type without a GPU implementation)."""
    if device == "cpu":
        return index
    faiss = import_faiss()
    if gpu_count(faiss) == 0:
        if device == "cuda":
            warnings.warn(NO_GPU, stacklevel=3)
        return index
    if k > GPU_MAX_K:
        warnings.warn(
            f"retrieval: k={k} exceeds the faiss GPU limit {GPU_MAX_K}: CPU search", stacklevel=2
        )
        return index
    try:
        return faiss.index_cpu_to_all_gpus(index)
    except Exception as exc:  # noqa: BLE001 - faiss raises RuntimeError subclasses of its own
        warnings.warn(
            f"retrieval: could not move the {what} to the GPU ({exc}): CPU search", stacklevel=2
        )
        return index


# ------------------------------------------------------------------------- exact, chunked
def _db_bounds(n: int, db_chunk: int, min_queries: int) -> list[tuple[int, int]]:
    """Row ranges of the database chunks for the exact search.

    Each chunk is a multiple of faiss's BLAS database block, so the BLAS calls have the same
    shapes as for the whole database. faiss searches fewer queries than threads
    database-parallel (BLAS) when the database has at least max(10000, threads * block) rows
    and query by query (no BLAS) below that: chunks are then kept at least that large (a
    smaller last chunk joins the previous one) so each pair's distance comes from the same
    kernel as in the unchunked search."""
    faiss = import_faiss()
    bs = max(1, int(faiss.cvar.distance_compute_blas_database_bs))
    step = -(-int(db_chunk) // bs) * bs
    nt = int(faiss.omp_get_max_threads())
    min_rows = 0
    if nt > 1 and min_queries < nt:
        min_rows = max(10000, nt * bs)
        if n >= min_rows:
            step = max(step, min_rows)
        else:
            min_rows = 0
    bounds = [(s, min(n, s + step)) for s in range(0, n, step)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_rows:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def merge_topk(
    dist_a: np.ndarray, idx_a: np.ndarray, dist_b: np.ndarray, idx_b: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise k smallest of two candidate lists, ordered by (distance, index): the order
    faiss gives (ties go to the lower database index)."""
    d = np.concatenate([dist_a, dist_b], axis=1)
    i = np.concatenate([idx_a, idx_b], axis=1)
    order = np.lexsort((i, d), axis=-1)[:, :k]
    return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)


def _query_chunks(q: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(q, s + chunk)) for s in range(0, q, chunk)]


def search_exact_chunked(
    db, queries: np.ndarray, k: int, db_chunk: int, chunk: int = 4096, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (indices [Q, k] int64, distances [Q, k] float32) with the database streamed
    in chunks of about ``db_chunk`` rows (see :func:`_db_bounds`); ``db`` is any [N, D] object
    that slices rows (rows are normalised per chunk), ``queries`` raw query rows."""
    faiss = import_faiss()
    n, d = db.shape
    q = len(queries)
    qchunks = _query_chunks(q, chunk)
    qn = [_normalise(queries[s:e]) for s, e in qchunks]
    min_q = min((e - s for s, e in qchunks), default=chunk)
    run_d = np.zeros((q, 0), np.float32)
    run_i = np.zeros((q, 0), np.int64)
    for s, e in _db_bounds(n, db_chunk, min_q):
        x = _normalise(db[s:e])
        kc = min(k, len(x))
        cd = np.empty((q, kc), np.float32)
        ci = np.empty((q, kc), np.int64)
        on_gpu = device != "cpu" and gpu_count(faiss) > 0
        index = None
        if on_gpu:
            index = faiss.IndexFlatL2(d)
            index.add(x)
            index = to_device(index, device, kc, "flat chunk")
        for (a, b), qx in zip(qchunks, qn, strict=True):
            if index is not None:
                cd[a:b], ci[a:b] = index.search(qx, kc)
            else:
                cd[a:b], ci[a:b] = faiss.knn(qx, x, kc)
        del x, index
        ci += s
        run_d, run_i = merge_topk(run_d, run_i, cd, ci, k)
    return run_i, run_d


# ---------------------------------------------------------------------------------- IVF-PQ
def _default_m(d: int) -> int:
    return next(c for c in range(max(1, d // 8), 0, -1) if d % c == 0)


def _ivfpq_params(n: int, d: int, opts: dict) -> dict:
    nlist = int(opts.get("nlist") or _default_nlist(n))
    m = int(opts.get("m") or _default_m(d))
    nbits = int(opts.get("nbits", 8))
    if d % m:
        raise ConfigError(f"retrieval.m: {m} sub-quantizers must divide the descriptor dim {d}")
    train = opts.get("train_size") or min(n, max(40 * nlist, 40 * 2**nbits, 100_000))
    train = int(min(train, n))
    if train < 2**nbits:
        raise ConfigError(
            f"retrieval.train_size: {train} training rows (database {n}) are fewer than the "
            f"2**nbits = {2**nbits} PQ centroids (lower retrieval.nbits or use index flat)"
        )
    if nlist > train:
        warnings.warn(
            f"retrieval.nlist={nlist} exceeds the {train} training rows; using {train}",
            stacklevel=2,
        )
        nlist = train
    return {
        "nlist": nlist,
        "m": m,
        "nbits": nbits,
        "nprobe": int(min(opts.get("nprobe", 16), nlist)),
        "seed": int(opts.get("seed", 0)),
        "train_size": train,
        "opq": bool(opts.get("opq", False)),
        "refine": bool(opts.get("refine", False)),
        "refine_k_factor": float(opts.get("refine_k_factor", 4)),
        "db_chunk": int(opts.get("db_chunk") or IVFPQ_DB_CHUNK),
    }


class IVFPQIndex:
    """An IVF-PQ faiss index (optionally behind an OPQ rotation) with an optional exact
    re-ranking of its shortlist; ``search(x, k)`` like a faiss index (x normalised)."""

    def __init__(self, index, ivf, params: dict, store: np.ndarray | None):
        self.index, self.ivf, self.params, self.store = index, ivf, params, store
        self.ntotal = int(index.ntotal)

    def to_device(self, device: str, k: int) -> None:
        kk = self._shortlist(k)
        self.index = to_device(self.index, device, kk, "IVF-PQ index")

    def _shortlist(self, k: int) -> int:
        if not self.params["refine"]:
            return k
        return int(min(self.ntotal, math.ceil(k * self.params["refine_k_factor"])))

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        kk = max(k, self._shortlist(k))
        dist, idx = self.index.search(x, kk)
        if self.store is None:
            return dist, idx
        # exact re-ranking of the shortlist (faiss's indexed pairwise distances, no gather)
        faiss = import_faiss()
        nq, d = x.shape
        x = np.ascontiguousarray(x, dtype=np.float32)
        ix = np.repeat(np.arange(nq, dtype=np.int64), kk)
        iy = np.ascontiguousarray(np.maximum(idx, 0).reshape(-1), dtype=np.int64)
        dd = np.empty(nq * kk, np.float32)
        sp = faiss.swig_ptr
        faiss.pairwise_indexed_L2sqr(d, nq * kk, sp(x), sp(ix), sp(self.store), sp(iy), sp(dd))
        dd = dd.reshape(nq, kk)
        dd[idx < 0] = np.inf
        order = np.lexsort((idx, dd), axis=-1)[:, :k]
        out_d = np.take_along_axis(dd, order, axis=1)
        out_i = np.take_along_axis(idx, order, axis=1)
        return out_d, out_i


def _training_sample(db, n: int, size: int, seed: int, step: int) -> np.ndarray:
    rows = np.sort(np.random.default_rng([seed, 7]).choice(n, size=size, replace=False))
    if isinstance(db, np.ndarray):
        return _normalise(db[rows])
    parts = []
    for s in range(0, n, step):
        sel = rows[(rows >= s) & (rows < s + step)] - s
        if len(sel):
            parts.append(np.asarray(db[s : min(n, s + step)])[sel])
    return _normalise(np.concatenate(parts))


def build_ivfpq(db, **opts) -> IVFPQIndex:
    """Train (on a seeded sample) and fill an IVF-PQ index from ``db`` [N, D] (raw rows, any
    object that slices rows), added in chunks of ``db_chunk`` rows."""
    faiss = import_faiss()
    n, d = db.shape
    p = _ivfpq_params(n, d, opts)
    quantizer = faiss.IndexFlatL2(d)
    ivf = faiss.IndexIVFPQ(quantizer, d, p["nlist"], p["m"], p["nbits"])
    ivf.cp.seed = p["seed"]
    ivf.pq.cp.seed = p["seed"]
    index = ivf
    if p["opq"]:
        opq = faiss.OPQMatrix(d, p["m"])
        index = faiss.IndexPreTransform(opq, ivf)
    index.train(_training_sample(db, n, p["train_size"], p["seed"], p["db_chunk"]))
    ivf.nprobe = p["nprobe"]
    store = np.empty((n, d), np.float32) if p["refine"] else None
    for s in range(0, n, p["db_chunk"]):
        x = _normalise(db[s : s + p["db_chunk"]])
        index.add(x)
        if store is not None:
            store[s : s + len(x)] = x
    out = IVFPQIndex(index, ivf, p, store)
    out._keep = (quantizer, ivf)  # the SWIG wrappers do not own their sub-indices
    return out


# ---------------------------------------------------------------------------------- search
def _shape(db) -> tuple[int, ...]:
    shape = getattr(db, "shape", None)
    return tuple(shape) if shape is not None else np.asarray(db).shape


def search(
    db, queries: np.ndarray, k: int, index: str = "flat", **opts
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest database rows of each query: (indices [Q, K] int64, distances [Q, K] float32).

    Vectors are L2-normalised (copies) before the search; K is clamped to the database size
    with a warning. ``db`` is an [N, D] array, or for ``db_chunk`` / ``ivfpq`` any object with
    ``shape`` that slices rows (an ``h5py`` dataset, a generator). Options: ``chunk`` (queries
    per search call), ``db_chunk``, ``device`` and the index options above.
    """
    check_options(index, opts)
    streamed = index == "ivfpq" or (index == "flat" and opts.get("db_chunk"))
    if not streamed:
        db = np.asarray(db)
    queries = np.asarray(queries)
    dshape = _shape(db)
    if len(dshape) != 2 or queries.ndim != 2:
        raise DataError(f"search: expected 2-D arrays, got db {dshape} and queries {queries.shape}")
    if dshape[1] != queries.shape[1]:
        raise DataError(f"search: database dim {dshape[1]} != query dim {queries.shape[1]}")
    if dshape[0] == 0:
        raise DataError("search: empty database")
    if int(k) < 1:
        raise ConfigError(f"retrieval.k: expected a positive integer, got {k!r}")
    k = int(k)
    if k > dshape[0]:
        warnings.warn(
            f"retrieval k={k} exceeds the database size {dshape[0]}; using k={dshape[0]}",
            stacklevel=2,
        )
        k = dshape[0]
    chunk = int(opts.pop("chunk", 4096))
    device = opts.pop("device", "auto")
    exact = opts.pop("exact", True)
    if index == "flat" and exact and (device == "cpu" or gpu_count(import_faiss()) == 0):
        if device == "cuda":
            warnings.warn(NO_GPU, stacklevel=2)
        return intsearch.topk(db, queries, k, opts.get("db_chunk"), chunk)
    if index == "flat" and opts.get("db_chunk"):
        return search_exact_chunked(db, queries, k, int(opts["db_chunk"]), chunk, device)
    opts.pop("db_chunk", None)
    if index == "ivfpq":
        idx = build_ivfpq(db, **opts)
        idx.to_device(device, k)
    else:
        dbn = _normalise(db)
        idx = build_index(dbn, index, k, **opts)
        if index != "hnsw":
            idx = to_device(idx, device, k)
    q = len(queries)
    indices = np.full((q, k), -1, np.int64)
    dists = np.full((q, k), np.inf, np.float32)
    for s in range(0, q, chunk):
        qn = _normalise(queries[s : s + chunk])
        d, i = idx.search(qn, k)
        indices[s : s + len(qn)] = i
        dists[s : s + len(qn)] = np.where(i >= 0, d, np.inf)
    return indices, dists


@dataclass
class Retrieval:
    path: Path
    indices: np.ndarray
    distances: np.ndarray
    query_names: list[str]
    db_names: list[str]
    attrs: dict = field(default_factory=dict)

    def candidates(self, query: str | int) -> list[str]:
        """Database names retrieved for a query (by name or row), best first."""
        row = query if isinstance(query, int) else self.query_names.index(query)
        return [self.db_names[j] for j in self.indices[row] if j >= 0]


def retrieve(
    db_h5: str | Path, q_h5: str | Path, out_h5: str | Path, k: int, index: str = "flat", **opts
) -> None:
    """Search the query descriptors of ``q_h5`` in the database ``db_h5``; write ``out_h5``.

    With ``db_chunk`` (flat) or ``index='ivfpq'`` the database matrix is read from the HDF5 file
    chunk by chunk instead of whole."""
    db_h5, q_h5 = Path(db_h5), Path(q_h5)
    check_options(index, opts)
    streamed = index == "ivfpq" or (index == "flat" and opts.get("db_chunk"))
    db = read_global(db_h5, descriptors=not streamed)
    qs = read_global(q_h5)
    check_compatible(db, qs)
    if not len(db.names):
        raise DataError(f"{db_h5}: no database descriptors")
    kk = min(int(k), len(db.names))
    if streamed:
        with h5py.File(db_h5, "r") as f:
            indices, dists = search(f["descriptors"], qs.descriptors, k, index, **opts)
    else:
        indices, dists = search(db.descriptors, qs.descriptors, k, index, **opts)
    conf = {"k": int(k), "index": index, "index_opts": opts, "gdesc_tag": db.tag}
    with atomic_path(out_h5) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("indices", data=indices)
        f.create_dataset("distances", data=dists)
        s = h5py.string_dtype("utf-8")
        f.create_dataset("query_names", data=qs.names, dtype=s)
        f.create_dataset("db_names", data=db.names, dtype=s)
        f.attrs["k"] = kk
        f.attrs["k_requested"] = int(k)
        f.attrs["index"] = index
        f.attrs["index_opts"] = json.dumps(opts, sort_keys=True, default=str)
        f.attrs["metric"] = METRIC
        f.attrs["gdesc_tag"] = db.tag
        f.attrs["database_file"] = str(db_h5)
        f.attrs["queries_file"] = str(q_h5)
        f.attrs["provenance"] = provenance_json(conf)
        f.attrs["complete"] = True


def read_retrieval(path: str | Path) -> Retrieval:
    path = Path(path)
    with open_h5(path, "retrieval") as f:
        for key in ("indices", "distances", "query_names", "db_names"):
            if key not in f:
                raise DataError(f"{path}: missing dataset '/{key}' (not a retrieval file?)")
        if not f.attrs.get("complete", False):
            raise DataError(f"{path}: incomplete retrieval file")
        indices = f["indices"][()].astype(np.int64)
        dists = f["distances"][()].astype(np.float32)
        qn = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in f["query_names"][()]]
        dn = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in f["db_names"][()]]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    if indices.shape != dists.shape or indices.ndim != 2 or len(indices) != len(qn):
        raise DataError(
            f"{path}: inconsistent shapes (indices {indices.shape}, distances {dists.shape}, "
            f"{len(qn)} queries)"
        )
    if indices.size and indices.max() >= len(dn):
        raise DataError(f"{path}: index {indices.max()} out of range for {len(dn)} database names")
    return Retrieval(path, indices, dists, qn, dn, attrs)


def candidate_union(indices: np.ndarray) -> np.ndarray:
    """Sorted unique database indices retrieved by any query (-1 entries ignored)."""
    flat = np.asarray(indices, dtype=np.int64).reshape(-1)
    return np.unique(flat[flat >= 0])
