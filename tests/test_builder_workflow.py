"""End-to-end: the query-set builder in the Snakemake DAG on a tiny SynthCity.

Two built splits: ``tinybuild`` from the embedded fake Flickr (the fetch job starts and stops
the server) and ``ownapi`` from a fake Flickr this test runs, reached like the real API with a
key and secret from the environment, which must appear in no file the workflow writes. Then a
reviewer's corrections CSV reruns only the jobs downstream of the corrections."""

import copy
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_run import TINY, job_counts, run, tiny

from vgrerank.builder.fakeflickr import serve
from vgrerank.datasets.names import parse_name
from vgrerank.synth.photos import write_collection

pytestmark = pytest.mark.slow

KEY, SECRET = "canarykey7f3a9e2b1c", "canarysecret5d8e"
TRAIN = {"n": 60, "epochs": 2, "size": 64, "collection": {"long_side": 240}}


def _config(rest_url: str) -> dict:
    c = tiny()
    c["methods"] = ["orb+mnn+count"]  # the builder is under test here, not the methods
    c["report"] = {"num_queries": 1, "figures": False}
    source = {
        "kind": "flickr",
        "min_taken": "2021-01-01",
        "max_taken": "2025-12-31",
        "rps": 200,
    }
    c["datasets"]["tinycity"]["build"] = {
        "tinybuild": {
            "source": {**source, "embedded": True, "collection": {"n": 40, "burst": 0.3}},
            "indoor": {"train": TRAIN},
            "daynight": {"train": TRAIN},
        },
        "ownapi": {
            "source": {**source, "rest_url": rest_url, "licenses": [0, 1]},
            "daynight": {"method": "brightness"},
        },
    }
    return c


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("bw")
    city = copy.deepcopy(TINY["datasets"]["tinycity"]["synth"])
    city.pop("queries")
    coll = work / "own_collection"
    write_collection({**city, "seed": 0, "photos": {"long_side": 240}}, coll, n=30, seed=5)
    old = {k: os.environ.get(k) for k in ("FLICKR_API_KEY", "FLICKR_API_SECRET")}
    os.environ.update(FLICKR_API_KEY=KEY, FLICKR_API_SECRET=SECRET)
    try:
        with serve(coll, api_key=KEY, api_secret=SECRET) as server:
            cfg = work / "build.yaml"
            cfg.write_text(yaml.safe_dump(_config(server.rest_url)))
            out = run(work, cfg)
            yield work, cfg, out, server
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.update({k: v})


def _funnel(work, split):
    f = pd.read_csv(work / f"results/tinycity/builder/{split}/funnel.csv")
    return dict(zip(f["step"], f["count"], strict=True))


def test_built_splits_benchmarked(built):
    work = built[0]
    recall = pd.read_csv(work / "results/tables/recall.csv")
    for split in ("tinybuild", "ownapi"):
        funnel = _funnel(work, split)
        assert funnel["found"] == funnel["downloaded"] + funnel["failed"]
        dropped = sum(v for k, v in funnel.items() if k.endswith(" dropped"))
        assert funnel["kept"] == funnel["downloaded"] - dropped > 0
        # the built split is a split of the dataset: its queries are the kept photos
        rows = recall[(recall.split == split) & (recall.method == "retrieval")]
        assert rows["queries"].tolist() == [funnel["kept"]]
        folder = work / f"resources/tinycity/images/test/queries_{split}"
        ids = {parse_name(p.name).pano_id for p in folder.iterdir()}
        geotag = pd.read_parquet(work / f"results/tinycity/builder/{split}/geotag.parquet")
        assert ids == set(geotag[geotag.keep]["photo_id"])
        assert (geotag[geotag.keep]["dist_m"] <= 25).all()
        assert (work / f"results/tinycity/builder/{split}/map.png").stat().st_size > 1000
    # the licence filter of 'ownapi' reached the API: only licences 0 and 1 were found
    photos = pd.read_parquet(work / "results/tinycity/builder/ownapi/photos.parquet")
    assert set(photos["license"]) <= {"0", "1"} and len(photos) < 30
    truth = (work / "results/tinycity/builder/tinybuild/truth.md").read_text()
    assert "| indoor |" in truth and "| dedup |" in truth and "all_three" in truth


def test_stage_tables_chain(built):
    work = built[0]
    d = work / "results/tinycity/builder/tinybuild"
    previous = pd.read_parquet(d / "photos.parquet")
    for stage in ("indoor", "daynight", "dedup", "corrected", "geotag"):
        table = pd.read_parquet(d / f"{stage}.parquet")
        # each stage lists exactly the photos the previous one kept, a reason for each drop
        assert sorted(table["photo_id"]) == sorted(previous[previous["keep"]]["photo_id"])
        assert (table[~table["keep"]]["reason"] != "").all()
        previous = table


def test_secret_never_written(built):
    work, _, out, server = built
    assert server.requests_log, "the workflow never reached the test's Flickr server"
    assert KEY not in out and SECRET not in out
    for p in work.rglob("*"):
        if p.is_file() and "own_collection" not in p.parts:
            data = p.read_bytes()
            assert KEY.encode() not in data and SECRET.encode() not in data, p


def test_corrections_rerun_only_downstream(built):
    work, cfg, _, _ = built
    geotag = pd.read_parquet(work / "results/tinycity/builder/tinybuild/geotag.parquet")
    victim = sorted(geotag[geotag.keep]["photo_id"])[0]
    before = _funnel(work, "tinybuild")["kept"]
    (work / "corrections").mkdir(exist_ok=True)
    (work / "corrections/tinycity_tinybuild.csv").write_text(
        "photo_id,action,latitude,longitude,candidate,time\n"
        f"{victim},reject,,,,2026-11-29T10:00:00Z\n"
    )
    counts = job_counts(run(work, cfg))
    for rule in ("builder_fetch", "builder_indoor", "builder_daynight", "builder_dedup"):
        assert rule not in counts, (rule, counts)
    assert counts.get("builder_corrections") == 1 and counts.get("builder_queryset") == 1
    assert "synth_database" not in counts and "global_database" not in counts
    assert _funnel(work, "tinybuild")["kept"] == before - 1
    assert _funnel(work, "tinybuild")["rejected dropped"] == 1
    folder = Path(work / "resources/tinycity/images/test/queries_tinybuild")
    assert victim not in {parse_name(p.name).pano_id for p in folder.iterdir()}
