"""End-to-end: a tiny SynthCity through the whole Snakemake DAG, incremental rebuilds and a
user's own dataset given as a CSV manifest with one small extra config file."""

import csv
import shutil

import pandas as pd
import pytest
import yaml
from workflow_run import TINY, job_counts, run

pytestmark = pytest.mark.slow


def _reverse_keys(value):
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    return value


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    cfg = work / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run(work, cfg)
    return work, cfg


def test_tables_plots_figures(tiny_run):
    work, _ = tiny_run
    recall = pd.read_csv(work / "results/tables/recall.csv")
    assert list(recall.columns[:13]) == [
        "dataset",
        "split",
        "method",
        "K",
        "depth",
        "threshold_m",
        "queries",
        "R@1",
        "R@1_lo",
        "R@1_hi",
        "R@5",
        "R@5_lo",
        "R@5_hi",
    ]
    assert set(recall.split) == {"day", "night"}
    methods = set(recall.method)
    assert {"retrieval", "chance", "sift-n4096+mnn+magsac-3px", "orb-n4096+mnn+count"} <= methods
    vals = recall[["R@1", "R@5", "R@1_lo", "R@1_hi"]].to_numpy()
    assert ((vals >= 0) & (vals <= 1)).all()
    assert (recall["R@1_lo"] <= recall["R@1"]).all() and (recall["R@1"] <= recall["R@1_hi"]).all()
    # recall grows with N; one K (re-ranking depth) on every row; nothing beyond the depth of 8
    assert (recall["R@1"] <= recall["R@5"] + 1e-9).all() and set(recall.K) == {5}
    assert set(recall.depth) == {8} and recall[["R@20", "R@100"]].isna().all().all()
    assert set(recall.queries) == {5}
    md = (work / "results/tables/recall.md").read_text()
    assert "top-5 re-ranked, retrieval depth 8" in md and "R@100" not in md
    paired = pd.read_csv(work / "results/tables/paired.csv")
    assert len(paired) == 2 * 3  # per split: 3 pairs of retrieval + 2 methods
    assert "best re-ranking" in (work / "results/tables/claims.md").read_text()
    lat = pd.read_csv(work / "results/tables/latency.csv")
    assert len(lat) == 4 and (lat.match_ms > 0).all() and (lat.db_images > 0).all()
    for p in ("results/plots/recall_vs_time.png", "results/plots/recall_vs_k.png"):
        assert (work / p).stat().st_size > 1000
    figs = work / "results/figures/tinycity/night/vlad-dsift-k64-r480-exact-K5"
    assert (figs / "strips_sift-n4096+mnn+magsac-3px.png").is_file()
    rr = pd.read_parquet(
        work
        / "results/tinycity/night/rerank/vlad-dsift-k64-r480-exact-K5/sift-n4096+mnn+magsac-3px.parquet"
    )
    assert len(rr) == 5 * 5 and sorted(rr[rr["query"] == 0]["rank"]) == list(range(5))
    assert (work / "results/tables/recall.csv.provenance.json").is_file()
    # every rule logged and benchmarked
    assert any((work / "logs/rerank").rglob("*.log")) and any(
        (work / "benchmarks/rerank").rglob("*.tsv")
    )


def test_nothing_to_do_then_only_new_method(tiny_run):
    work, cfg = tiny_run
    out = run(work, cfg, "-n")
    assert "Nothing to be done" in out
    # the same config with its keys in another order changes no job's params
    reordered = work / "reordered.yaml"
    reordered.write_text(
        yaml.safe_dump(_reverse_keys(yaml.safe_load(cfg.read_text())), sort_keys=False)
    )
    assert "Nothing to be done" in run(work, reordered, "-n")
    conf = yaml.safe_load(cfg.read_text())
    conf["methods"].append("sift+mnn+count")
    cfg2 = work / "plus_method.yaml"
    cfg2.write_text(yaml.safe_dump(conf))
    counts = job_counts(run(work, cfg2, "-n"))
    # two splits: one rerank + evaluation each; no extraction, retrieval or rendering
    assert counts.get("rerank") == 2 and counts.get("evaluate_method") == 2
    assert not {
        "synth_database",
        "synth_queries",
        "global_database",
        "global_queries",
        "retrieve",
        "local_plan",
        "local_shard",
        "local_database",
        "local_queries",
    } & set(counts)


def test_own_dataset_from_manifest(tiny_run, tmp_path):
    work, _ = tiny_run
    src = work / "resources/tinycity/images/test"
    data = tmp_path / "mydata"
    rows = []
    from vgrerank.datasets.names import parse_name

    for sub, kind in (("database", "database"), ("queries_night", "query")):
        for i, f in enumerate(sorted((src / sub).iterdir())):
            dst = data / sub / f"{i:04d}.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst)
            info = parse_name(f)
            rows.append(
                [
                    f"{sub}/{dst.name}",
                    info.utm_east,
                    info.utm_north,
                    info.heading,
                    "night" if kind == "query" else "",
                    kind,
                ]
            )
    with (data / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "east", "north", "heading", "condition", "set"])
        w.writerows(rows)
    cfg = tmp_path / "my.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "run_datasets": ["mydata"],
                "datasets": {
                    "mydata": {
                        "format": "manifest",
                        "manifest": str(data / "manifest.csv"),
                        "splits": ["night"],
                    }
                },
                "global": ["vlad-rootsift-64"],
                "retrieval": {"k": 8},
                "rerank": {"k": 5},
                "methods": ["orb+mnn+count"],
                "report": {"figures": False},
            }
        )
    )
    run(work, cfg)
    recall = pd.read_csv(work / "results/tables/recall.csv")
    assert set(recall.dataset) == {"mydata"} and set(recall.split) == {"night"}
    # same images and positions as tinycity's night split: same retrieval recall
    ref = pd.read_csv(
        work / "results/tinycity/night/recall/vlad-dsift-k64-r480-exact-K5/retrieval.csv"
    )
    mine = recall[recall.method == "retrieval"]
    assert mine["R@5"].iloc[0] == pytest.approx(ref[ref.method == "retrieval"]["R@5"].iloc[0])
