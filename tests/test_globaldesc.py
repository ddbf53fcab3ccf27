"""Global descriptors: VLAD (fit / state / PCA), CosPlace checkpoint loading, HDF5, extraction."""

from __future__ import annotations

import cv2
import h5py
import numpy as np
import pytest

from vgrerank.errors import ConfigError, DataError
from vgrerank.globaldesc.extract import extract_database, extract_queries
from vgrerank.globaldesc.registry import GLOBALS, get_global_preset, make_global
from vgrerank.globaldesc.vlad import VLAD, dense_rootsift
from vgrerank.io.global_h5 import check_compatible, read_global, write_global

SMALL = {"k": 8, "resize_max": 128, "step": 8, "scales": [16, 24], "fit_per_image": 200}


def synth_image(seed: int, h: int = 96, w: int = 128) -> np.ndarray:
    """Textured RGB image: smoothed noise plus a few random rectangles and circles."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 1.5)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(
                img,
                (x0, y0),
                (x0 + int(rng.integers(5, 40)), y0 + int(rng.integers(5, 40))),
                color,
                -1,
            )
        else:
            cv2.circle(img, (x0, y0), int(rng.integers(3, 20)), color, -1)
    return img


@pytest.fixture(scope="module")
def images():
    return [synth_image(i) for i in range(12)]


@pytest.fixture(scope="module")
def fitted(images):
    v = VLAD(SMALL)
    v.fit(lambda i: images[i], 8, seed=0)
    return v


def test_dense_rootsift_is_rootsift():
    gray = cv2.cvtColor(synth_image(0), cv2.COLOR_RGB2GRAY)
    d = dense_rootsift(gray, step=8, scales=[16, 24])
    assert d.shape[1] == 128 and len(d) > 100 and d.dtype == np.float32
    assert np.all(d >= 0)
    # RootSIFT: squared entries sum to one (L1-normalised SIFT under the square root)
    nz = (d**2).sum(1) > 0
    np.testing.assert_allclose((d[nz] ** 2).sum(1), 1.0, atol=1e-4)


def test_vlad_shapes_norm_and_state(images, fitted):
    assert fitted.dim == 8 * 128
    x = fitted.describe(images[8:])
    assert x.shape == (4, 1024) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    # different images -> different descriptors
    assert np.abs(x[0] - x[1]).max() > 1e-3
    state = fitted.state()
    assert set(state) == {"centroids"} and state["centroids"].shape == (8, 128)
    other = VLAD(SMALL)
    other.load_state({k: v.copy() for k, v in state.items()})
    np.testing.assert_array_equal(other.describe(images[8:]), x)


def test_vlad_deterministic_with_seed(images, fitted):
    again = VLAD(SMALL)
    again.fit(lambda i: images[i], 8, seed=0)
    np.testing.assert_array_equal(again.state()["centroids"], fitted.state()["centroids"])
    other = VLAD(SMALL)
    other.fit(lambda i: images[i], 8, seed=1)
    assert not np.array_equal(other.state()["centroids"], fitted.state()["centroids"])


def test_vlad_pca_whitening(images):
    v = VLAD({**SMALL, "pca_dim": 6})
    v.fit(lambda i: images[i], 10, seed=0)
    assert v.dim == 6
    x = v.describe(images)
    assert x.shape == (12, 6)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    st = v.state()
    assert st["pca_proj"].shape == (1024, 6) and st["pca_mean"].shape == (1024,)
    restored = VLAD({**SMALL, "pca_dim": 6})
    restored.load_state(st)
    np.testing.assert_array_equal(restored.describe(images[:3]), x[:3])
    with pytest.raises(ConfigError, match="pca_dim"):
        VLAD({**SMALL, "pca_dim": 50}).fit(lambda i: images[i], 10, seed=0)


def test_vlad_unfitted_and_too_few_descriptors():
    with pytest.raises(DataError, match="not fitted"):
        VLAD(SMALL).describe([synth_image(0)])
    tiny = [np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(DataError, match="fewer than k"):
        VLAD({**SMALL, "step": 100}).fit(lambda i: tiny[i], 1)


def test_registry_presets():
    conf = get_global_preset("vlad-rootsift-64")
    assert conf["type"] == "vlad" and conf["k"] == 64 and conf["tag"] == "vlad-dsift-k64-r480-exact"
    assert get_global_preset("vlad-aliked-64")["local"] == "aliked"
    assert get_global_preset("cosplace-r18-512")["fc_output_dim"] == 512
    tags = [get_global_preset(n)["tag"] for n in GLOBALS]
    assert len(set(tags)) == len(tags)
    user = {"myvlad": {"base": "vlad-rootsift-64", "k": 32}}
    mine = get_global_preset("myvlad", user)
    assert mine["k"] == 32 and mine["step"] == 8 and mine["tag"].startswith("myvlad-")
    with pytest.raises(ConfigError, match="unknown global descriptor preset"):
        get_global_preset("nope")
    with pytest.raises(ConfigError, match="type"):
        get_global_preset("bad", {"bad": {"type": "netvlad", "tag": "x"}})
    assert isinstance(make_global(conf), VLAD)


def test_learned_vlad_uses_local_registry(monkeypatch, images):
    """``local: <extractor preset>`` aggregates that extractor's descriptors."""
    from vgrerank.local import registry as lreg
    from vgrerank.local.base import Extractor, Features

    class Fake(Extractor):
        def extract(self, image):
            rng = np.random.default_rng(int(image.sum()) % 1000)
            d = rng.standard_normal((300, 16)).astype(np.float32)
            return Features(np.zeros((300, 2)), d, np.ones(300), image.shape[1::-1])

    seen = {}

    def fake_make(conf):
        seen["conf"] = conf
        return Fake(conf)

    monkeypatch.setattr(lreg, "make_extractor", fake_make)
    v = VLAD({"local": "aliked", "k": 4})
    v.fit(lambda i: images[i], 4, seed=0)
    assert seen["conf"]["type"] == "aliked"
    assert v.dim == 4 * 16
    x = v.describe(images[:2])
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


