"""VLAD global descriptors (DenseVLAD-style by default, or over any registered local extractor).

Pipeline for one image:

1. resize so the longer side is at most ``resize_max`` pixels;
2. local descriptors: ``local: "rootsift-dense"`` computes OpenCV SIFT descriptors on a regular
   grid (``step`` pixels apart, one keypoint per grid point and patch width in ``scales``) and
   maps them to RootSIFT (L1-normalise, element-wise square root). Any other value of ``local`` is
   an extractor preset name of :mod:`vgrerank.local.registry` (e.g. ``"aliked"``) whose
   descriptors are aggregated instead (a *learned* VLAD); ``local`` may also be a full extractor
   conf dict;
3. hard-assign each descriptor to its nearest visual word, sum the residuals per word;
4. intra-normalisation (L2 per word), power law (signed ``|x| ** power``), global L2;
5. optional PCA whitening to ``pca_dim`` (fitted on the database VLADs), then L2 again.

Fitting (:meth:`VLAD.fit`) draws a seeded sample of database images and local descriptors, runs
seeded faiss k-means for the vocabulary, then (with ``pca_dim``) fits PCA whitening on the VLADs
of up to ``pca_images`` database images. ``state()`` holds ``centroids`` [k, d] and, with PCA,
``pca_mean`` [k*d] and ``pca_proj`` [k*d, pca_dim] (whitening folded in).

``scales`` are SIFT patch widths in pixels (as VLFeat's dense SIFT ``4 * bin size``); OpenCV's
keypoint ``size`` is ``width / 6`` (its descriptor spans 4 bins of 3 * size / 2 pixels each).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from .._faiss import import_faiss
from ..errors import ConfigError, DataError
from ..imageio import resize_max, to_gray
from . import exact
from .base import GlobalDescriptor
from .dsift import dense_rootsift_det, resize_max_det, to_gray_det

DENSE_LOCAL = "rootsift-dense"  # OpenCV SIFT on a dense grid (SIMD-dependent last bits)
DENSE_DET = "rootsift-dense-det"  # vgrerank.globaldesc.dsift: bit-identical on every x86 CPU


def dense_rootsift(
    gray: np.ndarray, step: int, scales: Sequence[float], sift: cv2.SIFT | None = None
) -> np.ndarray:
    """RootSIFT descriptors [n, 128] float32 on a dense grid of ``gray`` (uint8 [H, W])."""
    h, w = gray.shape[:2]
    sift = sift or cv2.SIFT_create()
    kps = []
    for width in scales:
        size = float(width) / 6.0
        half = float(width) / 2.0
        # keep patch centres at least half a patch inside the image when the image allows it
        m = min(half, (min(h, w) - 1) / 2.0)
        xs = np.arange(m, w - m, step, dtype=np.float32)
        ys = np.arange(m, h - m, step, dtype=np.float32)
        kps.extend(cv2.KeyPoint(float(x), float(y), size) for y in ys for x in xs)
    if not kps:
        return np.zeros((0, 128), np.float32)
    _, desc = sift.compute(gray, kps)
    if desc is None:
        return np.zeros((0, 128), np.float32)
    desc = desc.astype(np.float32)
    desc /= desc.sum(axis=1, keepdims=True) + 1e-12
    return np.sqrt(desc, out=desc)


class VLAD(GlobalDescriptor):
    default_conf = {
        "local": DENSE_LOCAL,
        "k": 64,
        "resize_max": 640,
        "step": 8,
        "scales": [16, 24, 32, 40],
        "power": 0.5,
        "intra_norm": True,
        "pca_dim": None,
        "whiten": True,
        "whiten_eps": 1e-3,  # relative to the largest eigenvalue
        "fit_images": 100,  # images sampled for the vocabulary (100 x 1000 descriptors for 64 words)
        "fit_per_image": 1000,  # descriptors sampled per image for the vocabulary
        "kmeans_iters": 25,
        "pca_images": 5000,  # database images whose VLADs fit the PCA (None: all)
        # CPU-independent arithmetic (vgrerank.globaldesc.exact): descriptors x desc_scale rounded
        # to integers, fixed-point centroids, exact assignments and sums; false: faiss k-means
        # and float32 aggregation (results may differ in the last bits between CPUs)
        "exact": False,
        "desc_scale": 255,
    }

    def __init__(self, conf: dict | None = None) -> None:
        super().__init__(conf)
        k = self.conf["k"]
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"globaldesc.k: expected a positive integer, got {k!r}")
        if self.conf["pca_dim"] is not None and int(self.conf["pca_dim"]) < 1:
            raise ConfigError(
                f"globaldesc.pca_dim: expected a positive integer or null, got {self.conf['pca_dim']!r}"
            )
        if self.conf["exact"] and not (
            isinstance(self.conf["desc_scale"], int | float) and self.conf["desc_scale"] > 0
        ):
            raise ConfigError(
                f"globaldesc.desc_scale: expected a positive number, got {self.conf['desc_scale']!r}"
            )
        self.centroids: np.ndarray | None = None
        self.centroids_fx: np.ndarray | None = None  # exact mode: fixed-point centroids
        self.pca_mean: np.ndarray | None = None
        self.pca_proj: np.ndarray | None = None
        self._extractor = None
        self._sift = None
        self._index = None

    # ----------------------------------------------------------------- local descriptors
    @property
    def is_dense(self) -> bool:
        return self.conf["local"] in (DENSE_LOCAL, DENSE_DET)

    def _local_extractor(self):
        if self._extractor is None:
            from ..local import registry

            local = self.conf["local"]
            conf = (
                dict(local) if isinstance(local, dict) else registry.get_preset("extractor", local)
            )
            if "device" in registry.PARAMS["extractor"].get(conf.get("type"), {}):
                # a torch extractor runs on the stage's device (conf 'device', from the workflow)
                conf.setdefault("device", self.conf.get("device", "auto"))
            self._extractor = registry.make_extractor(conf)
        return self._extractor

    def local_descriptors(self, image: np.ndarray) -> np.ndarray:
        """Local descriptors [n, d] float32 of one RGB uint8 image (after ``resize_max``)."""
        if self.conf["local"] == DENSE_DET:
            gray = resize_max_det(to_gray_det(image), self.conf["resize_max"])
            return dense_rootsift_det(gray, int(self.conf["step"]), self.conf["scales"])
        image, _ = resize_max(image, self.conf["resize_max"])
        if self.is_dense:
            if self._sift is None:
                self._sift = cv2.SIFT_create()
            return dense_rootsift(
                to_gray(image), int(self.conf["step"]), self.conf["scales"], self._sift
            )
        feats = self._local_extractor().extract(image)
        return np.ascontiguousarray(feats.descriptors, dtype=np.float32)

    # ----------------------------------------------------------------- fitted state
    @property
    def needs_fit(self) -> bool:
        return True

    @property
    def fitted(self) -> bool:
        return self.centroids is not None

    @property
    def raw_dim(self) -> int:
        if self.centroids is None:
            raise DataError("VLAD vocabulary is not fitted (fit on the database or load_state)")
        return int(self.centroids.shape[0] * self.centroids.shape[1])

    @property
    def dim(self) -> int:
        if self.pca_proj is not None:
            return int(self.pca_proj.shape[1])
        return self.raw_dim

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        if self.centroids is not None:
            out["centroids"] = self.centroids
        if self.centroids_fx is not None:
            out["centroids_fx"] = self.centroids_fx.astype(np.int32)
        if self.pca_proj is not None:
            out["pca_mean"] = self.pca_mean
            out["pca_proj"] = self.pca_proj
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if "centroids" not in state:
            raise DataError("VLAD state has no 'centroids' (the database file holds no vocabulary)")
        c = np.ascontiguousarray(state["centroids"], dtype=np.float32)
        if c.ndim != 2 or c.shape[0] != self.conf["k"]:
            raise DataError(
                f"VLAD state: centroids of shape {c.shape} do not match k={self.conf['k']}"
            )
        self.centroids = c
        self.centroids_fx = None
        if self.conf["exact"]:
            if "centroids_fx" not in state:
                raise DataError(
                    "VLAD state has no 'centroids_fx' (fixed-point centroids of exact mode): the "
                    "database file was written with exact: false; delete it to refit"
                )
            self.centroids_fx = np.asarray(state["centroids_fx"], dtype=np.float64)
        self._index = None
        if "pca_proj" in state:
            self.pca_proj = np.ascontiguousarray(state["pca_proj"], dtype=np.float32)
            self.pca_mean = np.ascontiguousarray(state["pca_mean"], dtype=np.float32)
        else:
            self.pca_proj = self.pca_mean = None

    # ----------------------------------------------------------------- fitting
    def fit(self, load: Callable[[int], np.ndarray], n: int, seed: int = 0) -> None:
        self.fit_vocabulary(load, n, seed)
        if self.conf["pca_dim"] is not None:
            idx = self.pca_indices(n, seed)
            self.fit_pca(
                np.stack([self.raw_vlad(self.local_descriptors(load(int(i)))) for i in idx])
            )

    def pca_indices(self, n: int, seed: int = 0) -> np.ndarray:
        """Sorted indices of the database images whose VLADs fit the PCA (seeded sample)."""
        m = n if self.conf["pca_images"] is None else min(n, int(self.conf["pca_images"]))
        if m == n:
            return np.arange(n)
        return np.sort(np.random.default_rng(seed + 1).choice(n, size=m, replace=False))

    def fit_vocabulary(self, load: Callable[[int], np.ndarray], n: int, seed: int = 0) -> None:
        faiss = import_faiss()

        if n < 1:
            raise DataError("VLAD: no database images to fit the vocabulary on")
        rng = np.random.default_rng(seed)
        m = min(n, int(self.conf["fit_images"]))
        idx = np.sort(rng.choice(n, size=m, replace=False))
        per = int(self.conf["fit_per_image"])
        samples = []
        for i in idx:
            d = self.local_descriptors(load(int(i)))
            if len(d) > per:
                d = d[np.sort(rng.choice(len(d), size=per, replace=False))]
            samples.append(d)
        x = np.ascontiguousarray(np.concatenate(samples), dtype=np.float32) if samples else None
        k = int(self.conf["k"])
        if x is None or len(x) < k:
            got = 0 if x is None else len(x)
            raise DataError(
                f"VLAD: only {got} local descriptors in {m} database images, fewer than k={k} "
                "visual words (images too small for the grid? lower 'step'/'scales' or 'k')"
            )
        if self.conf["exact"]:
            self._set_fixed(exact.kmeans(self._quantized(x), k, self.conf["kmeans_iters"], seed))
            return
        km = faiss.Kmeans(
            x.shape[1], k, niter=int(self.conf["kmeans_iters"]), seed=int(seed),
            max_points_per_centroid=max(256, len(x) // k + 1), verbose=False,
        )  # fmt: skip
        km.train(x)
        self.centroids = np.ascontiguousarray(km.centroids, dtype=np.float32).reshape(k, -1)
        self.pca_proj = self.pca_mean = None
        self._index = None

    def _quantized(self, desc: np.ndarray) -> np.ndarray:
        return exact.quantize(desc, self.conf["desc_scale"])

    def _set_fixed(self, c_fx: np.ndarray) -> None:
        """Exact mode's fixed-point vocabulary (and its float32 view in descriptor units)."""
        self.centroids_fx = c_fx
        scale = exact.FRAC * float(self.conf["desc_scale"])
        self.centroids = np.ascontiguousarray(c_fx / scale, dtype=np.float32)
        self.pca_proj = self.pca_mean = None
        self._index = None

    def fit_pca(self, raw: np.ndarray) -> None:
        """Fit PCA (whitening) on raw (un-projected) VLADs of database images [N, k*d]."""
        p = int(self.conf["pca_dim"])
        n, d = raw.shape
        if p > min(n, d):
            raise ConfigError(
                f"globaldesc.pca_dim={p}: at most min(#database images fitted={n}, VLAD dim={d})"
            )
        x = raw.astype(np.float64)
        mean = x.mean(axis=0)
        x -= mean
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        vt = vt[:p]
        # deterministic sign: largest-magnitude component of each axis positive
        signs = np.sign(vt[np.arange(p), np.abs(vt).argmax(axis=1)])
        vt *= signs[:, None]
        proj = vt.T
        if self.conf["whiten"]:
            lam = s[:p] ** 2 / max(n - 1, 1)
            eps = float(self.conf["whiten_eps"]) * max(lam.max(), 1e-12)
            proj = proj / np.sqrt(lam + eps)[None, :]
        self.pca_mean = mean.astype(np.float32)
        self.pca_proj = np.ascontiguousarray(proj, dtype=np.float32)

    # ----------------------------------------------------------------- description
    def raw_vlad(self, desc: np.ndarray) -> np.ndarray:
        """VLAD [k*d] of local descriptors [n, d] before PCA (intra-norm, power, L2)."""
        faiss = import_faiss()

        if self.centroids is None:
            raise DataError("VLAD vocabulary is not fitted (fit on the database or load_state)")
        k, d = self.centroids.shape
        if len(desc) and desc.shape[1] != d:
            raise DataError(
                f"VLAD: local descriptors of dim {desc.shape[1]}, vocabulary has dim {d}"
            )
        if self.centroids_fx is not None:
            x = self._quantized(desc).reshape(-1, d)
            return exact.vlad(x, self.centroids_fx, self.conf["intra_norm"], self.conf["power"])
        out = np.zeros((k, d), np.float32)
        if len(desc):
            if self._index is None:
                self._index = faiss.IndexFlatL2(d)
                self._index.add(self.centroids)
            desc = np.ascontiguousarray(desc, dtype=np.float32)
            _, assign = self._index.search(desc, 1)
            assign = assign[:, 0]
            np.add.at(out, assign, desc)
            counts = np.bincount(assign, minlength=k).astype(np.float32)
            out -= counts[:, None] * self.centroids
        if self.conf["intra_norm"]:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 1e-12)
        out = out.reshape(-1)
        power = self.conf["power"]
        if power is not None and power != 1:
            out = np.sign(out) * np.abs(out) ** float(power)
        return _l2(out)

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Apply the fitted PCA (if any) to raw VLADs [B, k*d] and L2-normalise."""
        raw = np.atleast_2d(raw).astype(np.float32)
        if self.pca_proj is None:
            return raw
        # row by row (gemv) so a descriptor does not depend on the batch it was computed in
        return _l2(np.stack([(r - self.pca_mean) @ self.pca_proj for r in raw]))

    def describe(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.dim), np.float32)
        raw = np.stack([self.raw_vlad(self.local_descriptors(im)) for im in images])
        return np.ascontiguousarray(self.project(raw), dtype=np.float32)


def _l2(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 1e-12).astype(np.float32)
