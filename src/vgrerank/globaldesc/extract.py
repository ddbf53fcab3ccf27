"""Describe database / query images with a global descriptor and write HDF5
(layout: :mod:`vgrerank.io.global_h5`).

The database run fits the descriptor (VLAD vocabulary, PCA) on the database images with the
configured seed and stores the fitted state beside the descriptors; the query run restores that
state from the database file, so queries are described with the same vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError, DataError
from ..imageio import load_image
from ..io.global_h5 import read_global, write_global
from .registry import make_global


def _describe_all(desc, root: Path, names: list[str], label: str) -> np.ndarray:
    bs = int(desc.conf.get("batch_size", 16) or 16)
    out = np.zeros((len(names), desc.dim), np.float32)
    for s in tqdm(range(0, len(names), bs), desc=label, mininterval=2, unit="batch"):
        batch = names[s : s + bs]
        out[s : s + len(batch)] = desc.describe([load_image(root / n) for n in batch])
    return out


def extract_database(conf: dict, root: Path, names: list[str], out: Path, seed: int = 0) -> None:
    """Fit (if the descriptor needs it) on and describe the database images; write ``out``."""
    root, out = Path(root), Path(out)
    names = list(names)
    if not names:
        raise DataError(f"no images in {root} for the database descriptors {out}")
    desc = make_global(conf)
    tag = conf.get("tag", conf.get("type", ""))
    load = lambda i: load_image(root / names[i])  # noqa: E731
    if (
        desc.needs_fit
        and getattr(desc, "conf", {}).get("pca_dim") is not None
        and hasattr(desc, "fit_pca")
    ):
        # VLAD + PCA: raw VLADs of all images are computed once, the PCA is fitted on a sample
        desc.fit_vocabulary(load, len(names), seed)
        raw = np.zeros((len(names), desc.raw_dim), np.float32)
        for i in tqdm(range(len(names)), desc=f"global {tag} database", mininterval=2):
            raw[i] = desc.raw_vlad(desc.local_descriptors(load(i)))
        desc.fit_pca(raw[desc.pca_indices(len(names), seed)])
        mat = desc.project(raw)
    else:
        if desc.needs_fit:
            desc.fit(load, len(names), seed)
        mat = _describe_all(desc, root, names, f"global {tag} database")
    write_global(out, names, mat, conf, desc.state(), role="database")


def extract_queries(conf: dict, database_h5: Path, root: Path, names: list[str], out: Path) -> None:
    """Describe query images with the state fitted on the database (read from ``database_h5``)."""
    root, out, database_h5 = Path(root), Path(out), Path(database_h5)
    names = list(names)
    if not names:
        raise DataError(f"no images in {root} for the query descriptors {out}")
    db = read_global(database_h5, descriptors=False)
    if conf.get("tag") and db.tag and conf["tag"] != db.tag:
        raise ConfigError(
            f"global descriptor {conf['tag']!r} differs from the one of the database file "
            f"{database_h5} ({db.tag!r})"
        )
    desc = make_global(conf)
    if desc.needs_fit:
        try:
            desc.load_state(db.state)
        except DataError as exc:
            raise DataError(f"{database_h5}: {exc}") from exc
    mat = _describe_all(desc, root, names, f"global {conf.get('tag', '')} queries")
    if mat.shape[1] != db.dim:
        raise DataError(
            f"query descriptors have D={mat.shape[1]} but database {database_h5} has D={db.dim}"
        )
    write_global(out, names, mat, conf, {}, role="queries", source=str(database_h5))
