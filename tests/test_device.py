"""Devices: every torch stage runs on CUDA when available and on CPU otherwise.

* :func:`vgrerank.device.resolve_device` semantics ('auto' | 'cpu' | 'cuda' | 'cuda:N', anything
  else a ConfigError naming the key ``device``), with ``torch.cuda.is_available`` patched.
* Every torch stage takes the device: ALIKED, DISK, XFeat, LightGlue/LighterGlue, mutual NN,
  CosPlace, the builder classifiers (training, prediction), local extraction and re-ranking.
* On a machine without CUDA, ``device="auto"`` gives byte-identical results to ``"cpu"``.
* CUDA/CPU parity (only where CUDA is available), on real photos (``../shared`` place triplets;
  rendered SynthCity views when absent). Stated tolerances (CUDA differs from CPU by cuDNN's
  TF32 convolutions, the default on Ampere and newer, and by other reduction orders):

  - keypoints (ALIKED, DISK, XFeat): >= 95 % of the CPU keypoints have a CUDA keypoint within
    0.5 px, and the counts differ by <= 5 %;
  - descriptors: of those keypoint pairs, >= 95 % have cosine similarity > 0.999;
  - matches, both devices given the same (CPU) features: match-set IoU >= 0.99 for mutual NN,
    >= 0.9 for LightGlue (ALIKED) and LighterGlue (XFeat), one by one and in ``match_many``;
  - global descriptors (CosPlace layout: ResNet-50 + GeM + FC 512, random weights; unit norm):
    max abs difference < 2e-3 and cosine > 0.9995 per image;
  - day/night classifier probabilities: max abs difference < 5e-3;
  - re-ranking (mutual NN + MAGSAC on fixed features): identical ranks, metadata device 'cuda'.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from realdata import REAL, need_weights
from scenes import synthetic_pair

from vgrerank.device import resolve_device
from vgrerank.errors import ConfigError
from vgrerank.local.base import Features

pytest.importorskip("kornia")

CUDA = torch.cuda.is_available()
TRIPLETS = REAL / "place_triplets"
TIMING = ["t_extract", "t_match", "t_score"]


def _no_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# ------------------------------------------------------------------ resolve_device
def test_resolve_device_without_cuda(monkeypatch):
    _no_cuda(monkeypatch)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    for spec in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ConfigError, match=r"^device: 'cuda(:0)?' requested but CUDA is not"):
            resolve_device(spec)
    for spec in ("mps", "gpu", "", "cuda:x", "cuda:-1", "cuda0", None, 0):
        with pytest.raises(ConfigError, match="^device: "):
            resolve_device(spec)


def test_resolve_device_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^device: 'cuda:2' .* only 2 CUDA"):
        resolve_device("cuda:2")


# ------------------------------------------------------------------ every stage takes `device`
def _stage_extractor(kind: str):
    from vgrerank.local.registry import make_extractor

    need_weights({"aliked": "aliked-n16", "disk": "disk-depth", "xfeat": "xfeat"}[kind])
    return lambda dev: make_extractor({"type": kind, "max_keypoints": 64, "device": dev}).device


def _stage_lightglue(feats: str):
    from vgrerank.local.registry import make_matcher

    return lambda dev: make_matcher({"type": "lightglue", "features": feats, "device": dev}).device


def _stage(name: str, tmp_path: Path):
    from vgrerank.local.registry import make_matcher

    if name in ("aliked", "disk", "xfeat"):
        return _stage_extractor(name)
    if name == "lightglue":
        need_weights("aliked-n16", "lightglue-aliked")
        return _stage_lightglue("aliked")
    if name == "lighterglue":
        need_weights("xfeat", "lighterglue-xfeat")
        return _stage_lightglue("xfeat")
    if name == "mnn":
        return lambda dev: make_matcher({"type": "mnn", "device": dev}).device
    if name == "local_extract":
        from vgrerank.local.extract import build_extractor

        need_weights("xfeat")
        return lambda dev: build_extractor({"type": "xfeat", "max_keypoints": 64}, dev).device
    if name == "cosplace":
        from vgrerank.globaldesc.registry import make_global

        def cosplace(dev):
            conf = {"type": "cosplace", "backbone": "resnet18", "fc_output_dim": 8}
            g = make_global({**conf, "random_init": True, "device": dev})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # random weights
                return next(g.net.parameters()).device

        return cosplace
    if name == "vlad_aliked":
        from vgrerank.globaldesc.vlad import VLAD

        need_weights("aliked-n16")
        return lambda dev: VLAD({"local": "aliked-k512", "device": dev})._local_extractor().device
    if name == "classifier":
        from vgrerank.builder.classify import load_classifier

        model = _tiny_classifier(tmp_path)
        return lambda dev: next(load_classifier(model, device=dev).net.parameters()).device
    if name == "classifier_train":
        from vgrerank.builder.classify.train import fit_network

        def train(dev):
            pixels = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
            net, _ = fit_network(
                "mobilenetv2_050",
                pixels,
                np.array([0, 1, 0, 1]),
                2,
                epochs=1,
                device=dev,
                progress=False,
            )
            return next(net.parameters()).device

        return train
    if name == "classifier_proba":
        from vgrerank.builder.classify.models import create_model
        from vgrerank.builder.classify.train import network_proba

        def proba(dev):
            net = create_model("mobilenetv2_050", 2)
            network_proba(
                net,
                torch.zeros((2, 3, 32, 32), dtype=torch.uint8),
                (0.5,) * 3,
                (0.25,) * 3,
                device=dev,
            )
            return next(net.parameters()).device

        return proba
    if name == "rerank":
        return lambda dev: torch.device(_rerank(tmp_path, dev)[1]["device"])
    raise AssertionError(name)


STAGES = [
    "aliked",
    "disk",
    "xfeat",
    "lightglue",
    "lighterglue",
    "mnn",
    "local_extract",
    "cosplace",
    "vlad_aliked",
    "classifier",
    "classifier_train",
    "classifier_proba",
    "rerank",
]


@pytest.mark.parametrize("name", STAGES)
def test_every_torch_stage_takes_device(name, tmp_path, monkeypatch):
    """'cpu' and 'auto' (no CUDA: cpu) run there; 'cuda' without CUDA is a ConfigError naming
    the key ``device`` before any work."""
    _no_cuda(monkeypatch)
    run = _stage(name, tmp_path)
    assert run("cpu") == torch.device("cpu")
    assert run("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="^device: 'cuda' requested but CUDA is not available"):
        run("cuda")
    with pytest.raises(ConfigError, match="^device: 'tpu'"):
        run("tpu")


# ------------------------------------------------------------------ helpers for whole stages
def _tiny_classifier(tmp_path: Path) -> Path:
    """A day/night checkpoint (MobileNetV2 x0.5 at 32 px, 1 epoch, + colour model) trained on
    CPU on bright and dark noise images."""
    from vgrerank.builder.classify import train_classifier

    path = tmp_path / "daynight.pt"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    for label, lo, hi in (("day", 120, 256), ("night", 0, 90)):
        (tmp_path / label).mkdir(exist_ok=True)
        for i in range(6):
            img = rng.integers(lo, hi, (40, 48, 3), dtype=np.uint8)
            cv2.imwrite(str(tmp_path / label / f"{label}{i}.png"), img)
    folders = {"day": [tmp_path / "day"], "night": [tmp_path / "night"]}
    train_classifier(
        "daynight",
        folders,
        path,
        arch="mobilenetv2_050",
        epochs=1,
        size=32,
        progress=False,
        device="cpu",
    )
    return path


def _unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _rerank(tmp_path: Path, device: str, method: str = "sift+mnn+magsac"):
    """Re-rank one query against 4 database images whose keypoints carry the query's
    descriptors under different shifts (mutual NN matches them one to one)."""
    import h5py

    from vgrerank.io.local_h5 import write_features
    from vgrerank.local.registry import parse_method
    from vgrerank.rerank import read_parquet_meta, rerank

    rng = np.random.default_rng(1)
    qk = rng.uniform(10, 190, (40, 2)).astype(np.float32)
    desc = _unit(40)
    conf = {"tag": "t", "type": "sift"}

    def feats(k, d):
        return Features(k.astype(np.float32), d, np.ones(len(k), np.float32), (200, 200))

    if not (tmp_path / "q.h5").exists():
        write_features(tmp_path / "q.h5", [("q0.jpg", feats(qk, desc), 0.01)], conf)
        items = []
        for j, n in enumerate((40, 30, 20, 12)):
            k = qk[:n] + np.float32(j)
            k[: n // 4] = rng.uniform(10, 190, (n // 4, 2))  # some outliers
            items.append((f"db{j}.jpg", feats(k, desc[:n]), 0.01))
        write_features(tmp_path / "db.h5", items, conf)
        with h5py.File(tmp_path / "ret.h5", "w") as f:
            f.create_dataset("indices", data=np.array([[3, 2, 1, 0]], np.int64))
            f.create_dataset("distances", data=np.zeros((1, 4), np.float32))
            s = h5py.string_dtype("utf-8")
            f.create_dataset("query_names", data=["q0.jpg"], dtype=s)
            f.create_dataset("db_names", data=[f"db{j}.jpg" for j in range(4)], dtype=s)
            f.attrs["k"] = 4
            f.attrs["complete"] = True
    out = tmp_path / f"rerank-{device}.parquet"
    df = rerank(
        parse_method(method),
        tmp_path / "ret.h5",
        tmp_path / "q.h5",
        tmp_path / "db.h5",
        out,
        k=4,
        device=device,
    )
    return df, read_parquet_meta(out)


def _same_features(a: Features, b: Features) -> None:
    for field in ("keypoints", "descriptors", "scores"):
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), field
    assert a.size == b.size


# ------------------------------------------------------------------ auto == cpu on this machine
@pytest.mark.skipif(CUDA, reason="'auto' is CUDA here; the parity test covers it")
def test_auto_is_byte_identical_to_cpu_without_cuda(tmp_path):
    from vgrerank.builder.classify import predict_images
    from vgrerank.globaldesc.registry import make_global
    from vgrerank.local.registry import make_extractor, make_matcher

    need_weights("aliked-n16", "lightglue-aliked", "xfeat")
    im0, im1 = synthetic_pair()
    for conf in ({"type": "aliked", "max_keypoints": 256}, {"type": "xfeat", "max_keypoints": 256}):
        ea, ec = (
            make_extractor({**conf, "device": "auto"}),
            make_extractor({**conf, "device": "cpu"}),
        )
        fa, fc = [ea(im0), ea(im1)], [ec(im0), ec(im1)]
        for a, c in zip(fa, fc, strict=True):
            _same_features(a, c)
        matchers = [{"type": "mnn"}]
        if conf["type"] == "aliked":
            matchers.append({"type": "lightglue", "features": "aliked"})
        for m in matchers:
            ma = make_matcher({**m, "device": "auto"}).match_many(fa[0], fa[1:] * 2)
            mc = make_matcher({**m, "device": "cpu"}).match_many(fc[0], fc[1:] * 2)
            assert len(mc[0]) > 10
            for a, c in zip(ma, mc, strict=True):
                assert a.dtype == c.dtype and a.tobytes() == c.tobytes()

    conf = {"type": "cosplace", "backbone": "resnet18", "fc_output_dim": 16, "random_init": True}
    with pytest.warns(UserWarning):
        ga = make_global({**conf, "device": "auto"}).describe([im0, im1])
    with pytest.warns(UserWarning):
        gc = make_global({**conf, "device": "cpu"}).describe([im0, im1])
    assert ga.tobytes() == gc.tobytes()

    model = _tiny_classifier(tmp_path)
    paths = sorted((tmp_path / "day").glob("*.png")) + sorted((tmp_path / "night").glob("*.png"))
    pa = predict_images(model, paths, device="auto", progress=False)
    pc = predict_images(model, paths, device="cpu", progress=False)
    pd.testing.assert_frame_equal(pa, pc, check_exact=True)

    (da, meta_a), (dc, meta_c) = _rerank(tmp_path, "auto"), _rerank(tmp_path, "cpu")
    assert meta_a["device"] == meta_c["device"] == "cpu"
    pd.testing.assert_frame_equal(
        da.drop(columns=TIMING), dc.drop(columns=TIMING), check_exact=True
    )
    assert da["inliers"].max() > 10


# ------------------------------------------------------------------ CUDA / CPU parity
def _parity_images() -> list[np.ndarray]:
    """Two day photos and the night photo of two Gardens Point places (../shared), else two
    rendered SynthCity views of one street and a third elsewhere."""
    from vgrerank.imageio import load_image

    if TRIPLETS.is_dir():
        return [
            load_image(next((TRIPLETS / p / i).glob("*")))
            for p in ("p0", "p1")
            for i in ("i0", "i1", "i2")
        ]
    from vgrerank.synth import Camera, make_city, render

    city = make_city({"blocks_x": 1, "blocks_y": 1, "texels_per_m": 8}, seed=0)
    cams = [(25.0, 0.0, 45.0), (25.0, 1.5, 50.0), (25.0, 15.0, 200.0)]
    return [
        render(
            city,
            Camera(x=x, y=y, z=1.7, heading_deg=h, width=480, height=360),
            {"condition": "day"},
            np.random.default_rng(i),
        )
        for i, (x, y, h) in enumerate(cams)
    ]


def _keypoint_agreement(a: Features, b: Features, tol: float = 0.5):
    """Fraction of ``a``'s keypoints with a ``b`` keypoint within ``tol`` px, and the pairs."""
    from scipy.spatial import cKDTree

    if len(a) == 0 or len(b) == 0:
        return 0.0, np.zeros(0, int), np.zeros(0, int)
    d, j = cKDTree(b.keypoints).query(a.keypoints)
    ok = d <= tol
    return float(ok.mean()), np.flatnonzero(ok), j[ok]


