"""Errors that must not hide: degenerate pairs counted, clamped K recorded, bad input named
(issue 9): scorers, re-ranking depth, presets, manifests, VG names, parquet reading, faiss logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
from workflow_run import REPO, SNAKEFILE

from vgrerank.errors import ConfigError, DataError
from vgrerank.io.local_h5 import write_features
from vgrerank.local.base import Features
from vgrerank.local.registry import parse_method
from vgrerank.local.scorers.geometric import AffineScorer, HomographyScorer


# ------------------------------------------------------------------ helpers
def _feats(kpts, desc, size=(200, 200)) -> Features:
    kpts = np.asarray(kpts, np.float32)
    return Features(kpts, np.asarray(desc, np.float32), np.ones(len(kpts), np.float32), size)


def _unit(n, d=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _write_retrieval(path: Path, indices, query_names, db_names) -> Path:
    indices = np.asarray(indices, np.int64)
    with h5py.File(path, "w") as f:
        f.create_dataset("indices", data=indices)
        f.create_dataset("distances", data=np.zeros(indices.shape, np.float32))
        s = h5py.string_dtype("utf-8")
        f.create_dataset("query_names", data=query_names, dtype=s)
        f.create_dataset("db_names", data=db_names, dtype=s)
        f.attrs["k"] = indices.shape[1]
        f.attrs["complete"] = True
    return path


def _rerank_inputs(tmp_path: Path, db_kpts: dict[str, np.ndarray], k: int | None = None):
    """One query with 30 keypoints; database images whose keypoints ``db_kpts[name]`` carry the
    query's first len(kpts) descriptors (so mutual NN matches them one to one)."""
    rng = np.random.default_rng(1)
    qk = rng.uniform(10, 190, (30, 2))
    desc = _unit(30)
    conf = {"tag": "t", "type": "sift"}
    write_features(tmp_path / "q.h5", [("queries/q0.jpg", _feats(qk, desc), 0.01)], conf)
    names = sorted(db_kpts)
    items = []
    for name in names:
        kp = np.asarray(db_kpts[name], np.float64)
        if kp is None or len(kp) == 0:
            kp = np.zeros((0, 2))
        items.append((name, _feats(kp, desc[: len(kp)]), 0.01))
    write_features(tmp_path / "db.h5", items, conf)
    kk = len(names) if k is None else k
    ret = _write_retrieval(tmp_path / "ret.h5", [list(range(kk))], ["queries/q0.jpg"], names)
    return qk, ret


def _run_rerank(tmp_path, ret, k, method="sift+mnn+magsac"):
    from vgrerank.rerank import read_parquet_meta, rerank

    out = tmp_path / "out.parquet"
    df = rerank(
        parse_method(method), ret, tmp_path / "q.h5", tmp_path / "db.h5", out, k=k, device="cpu"
    )
    return df, read_parquet_meta(out), out


# ------------------------------------------------------------------ 1. degenerate pairs
def test_geometric_scorer_degenerate_inputs_are_marked():
    from vgrerank.local.scorers import DegenerateScore

    f0 = _feats(np.zeros((10, 2)), np.zeros((10, 4)))
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 100, (20, 2))
    line = np.c_[np.arange(20.0), 2 * np.arange(20.0) + 3]
    for scorer in (HomographyScorer({}), AffineScorer({})):
        few = scorer.score(p[:2], p[:2], f0, f0)
        assert isinstance(few, DegenerateScore) and few.reason == "too few matches"
        assert (few.score, few.inliers, few.num_matches) == (0.0, 0, 2)
        col = scorer.score(line, p, f0, f0)
        assert isinstance(col, DegenerateScore) and "collinear" in col.reason
        same = np.repeat(p[:1], 10, axis=0)
        assert isinstance(scorer.score(same, same, f0, f0), DegenerateScore)
        good = scorer.score(p, p + 5, f0, f0)
        assert not isinstance(good, DegenerateScore) and good.inliers == 20


