"""CosPlace training: UTM classes and groups from '@' names, the CosFace loss, a short seeded
training whose checkpoint loads strictly like an official one, and the workflow rule."""

import itertools
import math
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
from vgrerank.globaldesc.cosplace_groups import class_of, group_of, list_images, make_groups


def _name(east, north, heading, note=""):
    return format_name(ImageInfo(utm_east=east, utm_north=north, heading=heading, note=note))


def test_class_cell_and_bin_arithmetic():
    assert class_of(25.0, 37.5, 100.0, 10, 45) == (2, 3, 2)
    assert class_of(380012.0, 3950009.9, 44.99, 10, 45) == (38001, 395000, 0)
    # negative coordinates floor towards -inf: -3 and -10 are both in cell -1, -10.01 in -2
    assert class_of(-3.0, -10.0, 0.0, 10, 45)[:2] == (-1, -1)
    assert class_of(-10.01, 0.0, 0.0, 10, 45)[0] == -2
    # headings wrap at 360
    assert class_of(0, 0, 360.0, 10, 45)[2] == 0
    assert class_of(0, 0, 359.99, 10, 45)[2] == 7
    assert class_of(0, 0, -10.0, 10, 45)[2] == 7
    assert class_of(0, 0, 720.0 + 50.0, 10, 45)[2] == 1
    assert group_of((-1, -4, 7), 3, 2) == (2, 2, 1)
    assert group_of((5, 6, 4), 3, 2) == (2, 0, 0)


def test_groups_are_separated_by_N_cells_or_L_bins():
    M, alpha, N, L = 10.0, 30.0, 3, 2
    names = [
        _name(e + 0.5, n + 0.5, h + 1.0)
        for e, n, h in itertools.product(range(-60, 60, 10), range(-40, 40, 10), range(0, 360, 30))
    ]
    grp = make_groups(names, M, alpha, N, L)
    assert len(grp.groups) == N * N * L
    assert sum(len(g) for g in grp.groups) == 12 * 8 * 12
    for gid, classes in zip(grp.group_ids, grp.groups, strict=True):
        for a, b in itertools.combinations(classes, 2):
            dbin = abs(a[2] - b[2]) % 12
            dbin = min(dbin, 12 - dbin)  # across the wrap at 360
            assert abs(a[0] - b[0]) >= N or abs(a[1] - b[1]) >= N or dbin >= L
        assert all(group_of(c, N, L) == gid for c in classes)
    # min_images_per_class drops classes; groups_num keeps the largest groups
    names2 = names + [_name(0.5, 0.5, 1.0, note="x")]
    grp2 = make_groups(names2, M, alpha, N, L, min_images_per_class=2)
    assert grp2.summary()["classes"] == 1 and grp2.dropped_classes == 12 * 8 * 12 - 1
    assert len(make_groups(names, M, alpha, N, L, groups_num=4).groups) == 4


def test_bad_parameters_and_names():
    names = [_name(0.0, 0.0, 0.0)]
    with pytest.raises(ConfigError, match=r"cosplace_train\.M"):
        make_groups(names, 0, 45, 3, 2)
    with pytest.raises(ConfigError, match=r"cosplace_train\.alpha"):
        make_groups(names, 10, 50, 3, 2)
    with pytest.raises(ConfigError, match=r"cosplace_train\.L"):
        make_groups(names, 10, 45, 3, 3)  # 8 bins, L=3
    with pytest.raises(ConfigError, match=r"cosplace_train\.N"):
        make_groups(names, 10, 45, 0, 2)
    with pytest.raises(DataError, match=r"data/x/photo_001\.jpg"):
        make_groups(["photo_001.jpg"], 10, 45, 3, 2, root="data/x")
    with pytest.raises(DataError, match="heading"):
        make_groups([format_name(ImageInfo(1.0, 2.0))], 10, 45, 3, 2)
    with pytest.raises(DataError, match="min_images_per_class"):
        make_groups(names, 10, 45, 3, 2, min_images_per_class=2)
    from vgrerank.globaldesc.cosplace_train import check_conf

    for bad, key in (({"M": -1}, "M"), ({"m": 1.5}, "m"), ({"image_size": [8, 8]}, "image_size"),
                     ({"batch_size": 0}, "batch_size"), ({"backbone": "vgg"}, "backbone")):  # fmt: skip
        with pytest.raises(ConfigError, match=key):
            check_conf(bad)


def test_cosface_against_hand_computation():
    import torch

    from vgrerank.globaldesc.cosplace_train import cosface_logits

    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    w = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 1])
    logits, cos = cosface_logits(x, w, y, s=2.0, m=0.5)
    r = 1 / math.sqrt(2)
    expect = [[2 * (1 - 0.5), 2 * r], [0.0, 2 * (r - 0.5)]]
    assert torch.allclose(logits, torch.tensor(expect), atol=1e-6)
    assert torch.allclose(cos, torch.tensor([[1.0, r], [0.0, r]]), atol=1e-6)
    ce = -(math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(2 * r))))
    ce += -(math.log(math.exp(2 * (r - 0.5)) / (1.0 + math.exp(2 * (r - 0.5)))))
    got = torch.nn.functional.cross_entropy(logits, y)
    assert abs(float(got) - ce / 2) < 1e-5


