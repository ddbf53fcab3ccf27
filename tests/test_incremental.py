"""Incremental database features (append-only shards + index of links) and a SynthCity whose
query splits render independently of its database: adding a split or a candidate extracts and
renders only what is new."""

import json
import os

import cv2
import h5py
import numpy as np
import pytest
import yaml
from workflow_run import job_counts, run, tiny

from vgrerank.datasets import load_dataset
from vgrerank.errors import ConfigError, DataError
from vgrerank.io.local_h5 import FeatureStore, list_shards, shard_digest, update_database
from vgrerank.local.base import Features
from vgrerank.local.plan import extract_shard, plan_database, planned_shards, read_plan, read_todo

CONF = {"type": "fake", "tag": "fake-n8"}


class CountingExtractor:
    """Deterministic fake features from the pixels; records which images it saw."""

    def __init__(self):
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        rng = np.random.default_rng(int(image.sum()) % 2**32)
        h, w = image.shape[:2]
        return Features(rng.random((8, 2)) * [w, h], rng.random((8, 16)), rng.random(8), (w, h))


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "data"
    names = [f"db/{i:02d}.png" for i in range(6)]
    for i, n in enumerate(names):
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / n), np.full((12, 16, 3), 20 * i + 5, np.uint8))
    return root, names


def _update(ext, root, names, index, shards):
    return update_database(lambda: ext, CONF, root, names, index, shards)


def _groups(path):
    """Raw bytes of every dataset and attr of every image group of a shard."""
    out = {}
    with h5py.File(path, "r") as f:
        for k in f:
            g = f[k]
            out[k] = (
                {d: g[d][()].tobytes() for d in g},
                {a: np.asarray(g.attrs[a]).tobytes() for a in g.attrs},
            )
    return out


def test_second_update_extracts_only_new_names(images, tmp_path):
    root, names = images
    shards = tmp_path / "local/fake-n8/db"
    a, b = names[:4], names[4:]
    ext = CountingExtractor()
    first = _update(ext, root, a, tmp_path / "local/fake-n8/database/day/g-K4.h5", shards)
    assert ext.calls == 4 and first["extracted"] == 4
    before = _groups(first["shard"])
    ext2 = CountingExtractor()
    idx2 = tmp_path / "local/fake-n8/database/night/g-K4.h5"
    second = _update(ext2, root, a + b, idx2, shards)
    assert ext2.calls == 2 and second["extracted"] == 2 and second["shard"] != first["shard"]
    # the first shard is untouched byte for byte, the new one holds only B
    assert _groups(first["shard"]) == before
    assert sorted(_groups(second["shard"])) == sorted(n.replace("/", "|") for n in b)
    # nothing new: no extractor, no shard
    ext3 = CountingExtractor()
    third = _update(ext3, root, b, tmp_path / "local/fake-n8/database/dusk/g-K4.h5", shards)
    assert ext3.calls == 0 and third["shard"] is None and len(list(shards.glob("*.h5"))) == 2
    # the index reads like a single feature file, from any working directory
    cwd = os.getcwd()
    os.chdir(tmp_path.parent)
    try:
        rel = idx2.relative_to(tmp_path.parent)
        with FeatureStore(rel) as store:
            assert sorted(store.names()) == sorted(a + b)
            fa = store[a[0]]
            assert fa.size == (16, 12) and len(fa) == 8
            assert store.time(b[1]) >= 0
        with h5py.File(rel, "r") as f:  # what the latency table does
            assert len([f[k].attrs["time"] for k in f]) == 6
    finally:
        os.chdir(cwd)