def test_geometric_scorer_other_errors_raise(monkeypatch):
    f0 = _feats(np.zeros((10, 2)), np.zeros((10, 4)))
    p = np.random.default_rng(0).uniform(0, 100, (20, 2))
    s = HomographyScorer({})
    bad = p.copy()
    bad[3, 0] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        s.score(bad, p, f0, f0)

    def boom(self, p0, p1):
        raise cv2.error("synthetic OpenCV failure")

    monkeypatch.setattr(HomographyScorer, "_fit", boom)
    with pytest.raises(DataError, match="synthetic OpenCV failure"):
        s.score(p, p, f0, f0)


def test_rerank_counts_degenerate_pairs_and_logs_them(tmp_path, caplog):
    rng = np.random.default_rng(1)
    qk = rng.uniform(10, 190, (30, 2))
    line = np.c_[np.linspace(0, 100, 30), np.linspace(5, 60, 30)]
    db = {
        "db/a_good.jpg": qk + [4.0, -2.0],  # a translation of the query: 30 inliers
        "db/b_line.jpg": line,  # collinear: no homography
        "db/c_few.jpg": qk[:2],  # two matches
    }
    _, ret = _rerank_inputs(tmp_path, db)
    caplog.set_level(logging.INFO, logger="vgrerank")
    df, meta, _ = _run_rerank(tmp_path, ret, k=3)
    assert meta["degenerate_pairs"] == 2 and meta["pairs"] == 3
    assert meta["degenerate_reasons"] == {"collinear or coincident points": 1, "too few matches": 1}
    assert df.loc[df.db_name == "db/a_good.jpg", "rank"].item() == 0
    assert "2 of 3 (query, candidate) pairs are degenerate" in caplog.text


def test_rerank_scorer_error_names_query_and_candidate(tmp_path):
    rng = np.random.default_rng(1)
    qk = rng.uniform(10, 190, (30, 2))
    bad = qk.copy()
    bad[5] = np.inf
    _, ret = _rerank_inputs(tmp_path, {"db/fine.jpg": qk + 1, "db/broken.jpg": bad})
    with pytest.raises(DataError) as err:
        _run_rerank(tmp_path, ret, k=2)
    msg = str(err.value)
    assert "queries/q0.jpg" in msg and "db/broken.jpg" in msg and "non-finite" in msg


# ------------------------------------------------------------------ 2. effective K
def test_rerank_k_larger_than_database_is_recorded_and_logged(tmp_path, caplog):
    rng = np.random.default_rng(1)
    qk = rng.uniform(10, 190, (30, 2))
    _, ret = _rerank_inputs(tmp_path, {"db/a.jpg": qk + 1, "db/b.jpg": qk + 2})
    caplog.set_level(logging.INFO, logger="vgrerank")
    df, meta, _ = _run_rerank(tmp_path, ret, k=10)
    assert meta["k"] == 2 and meta["k_requested"] == 10 and len(df) == 2
    assert "effective K=2" in caplog.text and "WARNING" in [r.levelname for r in caplog.records]


def test_rerank_shallow_retrieval_file_is_an_error(tmp_path):
    rng = np.random.default_rng(1)
    qk = rng.uniform(10, 190, (30, 2))
    # three database images but the retrieval file keeps only the top 2
    db = {"db/a.jpg": qk + 1, "db/b.jpg": qk + 2, "db/c.jpg": qk + 3}
    _, ret = _rerank_inputs(tmp_path, db, k=2)
    with pytest.raises(DataError) as err:
        _run_rerank(tmp_path, ret, k=3)
    assert str(ret) in str(err.value) and "K=3" in str(err.value)


# ------------------------------------------------------------------ 7. parquet reading
def test_truncated_parquet_names_the_file(tmp_path):
    from vgrerank.rerank import read_parquet_meta, read_rerank, write_parquet

    good = tmp_path / "good.parquet"
    write_parquet(pd.DataFrame({"query": [0, 0], "score": [1.0, 2.0]}), good, {"k": 2})
    assert read_rerank(good, columns=["score"])["score"].tolist() == [1.0, 2.0]
    assert read_parquet_meta(good) == {"k": 2}
    bad = tmp_path / "trunc.parquet"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    for fn in (read_rerank, read_parquet_meta):
        with pytest.raises(DataError, match="trunc.parquet"):
            fn(bad)
    with pytest.raises(DataError, match="missing.parquet"):
        read_rerank(tmp_path / "missing.parquet")
    with pytest.raises(DataError, match="good.parquet"):
        read_rerank(good, columns=["nope"])