def _tiny_images(root: Path, n_classes=4):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for c in range(n_classes):
        img = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(root / _name(-15.0 + 20 * c, 5.0, 10.0)), img)


TINY_CONF = {
    "image_size": [32, 24], "batch_size": 4, "epochs": 1, "iterations_per_epoch": 2,
    "min_images_per_class": 1, "M": 10, "alpha": 360, "N": 1, "L": 1, "crop_scale": 1.0,
    "jitter": 0.0, "seed": 3,
}  # fmt: skip


def test_two_steps_reduce_loss_and_checkpoint_loads_strictly(tmp_path, torch_one_thread):
    from vgrerank.globaldesc.cosplace import CosPlace, build_network, load_checkpoint
    from vgrerank.globaldesc.cosplace_train import train_cosplace

    _tiny_images(tmp_path / "imgs")
    summary = train_cosplace(tmp_path / "imgs", tmp_path / "m.pth", TINY_CONF, progress=False)
    ep = summary["epochs"][0]
    assert ep["last_loss"] < ep["first_loss"]
    assert summary["classes"] == 4 and (tmp_path / "m.json").is_file()
    load_checkpoint(build_network("resnet18", 512), tmp_path / "m.pth")  # strict: raises if not
    desc = CosPlace({"weights": str(tmp_path / "m.pth"), "device": "cpu", "resize_max": 32})
    out = desc.describe([np.zeros((48, 64, 3), np.uint8)])
    assert out.shape == (1, 512) and abs(float(np.linalg.norm(out)) - 1) < 1e-4
    # the same conf gives the same bytes; another seed does not
    train_cosplace(tmp_path / "imgs", tmp_path / "m2.pth", TINY_CONF, progress=False)
    assert (tmp_path / "m.pth").read_bytes() == (tmp_path / "m2.pth").read_bytes()
    train_cosplace(tmp_path / "imgs", tmp_path / "m3.pth", {**TINY_CONF, "seed": 4}, progress=False)
    assert (tmp_path / "m.pth").read_bytes() != (tmp_path / "m3.pth").read_bytes()


def test_folder_without_utm_names_is_named(tmp_path):
    from vgrerank.globaldesc.cosplace_train import train_cosplace

    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "IMG_0001.jpg"), np.zeros((24, 32, 3), np.uint8))
    assert list_images(tmp_path / "imgs") == ["IMG_0001.jpg"]
    with pytest.raises(DataError, match="IMG_0001.jpg"):
        train_cosplace(tmp_path / "imgs", tmp_path / "m.pth", TINY_CONF, progress=False)
    with pytest.raises(ConfigError, match="does not exist"):
        train_cosplace(tmp_path / "nowhere", tmp_path / "m.pth", TINY_CONF, progress=False)


@pytest.mark.slow
def test_workflow_trains_then_retrieves(tmp_path):
    """`global: [<preset based on cosplace-trained>]`: the DAG renders the training city,
    trains, then describes the test city with the checkpoint."""
    conf = {
        "run_datasets": ["tiny"],
        "datasets": {"tiny": {"format": "vg", "splits": ["night"], "synth": {
            "width": 160, "height": 120, "blocks_x": 1, "blocks_y": 1, "db_spacing_m": 20.0,
            "db_headings": 2, "queries": {"night": {"condition": "night", "n": 3}}}}},
        "global": ["cp-tiny"],
        "presets": {"global": {"cp-tiny": {"base": "cosplace-trained", "resize_max": 32}}},
        "retrieval": {"k": 4}, "rerank": {"k": 4}, "methods": [],
        "evaluation": {"bootstrap": 100, "ns": [1, 4], "k_sweep": [1, 4]},
        "cosplace_train": {
            **{k: v for k, v in TINY_CONF.items() if k != "seed"}, "iterations_per_epoch": 1,
            "city": {"blocks_x": 1, "blocks_y": 1, "db_spacing_m": 20.0}, "headings": 2,
            "conditions": ["day", "night"], "supersample": 1},
    }  # fmt: skip
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    cmd = [sys.executable, "-m", "snakemake", "results/tables/recall.csv", "-s",
           str(SNAKEFILE), "--directory", str(tmp_path / "w"), "--cores", "1",
           "--configfile", str(cfg)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for job in ("cosplace_trainset", "cosplace_train", "global_database"):
        assert job in proc.stdout + proc.stderr
    w = tmp_path / "w"
    # the trained preset's database descriptors depend on the checkpoint: made after it
    ckpt = w / "results/cosplace/cosplace-trained.pth"
    (db,) = [p for p in (w / "results").rglob("global/*/database.h5") if "cp-tiny" in str(p)]
    assert db.stat().st_mtime_ns > ckpt.stat().st_mtime_ns
    assert (w / "results/cosplace/cosplace-trained.json").is_file()
    assert "cp-tiny" in (w / "results/tables/recall.csv").read_text()
    # a preset that does not match the trained network fails at DAG build, naming the key
    conf["presets"]["global"]["cp-tiny"]["resize_max"] = 64
    cfg.write_text(yaml.safe_dump(conf))
    proc = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode != 0 and "resize_max=64" in proc.stdout + proc.stderr
