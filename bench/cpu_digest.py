"""Where do results diverge across CPUs? Per-stage digests of the default retrieval path under
restricted SIMD dispatch, each stage fed the native run's inputs so a difference is that stage's.

The native run (this CPU, nothing restricted) saves every stage's output; then each restricted
profile runs in a subprocess whose environment turns off the SIMD levels of every library that
computes something (numpy, OpenCV, torch/ATen, MKL/oneDNN, faiss, OpenBLAS) and recomputes every
stage twice: *isolated* (from the native run's inputs of that stage) and *chained* (from its own
previous stage, i.e. what a user on such a CPU gets). Stages:

1. ``images``: JPEG decoding of the SynthCity images (``vgrerank.imageio.load_image``);
2. ``dense_rootsift``: the default VLAD's local descriptors (grey conversion, resize and dense SIFT:
   ``vgrerank.globaldesc.dsift`` for the default preset, OpenCV for ``vlad-rootsift-64-cv``);
3. ``vocabulary``: the VLAD vocabulary fitted on the database descriptors;
4. ``vlad``: aggregation of the descriptors with the native vocabulary;
5. ``search``: exact top-K retrieval of the native global descriptors.

Profiles: ``avx2`` (an AVX2 machine without AVX-512) and ``baseline`` (x86-64-v2: every
dispatched SIMD level off). A profile whose restriction changes nothing on this CPU is still
run (on an AVX2-only CPU ``avx2`` equals ``native``). For each stage the report gives: identical
or not, items that differ, the largest absolute difference; for ``search`` the queries whose
top-1 / top-20 set changed. LAST line: ``cpu_digest_retrieval_identical: X`` (1 when the chained
retrieval ranks of every profile equal the native ones, else 0).

Usage: nice -n 10 .venv/bin/python bench/cpu_digest.py [--root resources/synthcity]
    [--preset vlad-rootsift-64] [--db-step 4] [--queries 30] [--profiles avx2,baseline]

``--root`` is a rendered SynthCity (``make demo`` writes ``resources/synthcity``); without it, a
small city is rendered into a temporary folder first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from vgrerank.simd import profile_env

STAGES = ("images", "dense_rootsift", "vocabulary", "vlad", "search")
K = 100


def _md5(arrays) -> str:
    h = hashlib.md5()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _names(root: Path, db_step: int, n_queries: int) -> tuple[list[Path], list[Path]]:
    from vgrerank.datasets.readers import read_vg_dataset

    ds = read_vg_dataset("synthcity", root, ["day", "night"])
    db = [root / n for n in ds.database.names[::db_step]]
    q = []
    for split in ("day", "night"):
        q += [root / n for n in ds.queries[split].names[:n_queries]]
    return db, q


def child(
    root: Path, preset: str, over: dict, db_step: int, n_queries: int, ref: Path | None, out: Path
):
    """One run: every stage isolated (from ``ref``'s inputs) and chained; arrays into ``out``."""
    import cv2
    import torch

    from vgrerank import retrieval
    from vgrerank.globaldesc.registry import get_global_preset, make_global
    from vgrerank.imageio import load_image

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    db_paths, q_paths = _names(root, db_step, n_queries)
    paths = db_paths + q_paths
    n_db = len(db_paths)
    vlad = make_global({**get_global_preset(preset), **over})
    R = np.load(ref / "arrays.npz", allow_pickle=True) if ref else None

    def split_desc(flat, counts):
        return np.split(flat, np.cumsum(counts)[:-1])

    own: dict[str, np.ndarray] = {}
    res: dict[str, dict] = {}
    # 1. images
    images = [load_image(p) for p in paths]
    own["images_md5"] = np.array([_md5([im]) for im in images])
    # 2. dense RootSIFT (isolated = chained: JPEG decoding is exact, checked in stage 1)
    descs = [vlad.local_descriptors(im) for im in images]
    own["desc"] = np.concatenate(descs)
    own["desc_counts"] = np.array([len(d) for d in descs])
    ref_descs = split_desc(R["desc"], R["desc_counts"]) if R is not None else descs
    # 3. vocabulary: fit_vocabulary's own sampling, over given descriptors instead of images

    def fit_on(dlist):
        vlad.local_descriptors = lambda i: dlist[i]  # load(i) returns the index
        vlad.fit_vocabulary(lambda i: i, n_db, seed=0)
        del vlad.local_descriptors
        return vlad.state()

    state = fit_on(descs[:n_db])
    own.update({f"state_{k}": v for k, v in state.items()})
    ref_state = {k[6:]: R[k] for k in R.files if k.startswith("state_")} if R else state
    iso_state = fit_on(ref_descs[:n_db]) if R is not None else state
    # 4. VLAD aggregation with the reference vocabulary (isolated) and with its own (chained)
    vlad.load_state(ref_state)
    iso_vlad = vlad.project(np.stack([vlad.raw_vlad(d) for d in ref_descs]))
    vlad.load_state(state)
    own["vlad"] = vlad.project(np.stack([vlad.raw_vlad(d) for d in descs]))
    # 5. search
    k = min(K, n_db)
    ref_vlad = R["vlad"] if R is not None else own["vlad"]
    iso_idx, iso_dist = retrieval.search(ref_vlad[:n_db], ref_vlad[n_db:], k, device="cpu")
    own["idx"], own["dist"] = retrieval.search(
        own["vlad"][:n_db], own["vlad"][n_db:], k, device="cpu"
    )
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "arrays.npz", **own)
    if R is None:
        return
    res["images"] = _cmp_items(own["images_md5"], R["images_md5"])
    res["dense_rootsift"] = _cmp_lists(descs, ref_descs)
    key = "centroids_fx" if "centroids_fx" in state else "centroids"
    res["vocabulary"] = {
        "isolated": _cmp_arrays(iso_state[key], ref_state[key]),
        "chained": _cmp_arrays(state[key], ref_state[key]),
    }
    res["vlad"] = {
        "isolated": _cmp_arrays(iso_vlad, R["vlad"]),
        "chained": _cmp_arrays(own["vlad"], R["vlad"]),
    }
    res["search"] = {
        "isolated": _cmp_ranks(iso_idx, iso_dist, R["idx"], R["dist"]),
        "chained": _cmp_ranks(own["idx"], own["dist"], R["idx"], R["dist"]),
    }
    (out / "result.json").write_text(json.dumps(res, indent=1))


