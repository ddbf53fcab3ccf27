"""Every study method by name through the Snakemake workflow, on random weights.

The official weights of the study's methods (SuperPoint+SuperGlue, D2-Net, DELG, DELG+RRT,
Patch-NetVLAD, TransVPR, LoFTR, CVNet) are user-supplied files that are not available offline.
Random tensors in each official checkpoint layout (built with the unit tests' helpers in
``official_layouts.py``) are written into one folder passed to the workflow as
``$VGRERANK_WEIGHTS_DIR``, under the file names the methods look up there. The config's
``presets:`` section overrides the built-in presets of the same names only to make the networks
cheaper (smaller inputs, fewer keypoints and scales, fewer Sinkhorn iterations, a 128-D
Patch-NetVLAD PCA) and to let random weights match (``match_threshold`` 0); the types, and so
the code paths, are the study's.

Checked: every method has its rows in ``recall.csv`` (R@N and intervals), a re-ranked parquet of
2 queries x 3 candidates, and its extractor's own cached query and database features; a second
dry run has nothing to do; a method without its weights file fails naming the file and its URL.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from workflow_run import TINY, run

from vgrerank.local.registry import parse_method

pytestmark = pytest.mark.slow

DS, SPLIT, K, RERANK_K, NQ = "tinycity", "day", 4, 3, 2
TARGET = ("--", "results/tables/recall.csv")  # the tables only: no plots or figures

# one method per model family (the single-scale / CPU-sized presets) ...
FAMILIES = [
    "superpoint+superglue+count",
    "d2net-ss+mnn+magsac",
    "delg+mnn+affine",
    "delg-rrt+rrt+rrt",
    "patchnetvlad+pnv-mnn+pnv-ransac",
    "transvpr+mnn+magsac",
    "loftr+loftr+count",
    "cvnet+cvnet+cvnet",
]
# ... and the other study methods (another scorer, the multi-scale D2-Net, LoFTR's image cache).
# All 13 by default (about 3 minutes on 2 cores); VGRERANK_TEST_STUDY_FAMILIES_ONLY=1 runs the 8
# above only, for slower machines.
VARIANTS = [
    "superpoint+superglue+magsac",
    "d2net-ms+mnn+magsac",
    "delg+mnn+magsac",
    "patchnetvlad+pnv-mnn+pnv-rapid",
    "loftr-image+loftr+magsac",
]
METHODS = FAMILIES + ([] if os.environ.get("VGRERANK_TEST_STUDY_FAMILIES_ONLY") else VARIANTS)

# the official Patch-NetVLAD file with a 128-D PCA (64 clusters, as the 4096-D one)
PNV_MODEL, PNV_PCS = "mapillary_WPCA128", 128

# Built-in presets overridden (same names, same types) only to run small on 2 cores; thresholds
# at 0 where random weights pass none: DELG's official attention threshold (175) keeps no cell,
# SuperGlue's and LoFTR's match confidences (0.2) keep next to no match.
_DELG = {"resize_max": 240, "score_threshold": 0.0, "global_scales": [1.0]}
PRESETS = {
    "extractors": {
        "superpoint": {"base": "superpoint", "max_keypoints": 256},
        "d2net-ss": {"base": "d2net-ss", "max_keypoints": 256, "resize_max": 240},
        "d2net-ms": {"base": "d2net-ms", "max_keypoints": 256, "resize_max": 160},
        "delg": {"base": "delg", **_DELG, "max_keypoints": 200, "scales": [0.7071, 1.0]},
        "delg-rrt": {"base": "delg-rrt", **_DELG, "scales": [1.0]},
        "patchnetvlad": {
            "base": "patchnetvlad",
            "model": PNV_MODEL,
            "num_pcs": PNV_PCS,
            "resize": [256, 192],
        },
        "transvpr": {"base": "transvpr", "resize": [320, 240]},
        "loftr": {"base": "loftr", "resize_max": 240},
        "loftr-image": {"base": "loftr-image", "resize_max": 240},
        "cvnet": {"base": "cvnet", "resize_max": 240},
    },
    "matchers": {
        "superglue": {"base": "superglue", "sinkhorn_iterations": 20, "match_threshold": 0.0},
        "loftr": {"base": "loftr", "match_threshold": 0.0},
    },
}


def write_random_weights(root: Path) -> dict[str, Path]:
    """Random checkpoints in the official layouts at ``root/<sub>/<official file name>``."""
    from official_layouts import (
        RRT_KEYS,
        SUPERGLUE_KEYS,
        SUPERPOINT_KEYS,
        cvnet_state_dict,
        d2net_state_dict,
        delg_state_dict,
        random_state_dict,
        spsg_state_dict,
        transvpr_state_dict,
    )

    from vgrerank.local.extractors.patchnetvlad import PatchNetVLADNet

    def pnv() -> dict:
        torch.manual_seed(0)
        net = PatchNetVLADNet(64, PNV_PCS, [2, 5, 8], [1, 1, 1], False)
        return {"epoch": 1, "state_dict": net.state_dict()}

    def loftr() -> dict:
        from kornia.feature import LoFTR

        torch.manual_seed(0)
        sd = LoFTR(pretrained=None).state_dict()
        return {"state_dict": {f"matcher.{k}": v for k, v in sd.items()}}

    files = {
        "superglue/superpoint_v1.pth": lambda: spsg_state_dict(SUPERPOINT_KEYS),
        "superglue/superglue_outdoor.pth": lambda: spsg_state_dict(
            SUPERGLUE_KEYS, 1, counters=False
        ),
        "d2net/d2_tf.pth": lambda: {"model": d2net_state_dict()},
        "delg/r50delg_gld_20200814.pth": delg_state_dict,
        "rrt/r50_gldv1.pt": lambda: {"state": random_state_dict(RRT_KEYS, 1), "optim": {}},
        f"patchnetvlad/{PNV_MODEL}.pth.tar": pnv,
        "transvpr/TransVPR_MSLS.pth": transvpr_state_dict,
        "loftr/loftr_outdoor.ckpt": loftr,
        "cvnet/CVPR2022_CVNet_R50.pyth": lambda: {"model_state": cvnet_state_dict(), "epoch": 1},
    }
    out = {}
    for rel, make in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(make(), path)
        out[rel] = path
    return out


def tiny_config(methods: list[str], presets: dict | None) -> dict:
    conf = yaml.safe_load(yaml.safe_dump(TINY))
    ds = conf["datasets"][DS]
    ds["splits"] = [SPLIT]
    ds["synth"]["queries"] = {SPLIT: {"condition": "day", "n": NQ}}
    conf.update(
        retrieval={"k": K},
        rerank={"k": RERANK_K},
        methods=methods,
        evaluation={"ns": [1, RERANK_K], "k_sweep": [1, RERANK_K], "bootstrap": 100},
        report={"figures": False},
    )
    if presets:
        conf["presets"] = presets
    return conf


def run_with_weights(workdir: Path, configfile: Path, weights: Path | None, *extra: str) -> str:
    """workflow_run.run with ``$VGRERANK_WEIGHTS_DIR`` set to ``weights`` (unset: None)."""
    with pytest.MonkeyPatch.context() as mp:
        if weights is None:
            mp.delenv("VGRERANK_WEIGHTS_DIR", raising=False)
        else:
            mp.setenv("VGRERANK_WEIGHTS_DIR", str(weights))
        return run(workdir, configfile, *extra)


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("study")
    weights = work / "weights"
    start = time.perf_counter()
    write_random_weights(weights)
    cfg = work / "study.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(METHODS, PRESETS)))
    out = run_with_weights(work, cfg, weights, *TARGET)
    print(f"study methods workflow: {time.perf_counter() - start:.1f} s")  # noqa: T201
    return work, cfg, weights, out


def _parsed(method: str) -> dict:
    return parse_method(method, PRESETS)


def test_every_method_reranks_and_is_evaluated(study_run):
    work, *_ = study_run
    recall = pd.read_csv(work / "results/tables/recall.csv")
    n = f"R@{RERANK_K}"
    assert {"R@1", "R@1_lo", "R@1_hi", n, f"{n}_lo", f"{n}_hi"} <= set(recall.columns)
    assert set(recall.dataset) == {DS} and set(recall.split) == {SPLIT}
    gdir = next((work / f"results/{DS}/{SPLIT}/rerank").iterdir())
    assert gdir.name.endswith(f"-K{RERANK_K}")
    for method in METHODS:
        tag = _parsed(method)["tag"]
        rows = recall[recall.method == tag]
        assert len(rows) == 1, (method, tag, sorted(recall.method))
        row = rows.iloc[0]
        assert row["queries"] == NQ and row["K"] == RERANK_K and row["depth"] == K
        assert 0 <= row["R@1_lo"] <= row["R@1"] <= row["R@1_hi"] <= 1
        assert row["R@1"] <= row[n] + 1e-9
        assert 0 <= row[f"{n}_lo"] <= row[n] <= row[f"{n}_hi"] <= 1
        rr = pd.read_parquet(gdir / f"{tag}.parquet")
        assert len(rr) == NQ * RERANK_K, method
        assert rr["query"].nunique() == NQ
        assert (
            rr.groupby("query")["rank"].apply(sorted).map(list).tolist()
            == [list(range(RERANK_K))] * NQ
        )
        assert rr["score"].notna().all(), method
        # every extractor gave points and every matcher paired some (random weights included)
        assert (rr["num_matches"] > 0).all(), (method, rr["num_matches"].tolist())
        if tag.endswith("+count"):
            assert (rr["score"] == rr["num_matches"]).all(), method


def test_every_extractor_has_its_own_feature_cache(study_run):
    work, *_ = study_run
    etags = {_parsed(m)["extractor"]["tag"] for m in METHODS}
    # one cache per extractor preset: none shares another's
    assert len(etags) == len({m.split("+")[0] for m in METHODS})
    for etag in etags:
        local = work / f"results/{DS}/local/{etag}"
        assert (local / f"queries_{SPLIT}.h5").stat().st_size > 0, etag
        shards = list((local / "db").glob("*.h5"))
        assert shards and all(p.stat().st_size > 0 for p in shards), etag


def test_second_dry_run_has_nothing_to_do(study_run):
    work, cfg, weights, _ = study_run
    assert "Nothing to be done" in run_with_weights(work, cfg, weights, "-n", *TARGET)


def test_missing_weights_fail_naming_the_file_and_url(study_run):
    """A method whose weights are not in place: the job fails and says which file and where to
    download it. Same work folder (dataset, retrieval cached); a preset the main run did not
    extract (the built-in D2-Net single-scale, a new cache) and no $VGRERANK_WEIGHTS_DIR."""
    work, *_ = study_run
    cfg = work / "missing.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(["d2net-ss+mnn+count"], None)))
    with pytest.raises(AssertionError, match="snakemake failed") as err:
        run_with_weights(work, cfg, None, *TARGET)
    msg = str(err.value)
    assert "d2_tf.pth" in msg and "https://dusmanu.com/files/d2-net/d2_tf.pth" in msg
    assert "VGRERANK_WEIGHTS_DIR" in msg
    etag = parse_method("d2net-ss+mnn+count")["extractor"]["tag"]
    assert not (work / f"results/{DS}/local/{etag}/queries_{SPLIT}.h5").exists()