# ------------------------------------------------------------------ 8. faiss loader noise
def test_retrieval_log_has_no_faiss_loader_noise(tmp_path):
    from vgrerank.io.global_h5 import write_global

    conf = {"type": "vlad", "tag": "g"}
    write_global(tmp_path / "db.h5", [f"d{i}.jpg" for i in range(20)], _unit(20, 8), conf)
    write_global(tmp_path / "q.h5", ["q0.jpg", "q1.jpg"], _unit(2, 8, seed=3), conf, role="queries")
    log = tmp_path / "retrieve.log"
    code = (
        "import sys\n"
        "from vgrerank.logs import logged\n"
        "from vgrerank.retrieval import retrieve\n"
        "with logged(sys.argv[1]):\n"
        "    retrieve(sys.argv[2], sys.argv[3], sys.argv[4], k=5)\n"
    )
    # a fresh interpreter: faiss is imported (and its loader logs) only once per process
    subprocess.run(
        [sys.executable, "-c", code, str(log), *(str(tmp_path / n) for n in ("db.h5", "q.h5"))]
        + [str(tmp_path / "ret.h5")],
        check=True,
        cwd=REPO,
        timeout=120,
    )
    text = log.read_text()
    assert (tmp_path / "ret.h5").is_file()
    assert (
        "faiss.loader" not in text and "swigfaiss" not in text and "ModuleNotFoundError" not in text
    )