def test_bad_shards_are_ignored_and_reported(images, tmp_path, capsys):
    root, names = images
    shards = tmp_path / "db"
    shards.mkdir()
    (shards / "0000garbage.h5").write_bytes(b"not hdf5 at all")
    with h5py.File(shards / "0001half.h5", "w") as f:  # no 'complete': a writer died
        f.create_group(names[0].replace("/", "|"))
    with h5py.File(shards / "0002other.h5", "w") as f:  # another extractor conf
        f.create_group(names[1].replace("/", "|"))
        f.attrs["conf"] = json.dumps({"type": "fake", "tag": "fake-n9"})
        f.attrs["complete"] = True
    (shards / ".tmp-x.h5.abcd").write_bytes(b"half")  # an interrupted atomic write
    assert list_shards(shards, CONF) == {}
    out = capsys.readouterr().out
    assert "0000garbage.h5: not a readable HDF5 file" in out
    assert "0001half.h5: incomplete" in out and "0002other.h5: made with another" in out
    ext = CountingExtractor()
    res = _update(ext, root, names[:2], tmp_path / "idx.h5", shards)
    assert ext.calls == 2 and res["extracted"] == 2
    assert "0 of 2 candidates already extracted" in capsys.readouterr().out
    # an index whose shard vanished says so
    res["shard"].unlink()
    with pytest.raises(DataError, match="shard .* is missing"):
        FeatureStore(tmp_path / "idx.h5")


def _concurrent_update(args):
    root, names, index, shards, calls = args
    import time as _time

    ext = CountingExtractor()

    def slow(image):
        _time.sleep(0.05)
        with open(calls, "a") as fh:
            fh.write("x")
        return ext(image)

    return update_database(lambda: slow, CONF, root, names, index, shards)["extracted"]


def test_concurrent_jobs_extract_each_image_once(images, tmp_path):
    import multiprocessing as mp

    root, names = images
    shards, calls = tmp_path / "db", tmp_path / "calls.txt"
    jobs = [(root, names, tmp_path / f"idx{i}.h5", shards, calls) for i in range(2)]
    with mp.get_context("fork").Pool(2) as pool:
        extracted = pool.map(_concurrent_update, jobs)
    # the lock serialises the two jobs: one extracts everything, the other reuses its shard
    assert sorted(extracted) == [0, len(names)] and len(calls.read_text()) == len(names)
    assert len(list(shards.glob("*.h5"))) == 1
    for i in range(2):
        with FeatureStore(tmp_path / f"idx{i}.h5") as store:
            assert sorted(store.names()) == sorted(names)


def test_database_view_of_entry(tmp_path):
    from vgrerank.synth import read_summary, write_database, write_queries

    conf = {
        "seed": 2,
        "width": 96,
        "height": 72,
        "blocks_x": 1,
        "blocks_y": 1,
        "db_spacing_m": 25.0,
        "db_headings": 1,
        "queries": {"day": {"condition": "day", "n": 2}, "dusk": {"condition": "dusk", "n": 2}},
    }
    db = write_database({k: v for k, v in conf.items() if k != "queries"}, tmp_path, False)
    write_queries(conf, tmp_path, ["dusk"], progress=False)
    entry = {"format": "vg", "root": str(tmp_path), "splits": []}
    ds = load_dataset("t", entry)
    assert len(ds.database) == db["counts"]["database"] and ds.queries == {}
    with pytest.raises(DataError, match="queries_day.json"):
        read_summary(tmp_path, ["day", "dusk"])
    assert read_summary(tmp_path)["counts"] == {"database": len(ds.database), "queries_dusk": 2}
    # a split rendered alone equals the same split rendered with the others
    other = tmp_path / "all"
    write_queries(conf, other, progress=False)
    for f in sorted((tmp_path / "images/test/queries_dusk").iterdir()):
        assert f.read_bytes() == (other / "images/test/queries_dusk" / f.name).read_bytes()
    # another city is detected
    write_queries({**conf, "seed": 3}, tmp_path, ["day"], progress=False)
    with pytest.raises(DataError, match="another city"):
        read_summary(tmp_path, ["day"])


# -- sharded extraction: plan -> one job per shard -> index ------------------------------------


def _plan(names, tmp_path, size, tag="a"):
    local = tmp_path / "local/fake-n8"
    plan = plan_database(
        CONF, names, local / "db", local / "todo", local / f"plan/{tag}.json", size
    )
    return local, plan


