"""Global descriptors in HDF5.

Layout of ``results/<dataset>/global/<gdesc tag>/{database,queries_<split>}.h5``::

    /descriptors  [N, D] float32   one L2-normalised row per image, in the order of /names
    /names        [N]    utf-8 variable-length strings (image paths relative to the dataset root)
    /state/<key>  arrays of the fitted descriptor (VLAD: centroids [k, d], and with PCA
                  pca_mean [k*d], pca_proj [k*d, p]); present in database files (empty group
                  for descriptors without state), absent or empty in query files
    attrs: conf (JSON of the global preset), tag, dim (= D), num (= N), role ('database' |
           'queries'), source (query files: the database file whose state was used),
           provenance (JSON), complete = True

Written once through a temporary file renamed when complete (:func:`vgrerank.io.atomic_path`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import DataError
from .atomic import atomic_path
from .h5util import open_h5
from .provenance import provenance_json


@dataclass
class GlobalFile:
    path: Path
    names: list[str]
    descriptors: np.ndarray  # [N, D] float32
    conf: dict
    tag: str
    state: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.descriptors.shape[1])


def write_global(
    path: str | Path,
    names: list[str],
    descriptors: np.ndarray,
    conf: dict,
    state: dict[str, np.ndarray] | None = None,
    role: str = "database",
    source: str = "",
) -> None:
    path = Path(path)
    descriptors = np.asarray(descriptors, dtype=np.float32)
    if descriptors.ndim != 2 or len(descriptors) != len(names):
        raise DataError(
            f"{path}: descriptors of shape {descriptors.shape} do not match {len(names)} names"
        )
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("descriptors", data=descriptors)
        f.create_dataset("names", data=list(names), dtype=h5py.string_dtype("utf-8"))
        g = f.create_group("state")
        for key, arr in (state or {}).items():
            g.create_dataset(key, data=np.asarray(arr))
        f.attrs["conf"] = json.dumps(conf, sort_keys=True, default=str)
        f.attrs["tag"] = str(conf.get("tag", ""))
        f.attrs["dim"] = int(descriptors.shape[1])
        f.attrs["num"] = int(descriptors.shape[0])
        f.attrs["role"] = role
        f.attrs["source"] = str(source)
        f.attrs["provenance"] = provenance_json(conf)
        f.attrs["complete"] = True


def read_global(path: str | Path, descriptors: bool = True) -> GlobalFile:
    """Read a global-descriptor file; :class:`DataError` naming the file when malformed.

    ``descriptors=False`` skips the matrix (returns an empty [0, D] array) for state-only reads.
    """
    path = Path(path)
    with open_h5(path, "global descriptor") as f:
        for key in ("descriptors", "names"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise DataError(f"{path}: missing dataset '/{key}' (not a global descriptor file?)")
        dset = f["descriptors"]
        if dset.ndim != 2:
            raise DataError(f"{path}: '/descriptors' has shape {dset.shape}, expected [N, D]")
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in f["names"][()]]
        if len(names) != dset.shape[0]:
            raise DataError(f"{path}: {len(names)} names but {dset.shape[0]} descriptor rows")
        if not f.attrs.get("complete", False):
            raise DataError(f"{path}: incomplete file (attribute 'complete' missing)")
        try:
            conf = json.loads(f.attrs.get("conf", "{}"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: attribute 'conf' is not valid JSON ({exc})") from exc
        mat = (
            dset[()].astype(np.float32, copy=False)
            if descriptors
            else np.zeros((0, dset.shape[1]), np.float32)
        )
        state = {}
        if "state" in f:
            state = {k: np.asarray(v[()]) for k, v in f["state"].items()}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        tag = str(attrs.get("tag", conf.get("tag", "")))
    return GlobalFile(path, names, mat, conf, tag, state, attrs)


def check_compatible(db: GlobalFile, queries: GlobalFile) -> None:
    """Database and query descriptors must come from the same descriptor (tag and dim)."""
    if db.dim != queries.dim:
        raise DataError(
            f"descriptor dims differ: database {db.path} has D={db.dim}, "
            f"queries {queries.path} have D={queries.dim}"
        )
    if db.tag and queries.tag and db.tag != queries.tag:
        raise DataError(
            f"descriptor tags differ: database {db.path} is {db.tag!r}, "
            f"queries {queries.path} are {queries.tag!r}"
        )