def _cmp_items(a, b) -> dict:
    return {"identical": bool(np.array_equal(a, b)), "differ": int((a != b).sum()), "of": len(a)}


def _cmp_arrays(a, b) -> dict:
    same = a.shape == b.shape and a.tobytes() == b.tobytes()
    diff = float(np.abs(a.astype(np.float64) - b).max()) if a.shape == b.shape else float("inf")
    rows = int((a != b).reshape(len(a), -1).any(axis=1).sum()) if a.shape == b.shape else len(a)
    return {"identical": same, "rows_differ": rows, "of": len(a), "max_abs": diff}


def _cmp_lists(a: list, b: list) -> dict:
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x.tobytes() != y.tobytes()]
    diff = max(
        (
            float(np.abs(a[i].astype(np.float64) - b[i]).max())
            for i in differ
            if a[i].shape == b[i].shape
        ),
        default=0.0,
    )
    vals = sum(int((a[i] != b[i]).sum()) for i in differ if a[i].shape == b[i].shape)
    return {
        "identical": not differ,
        "images_differ": len(differ),
        "of": len(a),
        "values_differ": vals,
        "max_abs": diff,
    }


def _cmp_ranks(idx, dist, ridx, rdist) -> dict:
    top1 = int((idx[:, 0] != ridx[:, 0]).sum())
    top20 = sum(set(a[:20]) != set(b[:20]) for a, b in zip(idx, ridx, strict=True))
    return {
        "identical": bool(np.array_equal(idx, ridx)),
        "queries_order_differs": int((idx != ridx).any(axis=1).sum()),
        "top1_differs": top1,
        "top20_set_differs": int(top20),
        "of": len(idx),
        "max_abs_dist": float(np.abs(dist.astype(np.float64) - rdist).max()),
    }


def _run_child(args, env: dict, ref: Path | None, out: Path) -> None:
    cmd = [sys.executable, __file__, "--child", str(out), "--root", str(args.root)]
    cmd += ["--preset", args.preset, "--set", json.dumps(args.set)]
    cmd += ["--db-step", str(args.db_step)]
    cmd += ["--queries", str(args.queries)]
    if ref:
        cmd += ["--ref", str(ref)]
    full = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    subprocess.run(cmd, env=full, check=True)


def _active(env: dict) -> str:
    """What really ran: numpy's dispatch targets, OpenCV's features, ATen's capability."""
    code = (
        "from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f;"
        "import cv2, torch;"
        "print('numpy', [x for x in d if f.get(x)], '| opencv', cv2.getCPUFeaturesLine(),"
        "'| aten', torch.backends.cpu.get_cpu_capability())"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    ).stdout.strip()


def _render_small(root: Path) -> None:
    from vgrerank.synth import write_dataset

    conf = {
        "seed": 0, "blocks_x": 1, "blocks_y": 1, "db_spacing_m": 5.0, "db_headings": 4,
        "queries": {"day": {"condition": "day", "n": 15},
                    "night": {"condition": "night", "n": 30, "ambient": 0.03}},
    }  # fmt: skip
    write_dataset(conf, root / "images_root", progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--preset", default="vlad-rootsift-64")
    ap.add_argument(
        "--set", type=json.loads, default={}, help='preset overrides as JSON, e.g. {"exact": true}'
    )
    ap.add_argument("--db-step", type=int, default=4, help="every n-th database image")
    ap.add_argument("--queries", type=int, default=30, help="queries per split (day, night)")
    ap.add_argument("--profiles", default="avx2,baseline")
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ref", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.root, args.preset, args.set, args.db_step, args.queries, args.ref, args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.root is None:
            _render_small(tmp)
            args.root = tmp / "images_root"
        print(f"native: {_active({})}")
        _run_child(args, {}, None, tmp / "native")
        all_same = True
        for name in [p for p in args.profiles.split(",") if p]:
            env = profile_env(name)
            print(f"\n== {name}: {_active(env)}")
            _run_child(args, env, tmp / "native", tmp / name)
            res = json.loads((tmp / name / "result.json").read_text())
            for stage in STAGES:
                r = res[stage]
                for mode, v in r.items() if "isolated" in r else [("", r)]:
                    print(f"{stage:15s} {mode:9s} {json.dumps(v)}")
            all_same &= res["search"]["chained"]["identical"]
    print(f"cpu_digest_retrieval_identical: {int(all_same)}")


if __name__ == "__main__":
    main()