# ------------------------------------------------------------------ 3. no bare RuntimeError
def test_no_bare_runtime_error_raised_in_library_or_scripts():
    import ast

    offenders = []
    files = list((REPO / "src").rglob("*.py"))
    for path in [*files, *(REPO / "workflow/scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in ("RuntimeError", "Exception"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, f"raise DataError/ConfigError naming the file or key: {offenders}"


# ------------------------------------------------------------------ 5. manifests, VG names
def _manifest(tmp_path: Path, rows: list[str]) -> Path:
    from PIL import Image

    for sub in ("db", "q"):
        (tmp_path / sub).mkdir(exist_ok=True)
    for row in rows:
        img = tmp_path / row.split(",")[0]
        if not img.exists():
            Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(img)
    path = tmp_path / "manifest.csv"
    path.write_text("name,east,north,heading,condition,set\n" + "\n".join(rows) + "\n")
    return path


GOOD_ROWS = [
    "db/a.jpg,100.0,200.0,90,,database",
    "db/b.jpg,105.0,200.0,,,database",
    "q/x.jpg,101.0,201.0,,night,query",
]


def test_manifest_accepts_good_rows(tmp_path):
    from vgrerank.datasets.readers import read_manifest

    ds = read_manifest("m", _manifest(tmp_path, GOOD_ROWS))
    assert ds.database.names == ["db/a.jpg", "db/b.jpg"] and len(ds.split("night")) == 1
    assert np.isnan(ds.database.heading[1])


@pytest.mark.parametrize(
    "row, line, column",
    [
        ("q/y.jpg,nan,201.0,,night,query", 5, "east"),
        ("q/y.jpg,101.0,inf,,night,query", 5, "north"),
        ("q/y.jpg,101.0,-Infinity,,night,query", 5, "north"),
        ("q/y.jpg,101.0,201.0,nan,night,query", 5, "heading"),
    ],
)
def test_manifest_non_finite_values_name_file_line_column(tmp_path, row, line, column):
    from vgrerank.datasets.readers import read_manifest

    path = _manifest(tmp_path, [*GOOD_ROWS, row])
    with pytest.raises(DataError) as err:
        read_manifest("m", path)
    assert f"{path}:{line}:" in str(err.value) and repr(column) in str(err.value)


def test_manifest_duplicate_name_names_both_lines(tmp_path):
    from vgrerank.datasets.readers import read_manifest

    path = _manifest(tmp_path, [*GOOD_ROWS, "db/a.jpg,100.0,200.0,90,,database"])
    with pytest.raises(DataError) as err:
        read_manifest("m", path)
    msg = str(err.value)
    assert f"{path}:5:" in msg and "'name'" in msg and "db/a.jpg" in msg and "line 2" in msg
    # the same image as a query of another split is no duplicate
    ok = _manifest(tmp_path, [*GOOD_ROWS, "q/x.jpg,101.0,201.0,,day,query"])
    assert len(read_manifest("m", ok).split("day")) == 1


def test_vg_folder_bad_name_names_its_folder(tmp_path):
    from PIL import Image

    from vgrerank.datasets.readers import read_vg_dataset

    root = tmp_path / "ds"
    good = "@0000100.00@0000200.00@10@S@@@@@@@@@@@.jpg"
    for folder, name in (
        ("images/test/database", good),
        ("images/test/queries_night", good),
        ("images/test/queries_night/sub", "not_a_vg_name.jpg"),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / folder / name)
    with pytest.raises(DataError) as err:
        read_vg_dataset("ds", root, ["night"])
    assert "images/test/queries_night/sub/not_a_vg_name.jpg" in str(err.value)


# ------------------------------------------------------------------ 6. empty query splits
def test_check_dataset_vg_split_without_images(tmp_path):
    from PIL import Image

    from vgrerank.datasets import check_dataset

    root = tmp_path / "ds"
    good = "@0000100.00@0000200.00@10@S@@@@@@@@@@@.jpg"
    for folder in ("images/test/database", "images/test/queries_day"):
        (root / folder).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / folder / good)
    (root / "images/test/queries_night").mkdir(parents=True)  # empty
    conf = {"format": "vg", "root": str(root), "splits": ["day"]}
    assert check_dataset("ds", conf) == {"day": 1}
    with pytest.raises(DataError) as err:
        check_dataset("ds", {**conf, "splits": ["day", "night"]})
    assert "'night'" in str(err.value) and "queries_night" in str(err.value)
    # not on disk (yet) or generated later: nothing to check
    assert check_dataset("ds", {**conf, "root": str(tmp_path / "absent")}) is None
    assert check_dataset("ds", {**conf, "splits": ["night"], "synth": {}}) is None


def test_check_dataset_manifest_split_without_rows(tmp_path):
    from vgrerank.datasets import check_dataset

    path = _manifest(tmp_path, GOOD_ROWS)
    conf = {"format": "manifest", "manifest": str(path)}
    assert check_dataset("m", {**conf, "splits": ["night"]}) == {"night": 1}
    with pytest.raises(DataError) as err:
        check_dataset("m", {**conf, "splits": ["night", "dusk"]})
    assert str(path) in str(err.value) and "'dusk'" in str(err.value)


def test_synth_split_with_no_queries_is_a_config_error():
    from vgrerank.config import validate_config

    conf = {
        "datasets": {
            "city": {
                "format": "vg",
                "splits": ["day", "night"],
                "synth": {"queries": {"day": {"condition": "day", "n": 2}}},
            }
        },
        "global": ["vlad-rootsift-64"],
        "methods": ["sift+mnn+magsac"],
    }
    with pytest.raises(ConfigError, match=r"datasets\.city\.synth\.queries\.night"):
        validate_config(json.loads(json.dumps(conf)))
    conf["datasets"]["city"]["synth"]["queries"]["night"] = {"condition": "night", "n": 0}
    with pytest.raises(ConfigError, match=r"queries\.night\.n"):
        validate_config(json.loads(json.dumps(conf)))
    conf["datasets"]["city"]["synth"]["queries"]["night"]["n"] = 1
    validate_config(json.loads(json.dumps(conf)))


def test_snakemake_dag_build_fails_on_an_empty_manifest_split(tmp_path):
    import yaml

    path = _manifest(tmp_path, GOOD_ROWS)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "run_datasets": ["m"],
                "datasets": {
                    "m": {"format": "manifest", "manifest": str(path), "splits": ["dusk"]}
                },
                "global": ["vlad-rootsift-64"],
                "methods": ["orb+mnn+count"],
            }
        )
    )
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-n"]
    cmd += ["--directory", str(tmp_path / "work"), "--cores", "1", "--configfile", str(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "'dusk'" in out and "no rows" in out, out[-3000:]