# ------------------------------------------------------------------------------- CosPlace
COSPLACE = {"type": "cosplace", "backbone": "resnet18", "fc_output_dim": 32, "tag": "cp"}


def test_cosplace_round_trip(tmp_path):
    import torch

    from vgrerank.globaldesc.cosplace import build_network

    torch.manual_seed(3)
    net = build_network("resnet18", 32)
    with torch.no_grad():
        net.aggregation[1].p.fill_(2.5)
    sd = net.state_dict()
    assert "backbone.0.weight" in sd and "backbone.4.0.conv1.weight" in sd
    assert "aggregation.1.p" in sd and sd["aggregation.3.weight"].shape == (32, 512)
    path = tmp_path / "ResNet18_32_cosplace.pth"
    torch.save(sd, path)
    ims = [synth_image(i, 64, 80) for i in range(3)] + [synth_image(9, 72, 64)]
    desc = make_global({**COSPLACE, "weights": str(path), "device": "cpu"})
    x = desc.describe(ims)
    assert x.shape == (4, 32) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    # reference: the saved network itself on the normalised image
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    net.eval()
    with torch.no_grad():
        for i, im in enumerate(ims):
            t = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255.0
            ref = net((t - mean) / std).numpy()[0]
            np.testing.assert_allclose(x[i], ref, atol=1e-5)
    # DataParallel / wrapped checkpoints load too
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in sd.items()}}, wrapped)
    y = make_global({**COSPLACE, "weights": str(wrapped), "device": "cpu"}).describe(ims[:1])
    np.testing.assert_allclose(y, x[:1], atol=1e-6)


def test_cosplace_bad_layout(tmp_path):
    import torch

    from vgrerank.globaldesc.cosplace import build_network

    sd = build_network("resnet18", 32).state_dict()
    renamed = {k.replace("aggregation.3", "fc"): v for k, v in sd.items()}
    bad = tmp_path / "bad.pth"
    torch.save(renamed, bad)
    with pytest.raises(DataError, match=r"bad\.pth.*missing keys.*aggregation\.3\.weight"):
        make_global({**COSPLACE, "weights": str(bad)}).describe([synth_image(0, 64, 64)])
    wrong_dim = tmp_path / "dim.pth"
    torch.save(sd, wrong_dim)
    with pytest.raises(DataError, match=r"dim\.pth.*shape mismatches.*aggregation\.3\.weight"):
        make_global({**COSPLACE, "fc_output_dim": 64, "weights": str(wrong_dim)}).describe(
            [synth_image(0, 64, 64)]
        )
    with pytest.raises(ConfigError, match="missing.pth"):
        make_global({**COSPLACE, "weights": str(tmp_path / "missing.pth")}).describe(
            [synth_image(0)]
        )
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="garbage.pth"):
        make_global({**COSPLACE, "weights": str(garbage)}).describe([synth_image(0)])
    with pytest.raises(ConfigError, match="weights"):
        make_global(COSPLACE).describe([synth_image(0)])
    with pytest.raises(ConfigError, match="backbone"):
        make_global({**COSPLACE, "backbone": "vgg16"})


