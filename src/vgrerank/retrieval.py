"""Global retrieval: k nearest database descriptors of every query (faiss).

Metric: squared Euclidean distance between L2-normalised descriptors (``IndexFlatL2`` and
friends on normalised copies), so ``distance = 2 - 2 * cosine`` and the ranking equals the
inner-product / cosine ranking; rows are sorted by ascending distance. Index types:

* ``"flat"`` (default): exact search (``IndexFlatL2``);
* ``"ivf"``: ``IndexIVFFlat`` with ``nlist`` cells (default ``~4 sqrt(N)``, at most N/39),
  ``nprobe`` cells visited (default 16); training is seeded (``seed``, default 0);
* ``"hnsw"``: ``IndexHNSWFlat`` with ``M`` (default 32), ``efConstruction`` (40), ``efSearch``
  (default max(128, k)).

Approximate indices may return fewer than k neighbours: missing entries are index -1 and
distance +inf. Queries are searched in chunks of ``chunk`` rows (default 4096) to bound memory.

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

from ._faiss import import_faiss
from .errors import ConfigError, DataError
from .io.atomic import atomic_path
from .io.global_h5 import check_compatible, read_global
from .io.h5util import open_h5
from .io.provenance import provenance_json

INDEX_TYPES = ("flat", "ivf", "hnsw")
METRIC = "l2sq-normalised"


def _normalise(x: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy of the rows (zero rows stay zero)."""
    faiss = import_faiss()

    x = np.array(x, dtype=np.float32, order="C", copy=True)
    faiss.normalize_L2(x)
    return x


def build_index(db: np.ndarray, index: str = "flat", k: int = 1, **opts):
    """A faiss index over the (already normalised) database rows ``db`` [N, D] float32."""
    faiss = import_faiss()

    n, d = db.shape
    if index == "flat":
        idx = faiss.IndexFlatL2(d)
    elif index == "ivf":
        nlist = opts.get("nlist") or max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        nlist = int(min(nlist, n))
        quantizer = faiss.IndexFlatL2(d)
        idx = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
        idx.cp.seed = int(opts.get("seed", 0))
        idx.train(db)
        idx.nprobe = int(min(opts.get("nprobe", 16), nlist))
    elif index == "hnsw":
        idx = faiss.IndexHNSWFlat(d, int(opts.get("M", 32)))
        idx.hnsw.efConstruction = int(opts.get("efConstruction", 40))
        idx.hnsw.efSearch = int(max(opts.get("efSearch", 128), k))
    else:
        raise ConfigError(f"retrieval.index: {index!r} is not one of {list(INDEX_TYPES)}")
    idx.add(db)
    return idx


def search(
    db: np.ndarray, queries: np.ndarray, k: int, index: str = "flat", **opts
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest database rows of each query: (indices [Q, K] int64, distances [Q, K] float32).

    Vectors are L2-normalised (copies) before the search; K is clamped to the database size
    with a warning. Options: ``chunk`` (queries per search call) and the index options above.
    """
    db = np.asarray(db)
    queries = np.asarray(queries)
    if db.ndim != 2 or queries.ndim != 2:
        raise DataError(
            f"search: expected 2-D arrays, got db {db.shape} and queries {queries.shape}"
        )
    if db.shape[1] != queries.shape[1]:
        raise DataError(f"search: database dim {db.shape[1]} != query dim {queries.shape[1]}")
    if len(db) == 0:
        raise DataError("search: empty database")
    if int(k) < 1:
        raise ConfigError(f"retrieval.k: expected a positive integer, got {k!r}")
    k = int(k)
    if k > len(db):
        warnings.warn(
            f"retrieval k={k} exceeds the database size {len(db)}; using k={len(db)}", stacklevel=2
        )
        k = len(db)
    chunk = int(opts.pop("chunk", 4096))
    dbn = _normalise(db)
    idx = build_index(dbn, index, k, **opts)
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
    """Search the query descriptors of ``q_h5`` in the database ``db_h5``; write ``out_h5``."""
    db_h5, q_h5 = Path(db_h5), Path(q_h5)
    db = read_global(db_h5)
    qs = read_global(q_h5)
    check_compatible(db, qs)
    if not len(db.names):
        raise DataError(f"{db_h5}: no database descriptors")
    kk = min(int(k), len(db.names))
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