def _iou(m0: np.ndarray, m1: np.ndarray) -> float:
    s0, s1 = set(map(tuple, m0.tolist())), set(map(tuple, m1.tolist()))
    return len(s0 & s1) / max(1, len(s0 | s1))


EXTRACTORS = {
    "aliked": ({"type": "aliked", "model": "aliked-n16", "max_keypoints": 2048}, "aliked-n16"),
    "disk": ({"type": "disk", "max_keypoints": 2048}, "disk-depth"),
    "xfeat": ({"type": "xfeat", "max_keypoints": 4096}, "xfeat"),
}


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("name", list(EXTRACTORS))
def test_cuda_cpu_parity_local(name):
    from vgrerank.local.registry import make_extractor, make_matcher

    conf, weights = EXTRACTORS[name]
    need_weights(weights)
    images = _parity_images()
    cpu, gpu = make_extractor({**conf, "device": "cpu"}), make_extractor({**conf, "device": "cuda"})
    assert gpu.device.type == "cuda"
    fc, fg = [cpu(im) for im in images], [gpu(im) for im in images]
    for c, g in zip(fc, fg, strict=True):
        assert len(c) > 100 and abs(len(c) - len(g)) <= 0.05 * len(c), (len(c), len(g))
        frac, i, j = _keypoint_agreement(c, g)
        assert frac >= 0.95, frac
        cos = np.sum(c.descriptors[i] * g.descriptors[j], axis=1) / (
            np.linalg.norm(c.descriptors[i], axis=1) * np.linalg.norm(g.descriptors[j], axis=1)
        )
        assert np.mean(cos > 0.999) >= 0.95, np.quantile(cos, [0.01, 0.05, 0.5])

    # matchers on the same CPU features: query = first image, candidates = the others
    matchers = [({"type": "mnn"}, 0.99)]
    if name in ("aliked", "disk", "xfeat"):
        need_weights(
            {"aliked": "lightglue-aliked", "disk": "lightglue-disk", "xfeat": "lighterglue-xfeat"}[
                name
            ]
        )
        matchers.append(({"type": "lightglue", "features": name}, 0.9))
        matchers.append(
            ({"type": "lightglue", "features": name, "adaptive": False, "batch_size": 4}, 0.9)
        )
    for mconf, min_iou in matchers:
        mc, mg = make_matcher({**mconf, "device": "cpu"}), make_matcher({**mconf, "device": "cuda"})
        one_c = [mc.match(fc[0], f) for f in fc[1:]]
        one_g = [mg.match(fc[0], f) for f in fc[1:]]
        many_g = mg.match_many(fc[0], fc[1:])
        assert max(len(m) for m in one_c) > 30
        for a, b, c in zip(one_c, one_g, many_g, strict=True):
            if len(a) >= 10:
                assert _iou(a, b) >= min_iou, (mconf, _iou(a, b), len(a), len(b))
                assert _iou(a, c) >= min_iou, (mconf, _iou(a, c), len(a), len(c))


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_cuda_cpu_parity_global_classifier_rerank(tmp_path):
    from vgrerank.builder.classify import predict_images
    from vgrerank.builder.classify.train import fit_network
    from vgrerank.globaldesc.registry import make_global

    images = _parity_images()
    conf = {
        "type": "cosplace",
        "backbone": "resnet50",
        "fc_output_dim": 512,
        "random_init": True,
        "resize_max": 480,
        "seed": 0,
    }
    with pytest.warns(UserWarning):
        gc = make_global({**conf, "device": "cpu"}).describe(images)
    with pytest.warns(UserWarning):
        gg = make_global({**conf, "device": "cuda"}).describe(images)
    assert np.abs(gc - gg).max() < 2e-3, np.abs(gc - gg).max()
    assert (np.sum(gc * gg, axis=1) > 0.9995).all(), np.sum(gc * gg, axis=1)

    model = _tiny_classifier(tmp_path)
    paths = sorted((tmp_path / "day").glob("*.png")) + sorted((tmp_path / "night").glob("*.png"))
    pc = predict_images(model, paths, device="cpu", progress=False)
    pg = predict_images(model, paths, device="cuda", progress=False)
    assert np.abs(pc["p_night"].to_numpy() - pg["p_night"].to_numpy()).max() < 5e-3
    pixels = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    net, _ = fit_network(
        "mobilenetv2_050",
        pixels,
        np.array([0, 1, 0, 1]),
        2,
        epochs=1,
        device="cuda",
        progress=False,
    )
    assert next(net.parameters()).device.type == "cuda"

    (dc, meta_c), (dg, meta_g) = _rerank(tmp_path, "cpu"), _rerank(tmp_path, "cuda")
    assert meta_c["device"] == "cpu" and meta_g["device"] == "cuda"
    assert dc["rank"].tolist() == dg["rank"].tolist()
    assert dc["inliers"].tolist() == dg["inliers"].tolist()