# ------------------------------------------------------------------------------- HDF5 + extract
def test_global_h5_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7)).astype(np.float32)
    names = ["a/ü.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    state = {"centroids": rng.standard_normal((3, 4)).astype(np.float32)}
    write_global(tmp_path / "db.h5", names, x, {"type": "vlad", "tag": "t"}, state)
    g = read_global(tmp_path / "db.h5")
    assert g.names == names and g.tag == "t" and g.conf["type"] == "vlad" and g.dim == 7
    np.testing.assert_array_equal(g.descriptors, x)
    np.testing.assert_array_equal(g.state["centroids"], state["centroids"])
    assert g.attrs["dim"] == 7 and g.attrs["role"] == "database"
    write_global(
        tmp_path / "q.h5", names[:2], x[:2, :6], {"type": "vlad", "tag": "t"}, role="queries"
    )
    with pytest.raises(DataError, match=r"db\.h5.*D=7.*q\.h5.*D=6"):
        check_compatible(g, read_global(tmp_path / "q.h5"))
    with pytest.raises(DataError, match="missing.h5"):
        read_global(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f.create_dataset("names", data=["x"])
    with pytest.raises(DataError, match=r"bad\.h5.*descriptors"):
        read_global(tmp_path / "bad.h5")
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.h5"):
        read_global(tmp_path / "junk.h5")


def test_extract_database_and_queries(tmp_path, images):
    root = tmp_path / "ds"
    (root / "db").mkdir(parents=True)
    (root / "q").mkdir()
    dbn = [f"db/{i:02d}.png" for i in range(8)]
    qn = [f"q/{i:02d}.png" for i in range(3)]
    for n, im in zip(dbn + qn, images[:8] + images[8:11], strict=True):
        cv2.imwrite(str(root / n), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    conf = {"type": "vlad", **SMALL, "pca_dim": 4, "tag": "vlad-test"}
    extract_database(conf, root, dbn, tmp_path / "db.h5", seed=0)
    extract_queries(conf, tmp_path / "db.h5", root, qn, tmp_path / "q.h5")
    db, q = read_global(tmp_path / "db.h5"), read_global(tmp_path / "q.h5")
    assert db.names == dbn and q.names == qn
    assert db.descriptors.shape == (8, 4) and q.descriptors.shape == (3, 4)
    assert set(db.state) == {"centroids", "pca_mean", "pca_proj"}
    # the same as fitting in memory with the same seed (fit() == extract's one-pass PCA path)
    v = VLAD({**SMALL, "pca_dim": 4})
    v.fit(lambda i: images[i], 8, seed=0)
    np.testing.assert_allclose(db.descriptors, v.describe(images[:8]), atol=1e-5)
    np.testing.assert_allclose(q.descriptors, v.describe(images[8:11]), atol=1e-5)
    # query file near-duplicates of the database images retrieve them
    extract_queries(conf, tmp_path / "db.h5", root, dbn[:3], tmp_path / "q2.h5")
    np.testing.assert_allclose(
        read_global(tmp_path / "q2.h5").descriptors, db.descriptors[:3], atol=1e-5
    )
    # errors
    with pytest.raises(DataError, match="no images in"):
        extract_database(conf, root, [], tmp_path / "x.h5")
    with pytest.raises(DataError, match="no images in"):
        extract_queries(conf, tmp_path / "db.h5", root, [], tmp_path / "x.h5")
    (root / "q" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="broken.png"):
        extract_queries(conf, tmp_path / "db.h5", root, ["q/broken.png"], tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(ConfigError, match="differs"):
        extract_queries({**conf, "tag": "other"}, tmp_path / "db.h5", root, qn, tmp_path / "x.h5")