def test_plan_cuts_missing_candidates_into_shards_of_shard_size(images, tmp_path):
    root, names = images
    local, plan = _plan(names[:5], tmp_path, 2)
    assert [c["n"] for c in plan["chunks"]] == [2, 2, 1] and plan["have"] == 0
    assert read_plan(local / "plan/a.json") == plan
    # each job extracts its own shard (one writer per file), named by the digest of its images
    ext = CountingExtractor()
    for d in planned_shards(plan):
        todo = local / "todo" / f"{d}.txt"
        assert d == shard_digest(CONF, read_todo(todo))
        res = extract_shard(lambda: ext, CONF, root, todo, local / f"db/{d}.h5")
        assert res == {"listed": len(read_todo(todo)), "extracted": len(read_todo(todo))}
    assert ext.calls == 5
    # the index job links them all and extracts nothing
    ext2 = CountingExtractor()
    out = _update(ext2, root, names[:5], local / "database/a.h5", local / "db")
    assert ext2.calls == 0 and out["extracted"] == 0
    with FeatureStore(local / "database/a.h5") as store:
        assert sorted(store.names()) == names[:5]
        assert store[names[3]].keypoints.shape == (8, 2)
    # a second plan over more candidates asks only for the new one; its to-do lists of old
    # shards are not rewritten (Snakemake compares their modification times)
    stamps = {p: p.stat().st_mtime_ns for p in (local / "todo").iterdir()}
    _, plan2 = _plan(names, tmp_path, 2, tag="b")
    assert plan2["have"] == 5 and [c["n"] for c in plan2["chunks"]] == [1]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    # planning again gives the same plan
    assert _plan(names[:5], tmp_path, 2)[1]["chunks"] == []


def test_shard_skips_images_another_shard_finished_first(images, tmp_path):
    root, names = images
    local, p1 = _plan(names[:4], tmp_path, 10, tag="x")
    _, p2 = _plan(names[2:], tmp_path, 10, tag="y")  # planned before x's shard exists: overlap
    ext = CountingExtractor()
    (d1,), (d2,) = planned_shards(p1), planned_shards(p2)
    extract_shard(lambda: ext, CONF, root, local / f"todo/{d1}.txt", local / f"db/{d1}.h5")
    res = extract_shard(lambda: ext, CONF, root, local / f"todo/{d2}.txt", local / f"db/{d2}.h5")
    assert res == {"listed": 4, "extracted": 2} and ext.calls == 6
    # a shard whose images are all held elsewhere is an empty, complete shard; no extractor built
    _, p3 = _plan(names[4:], tmp_path, 10, tag="z")
    assert p3["chunks"] == []
    todo = local / "todo/manual.txt"
    todo.write_text(names[0] + "\n")
    d = shard_digest(CONF, [names[0]])
    todo.rename(local / f"todo/{d}.txt")

    def boom():
        raise AssertionError("extractor built for nothing")

    res = extract_shard(boom, CONF, root, local / f"todo/{d}.txt", local / f"db/{d}.h5")
    assert res["extracted"] == 0 and list_shards(local / "db", CONF)[names[0].replace("/", "|")]


def test_plan_and_shard_errors_name_the_file(images, tmp_path):
    root, names = images
    with pytest.raises(ConfigError, match="extraction.shard_size"):
        _plan(names, tmp_path, 0)
    local, plan = _plan(names[:2], tmp_path, 5)
    (d,) = planned_shards(plan)
    todo = local / f"todo/{d}.txt"
    todo.write_text(names[0] + "\n" + names[5] + "\n")  # edited by hand
    with pytest.raises(DataError, match=f"{d}.txt: its image list does not hash"):
        extract_shard(CountingExtractor, CONF, root, todo, local / f"db/{d}.h5")
    todo.write_text("")
    with pytest.raises(DataError, match="empty to-do list"):
        extract_shard(CountingExtractor, CONF, root, todo, local / f"db/{d}.h5")
    assert not (local / f"db/{d}.h5").exists()
    (local / "plan/a.json").write_text('{"version": 1, "chunks": [{"digest": "../x", "n": 1}]}')
    with pytest.raises(DataError, match="a.json: malformed shard digest"):
        read_plan(local / "plan/a.json")
    (local / "plan/a.json").write_text("{")
    with pytest.raises(DataError, match="a.json: not an extraction plan"):
        read_plan(local / "plan/a.json")


# -- workflow: a finished tiny run, then a query split is added --------------------------------


def _one_split() -> dict:
    """The workflow tests' TINY city cut to the day split (3 queries), one method, no figures."""
    conf = tiny()
    ds = conf["datasets"]["tinycity"]
    ds["splits"] = ["day"]
    ds["synth"]["queries"] = {"day": {"condition": "day", "n": 3}}
    conf.update(
        rerank={"k": 8},
        methods=["sift+mnn+count"],
        evaluation={"k_sweep": [1, 5, 8]},
        report={"figures": False},
        extraction={"shard_size": 10},  # several shard jobs per retrieval file
    )
    return conf


