"""Time and peak memory of every stage on the `large` SynthCity preset (config/large.yaml), the
stored bytes per image of each local extractor, and their projection to SF-XL.

Two parts:

1. **Full preset, the stages that do not need the rendered images** (each in a subprocess, so
   its ``ru_maxrss`` is its own): building the city, the database / query poses
   (11,844 database images), and the ground-truth positives (KD-tree) + Recall@N of all
   queries against the full database positions.
2. **The whole workflow on a scaled-down city** (rendering ~2 s per image per core makes the
   11,844-image database a 3-hour job on 2 cores): the preset with ``--blocks``,
   ``--spacing``, ``--headings``, ``--queries`` overrides, run by Snakemake in a scratch folder
   (``--workdir``, never the repo's results); per stage (rule family) the summed seconds and
   the largest ``max_rss`` of the rules' ``benchmarks/*.tsv``, and per-database-image seconds
   projected to the full preset.

Bytes per image come from the database shards ``results/<ds>/local/<extractor>/db/*.h5``
(file size / images). SF-XL projection: 2.8 M database images if all were extracted, and the
lazy case of the workflow: 1,000 queries x top-100 candidates = at most 100,000 images.

Usage: python bench/scale.py [--blocks 1] [--spacing 8] [--headings 4] [--queries 10]
       [--rerank-k 10] [--cores 2] [--workdir /tmp/vgrerank-scale] [--skip-workflow]
Last line: ``sfxl_lazy_local_gib_max: <largest extractor's GiB for 100,000 database images>``.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SFXL_DB = 2_800_000
SFXL_LAZY = 100_000  # 1,000 queries x top-100 candidates, at most


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _preset() -> tuple[str, dict]:
    conf = yaml.safe_load((REPO / "config" / "large.yaml").read_text())
    name = conf["run_datasets"][0]
    return name, conf


# ------------------------------------------------------------------ part 1: full preset
def child_city() -> dict:
    from vgrerank.synth import make_city
    from vgrerank.synth.config import resolve_conf
    from vgrerank.synth.writer import city_conf, database_poses, query_poses

    name, conf = _preset()
    ds = conf["datasets"][name]
    sconf = resolve_conf(city_conf({**ds["synth"], "seed": conf["seed"]}))
    t0 = time.perf_counter()
    city = make_city(sconf, sconf["seed"])
    t_city = time.perf_counter() - t0
    t0 = time.perf_counter()
    db = database_poses(city)
    qconf = ds["synth"]["queries"]  # city_conf drops the query splits
    qs = {s: query_poses(city, s, q, sconf["seed"]) for s, q in qconf.items()}
    t_poses = time.perf_counter() - t0
    return {
        "stage": "city build + poses (full preset)",
        "city_s": t_city,
        "poses_s": t_poses,
        "db_images": len(db),
        "queries": {s: len(v) for s, v in qs.items()},
        "peak_mib": _peak_mib(),
    }


def child_positives() -> dict:
    import numpy as np

    from vgrerank.datasets.positives import positives_within
    from vgrerank.evaluate import chance_recall, recall_at_n
    from vgrerank.synth import make_city
    from vgrerank.synth.config import resolve_conf
    from vgrerank.synth.writer import city_conf, database_poses, query_poses

    name, conf = _preset()
    ds = conf["datasets"][name]
    sconf = resolve_conf(city_conf({**ds["synth"], "seed": conf["seed"]}))
    city = make_city(sconf, sconf["seed"])
    db = np.array([(x, y) for x, y, _ in database_poses(city)])
    q = np.array(
        [
            (p["x"], p["y"])
            for s, c in ds["synth"]["queries"].items()
            for p in query_poses(city, s, c, sconf["seed"])
        ]
    )
    base = _peak_mib()
    t0 = time.perf_counter()
    pos = positives_within(db, q, ds["threshold_m"])
    t_pos = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    pred = rng.integers(0, len(db), (len(q), 100))
    t0 = time.perf_counter()
    rec = recall_at_n(pred, pos)
    chance_recall(len(db), pos)
    t_rec = time.perf_counter() - t0
    return {
        "stage": f"positives + recall (full preset: {len(q)} queries x {len(db)} db)",
        "positives_s": t_pos,
        "recall_s": t_rec,
        "mean_positives": float(np.mean([len(p) for p in pos])),
        "random_r100": rec[100],
        "peak_mib": _peak_mib(),
        "peak_over_inputs_mib": _peak_mib() - base,
    }


# ------------------------------------------------------------ part 2: scaled-down workflow
def scaled_config(args) -> dict:
    name, conf = _preset()
    ds = conf["datasets"][name]
    synth = {
        **ds["synth"],
        "blocks_x": args.blocks,
        "blocks_y": args.blocks,
        "db_spacing_m": args.spacing,
        "db_headings": args.headings,
    }
    synth["queries"] = {s: {**q, "n": args.queries} for s, q in ds["synth"]["queries"].items()}
    return {
        **conf,
        "datasets": {name: {**ds, "synth": synth}},
        "rerank": {"k": args.rerank_k},
        "report": {"figures": False, "num_queries": 1},
    }


def run_workflow(args) -> tuple[dict, dict, int]:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "scale.yaml"
    cfg.write_text(yaml.safe_dump(scaled_config(args)))
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(work),
        "--configfile",
        str(REPO / "config" / "large.yaml"),
        str(cfg),
        "--cores",
        str(args.cores),
        "--quiet",
        "rules",
    ]
    cmd = cmd[:-1]  # default target (all)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        print(p.stdout[-3000:], p.stderr[-6000:], file=sys.stderr)
        raise SystemExit(f"snakemake failed (rc {p.returncode}); see {work}")
    stages: dict[str, dict] = defaultdict(lambda: {"s": 0.0, "max_rss": 0.0, "jobs": 0})
    for tsv in (work / "benchmarks").rglob("*.tsv"):
        stage = tsv.relative_to(work / "benchmarks").parts[0]
        if stage == "local":
            kind = tsv.relative_to(work / "benchmarks").parts[3]
            stage = {"db": "local db", "plan": "local plan/index", "database": "local plan/index"}
            stage = stage.get(kind, "local queries")
        with tsv.open() as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        st = stages[stage]
        st["s"] += float(row["s"])
        rss = row.get("max_rss", "NA")
        st["max_rss"] = max(st["max_rss"], float(rss) if rss not in ("NA", "-") else 0.0)
        st["jobs"] += 1
    name, _ = _preset()
    db_json = json.loads((work / "resources" / name / "database.json").read_text())
    n_db = int(db_json["counts"]["database"])
    return dict(stages), {"wall_s": wall, "workdir": str(work)}, n_db


def local_bytes(work: Path) -> dict[str, dict]:
    import h5py

    name, _ = _preset()
    out = {}
    for edir in sorted((work / "results" / name / "local").glob("*")):
        shards = list((edir / "db").glob("*.h5"))
        if not shards:
            continue
        size = sum(s.stat().st_size for s in shards)
        n = 0
        for s in shards:
            with h5py.File(s, "r") as f:
                n += sum(1 for k in f if isinstance(f[k], h5py.Group))
        if n:
            out[edir.name] = {"images": n, "bytes": size, "bytes_per_image": size / n}
    return out


def _child_main(which: str) -> None:
    res = child_city() if which == "city" else child_positives()
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--spacing", type=float, default=8.0)
    ap.add_argument("--headings", type=int, default=4)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--rerank-k", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/vgrerank-scale")
    ap.add_argument("--skip-workflow", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child_main(args.child)
        return

    full = []
    for which in ("city", "positives"):
        p = subprocess.run(
            [sys.executable, __file__, "--child", which], capture_output=True, text=True
        )
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode or not lines:
            print(p.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{which} failed")
        full.append(json.loads(lines[-1][7:]))
        print(lines[-1][7:], flush=True)
    n_full = full[0]["db_images"]
    print(f"\n## Full large preset ({n_full} database images), stages without images")
    for r in full:
        print(json.dumps(r))

    max_lazy = float("nan")
    if not args.skip_workflow:
        stages, meta, n_db = run_workflow(args)
        print(
            f"\n## Workflow on the scaled-down preset ({n_db} database images, "
            f"{args.queries} queries per split, rerank k {args.rerank_k}; wall "
            f"{meta['wall_s']:.0f} s, {args.cores} cores)"
        )
        print(
            "| stage | jobs | seconds (sum) | peak max_rss MiB | s per db image | projected s "
            f"for {n_full} |"
        )
        print("|---|---|---|---|---|---|")
        lb = local_bytes(Path(meta["workdir"]))
        extracted = sum(v["images"] for v in lb.values()) or 1
        for st in (
            "synth",
            "global",
            "retrieve",
            "local db",
            "local queries",
            "local plan/index",
            "rerank",
            "evaluate",
            "report",
        ):
            if st not in stages:
                continue
            v = stages[st]
            # local db: per extracted (image, extractor); synth / global: per database image
            per = v["s"] / (extracted if st == "local db" else n_db)
            proj = f"{per * n_full:.0f}" if st in ("synth", "global") else "-"
            print(
                f"| {st} | {v['jobs']} | {v['s']:.1f} | {v['max_rss']:.0f} | {per:.3f} | {proj} |"
            )
        print(
            "\n| extractor | db images | bytes/image | SF-XL all 2.8 M (GiB) | SF-XL lazy 100k (GiB) |"
        )
        print("|---|---|---|---|---|")
        lazy = []
        for e, v in lb.items():
            b = v["bytes_per_image"]
            lazy.append(b * SFXL_LAZY / 2**30)
            print(
                f"| {e} | {v['images']} | {b:.0f} | {b * SFXL_DB / 2**30:.1f} | "
                f"{b * SFXL_LAZY / 2**30:.2f} |"
            )
        if lazy:
            max_lazy = max(lazy)
    print(f"sfxl_lazy_local_gib_max: {max_lazy:.2f}")


if __name__ == "__main__":
    main()