ONE_SPLIT = _one_split()


@pytest.mark.slow
def test_adding_a_split_renders_and_extracts_only_what_is_new(tmp_path):
    work = tmp_path
    cfg1 = work / "day.yaml"
    cfg1.write_text(yaml.safe_dump(ONE_SPLIT))
    run(work, cfg1)
    etag, gtag = "sift-n4096", "vlad-dsift-k64-r480-exact-K8"
    local = work / "results/tinycity/local" / etag
    kept = [
        work / "resources/tinycity/database.json",
        work / "results/tinycity/global/vlad-dsift-k64-r480-exact/database.h5",
        local / f"database/day/{gtag}.h5",
        work / f"results/tinycity/day/rerank/{gtag}/sift-n4096+mnn+count.parquet",
        *sorted((local / "db").glob("*.h5")),
    ]
    plan = read_plan(local / f"plan/day/{gtag}.json")
    n_day = plan["candidates"]
    assert [c["n"] for c in plan["chunks"]] == [10] * (n_day // 10) + [n_day % 10] * (
        n_day % 10 > 0
    )
    assert len(kept) == 4 + len(plan["chunks"]) and len(plan["chunks"]) >= 2
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in kept}

    conf = json.loads(json.dumps(ONE_SPLIT))
    conf["datasets"]["tinycity"]["splits"].append("dusk")
    conf["datasets"]["tinycity"]["synth"]["queries"]["dusk"] = {"condition": "dusk", "n": 3}
    cfg2 = work / "plus_dusk.yaml"
    cfg2.write_text(yaml.safe_dump(conf))
    counts = job_counts(run(work, cfg2, "-n", "--quiet", "rules"))
    assert not {"synth_database", "global_database"} & set(counts), counts
    for rule in ("synth_queries", "global_queries", "retrieve", "local_queries"):
        assert counts.get(rule) == 1, counts
    # the plan is a checkpoint: its shard jobs appear once it has run
    for rule in ("local_plan", "local_database", "rerank"):
        assert counts.get(rule) == 1, counts

    run(work, cfg2)
    # the database render, its descriptors, day's features and day's results are untouched
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in kept} == before
    log = (work / f"logs/local/tinycity/{etag}/plan/dusk/{gtag}.log").read_text()
    line = next(x for x in log.splitlines() if "candidates already extracted" in x)
    done, total = int(line.split()[0]), int(line.split()[2])
    new = sorted(set((local / "db").glob("*.h5")) - set(kept))
    assert len(new) == -(-(total - done) // 10)
    held = 0
    for shard in new:
        with h5py.File(shard, "r") as f:
            held += len(f)
    assert held == total - done  # only the candidates no shard held
    with FeatureStore(local / f"database/dusk/{gtag}.h5") as store:
        assert len(store.names()) == total
    assert "Nothing to be done" in run(work, cfg2, "-n")


def test_database_candidates_must_be_database_images(tmp_path):
    from types import SimpleNamespace

    from vgrerank.local.extract import database_candidates

    ret = tmp_path / "retrieval.h5"
    with h5py.File(ret, "w") as f:
        f["indices"] = np.array([[0, 1], [1, 2]], np.int64)
        f["distances"] = np.zeros((2, 2), np.float32)
        f["query_names"] = ["q0.jpg", "q1.jpg"]
        f["db_names"] = ["db/a.jpg", "db/b.jpg", "db/c.jpg"]
        f.attrs["complete"] = True

    class Database(list):
        names = property(lambda self: list(self))

    ds = SimpleNamespace(name="city", database=Database(["db/a.jpg", "db/b.jpg", "db/c.jpg"]))
    assert database_candidates(ds, ret, 2) == ["db/a.jpg", "db/b.jpg", "db/c.jpg"]
    assert database_candidates(ds, ret, 1) == ["db/a.jpg", "db/b.jpg"]
    ds.database = Database(["db/a.jpg", "db/b.jpg"])
    with pytest.raises(DataError, match=r"retrieval.h5: 1 candidate\(s\) not in the database"):
        database_candidates(ds, ret, 2)
