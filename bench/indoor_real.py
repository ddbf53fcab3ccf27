"""Indoor/outdoor classifier on real photos: SynthCity training collection plus real photos.

Trains the builder's indoor classifier (task ``indoor``: levels 0..9 and panoramic) and applies
the builder's keep rule (:func:`vgrerank.builder.filters.indoor_keep`, ``keep_levels`` and
``drop_panoramic`` from the config schema) to held-out data:

- ``pexels kept``: the half of the 1,081 real outdoor Pexels photos (../shared, day and night)
  not used for training (goal >= 0.90);
- ``corridor dropped``: the 111 Corridor query frames (indoor, 160x120; the 111 reference frames
  are training data);
- ``rooms dropped`` / ``streets kept``: a second rendered SynthCity collection (another city
  seed): photos of indoorness level >= keep_levels (rooms) and < keep_levels (streets),
  panoramas left out.

Methods (one seeded split of the Pexels photos for all):

- ``mobilenetv2 synth+real``: ImageNet transfer (:mod:`vgrerank.builder.classify.transfer`)
  on the SynthCity training collection (write_trainset: the demo city conf, another seed) plus
  the training half of the Pexels photos as ``outdoor`` (level 0) and the Corridor reference
  frames as ``indoor`` (level 9);
- ``mobilenetv2 synth``: the same without the real photos;
- ``efficientnet_b0 synth+real``: the from-scratch network (the indoor default before), on the
  same data as the first method (its inputs are squashed from the decoded thumbnails).

Each row gives the network alone and the shipped blend with the colour model (weight of the
network = the task's ``blend``). The transfer models are scored through their cached frozen
activations (photo and mirror, the same as the flip-averaged whole network). Training times are
wall-clock on ``--threads`` threads (printed, never checked); a transfer row's time is the
activation cache of its training photos (pro-rated from the one cache both rows share) plus
probe and fine-tuning.

Cost: on a shared 2-core machine (load ~6) rendering took 43 s, decoding 46 s, the two transfer
rows about 16 min and the from-scratch row over 28 min (it did not finish in that measurement):
use ``--no-baseline`` or ``--baseline-epochs`` to stay within ~15 min.

Skips (prints why, exits 0) when ../shared is absent. The rendered collections are cached under
``--work`` when given (a temporary folder otherwise).

Usage: nice -n 10 .venv/bin/python bench/indoor_real.py [--work DIR] [--n 400] [--n-heldout 600] [--seed 0]
    [--epochs N] [--baseline-epochs N] [--no-baseline] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vgrerank.builder.classify.colour import LogisticModel, feature_matrix
from vgrerank.builder.classify.data import decode_images, list_images, squash
from vgrerank.builder.classify.models import create_model
from vgrerank.builder.classify.tasks import get_task
from vgrerank.builder.classify.train import fit_arrays, network_proba
from vgrerank.builder.classify.transfer import cache_activations, cached_proba
from vgrerank.builder.filters import indoor_keep
from vgrerank.builder.stages import build_default
from vgrerank.builder.trainset import write_trainset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
PEXELS = SHARED / "daynight_pexels" / "train"
CORRIDOR = SHARED / "corridor"
CITY = {"blocks_x": 2, "blocks_y": 2, "db_spacing_m": 5.0}  # the demo's city (config.yaml)
COLLECTION = {"long_side": 320}  # as config/builder.yaml


def rendered(work: Path, name: str, city_seed: int, n: int) -> Path:
    """A rendered training collection (write_trainset) of the city seed, cached in ``work``."""
    out = work / f"{name}-seed{city_seed}-n{n}"
    if not (out / "collection.json").is_file():
        train = {"n": n, "collection": COLLECTION}
        with contextlib.redirect_stderr(io.StringIO()):  # the renderer's progress bar
            write_trainset({**CITY, "seed": city_seed}, out, daynight=train, indoor=train)
    return out


def synth_files(root: Path) -> tuple[list[Path], list[str]]:
    """(paths, labels) of a rendered collection's indoor/{0..9,panoramic}/ folders."""
    paths, labels = [], []
    for d in sorted((root / "indoor").iterdir()):
        files = list_images(d)
        paths += files
        labels += [d.name] * len(files)
    return paths, labels


def kept(clf_proba: np.ndarray, classes: list[str]) -> np.ndarray:
    """The builder's keep decision on the most probable class."""
    return indoor_keep([classes[j] for j in clf_proba.argmax(1)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="cache the rendered collections here")
    ap.add_argument("--n", type=int, default=400, help="photos of the training collection")
    ap.add_argument("--n-heldout", type=int, default=600, help="photos of the held-out one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="transfer epochs (task default)")
    ap.add_argument("--baseline-epochs", type=int, default=12)
    ap.add_argument("--baseline-size", type=int, default=128)
    ap.add_argument("--no-baseline", action="store_true", help="skip efficientnet_b0")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not (PEXELS / "day").is_dir() or not (CORRIDOR / "ref").is_dir():
        print(f"skipped: {PEXELS} or {CORRIDOR} not available (../shared is absent)")
        return
    torch.set_num_threads(args.threads)
    spec = get_task("indoor")
    classes = list(spec.classes)
    keep_levels = build_default("indoor.keep_levels")
    print(
        f"keep rule: levels < {keep_levels}, drop_panoramic "
        f"{build_default('indoor.drop_panoramic')}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        # training city: seed + 7919 (write_trainset); held-out city: seed + 1 + 7919
        train_root = rendered(work, "train", args.seed, args.n)
        held_root = rendered(work, "heldout", args.seed + 1, args.n_heldout)
        print(f"rendered collections: {time.perf_counter() - t0:.0f} s ({work})")

        rng = np.random.default_rng(args.seed)
        pexels = list_images(PEXELS / "day") + list_images(PEXELS / "night")
        order = rng.permutation(len(pexels))
        half = len(pexels) // 2
        pex_train = [pexels[i] for i in sorted(order[:half])]
        pex_test = [pexels[i] for i in sorted(order[half:])]
        cor_train, cor_test = list_images(CORRIDOR / "ref"), list_images(CORRIDOR / "query")
        s_paths, s_labels = synth_files(train_root)
        h_paths, h_labels = synth_files(held_root)
        h_keep = [lb != "panoramic" for lb in h_labels]
        h_paths = [p for p, k in zip(h_paths, h_keep, strict=True) if k]
        h_levels = np.asarray([int(lb) for lb, k in zip(h_labels, h_keep, strict=True) if k])

        train_paths = s_paths + pex_train + cor_train
        train_labels = s_labels + ["outdoor"] * len(pex_train) + ["indoor"] * len(cor_train)
        y = np.asarray([spec.index(lb) for lb in train_labels], np.int64)
        n_synth = len(s_paths)
        test_paths = pex_test + cor_test + h_paths
        n_pt, n_ct = len(pex_test), len(cor_test)
        sets = {
            "pexels kept": (slice(0, n_pt), True),
            "corridor dropped": (slice(n_pt, n_pt + n_ct), False),
            "rooms dropped": (np.r_[n_pt + n_ct : len(test_paths)][h_levels >= keep_levels], False),
            "streets kept": (np.r_[n_pt + n_ct : len(test_paths)][h_levels < keep_levels], True),
        }
        print(
            f"train: {n_synth} SynthCity + {len(pex_train)} Pexels (outdoor) + {len(cor_train)} "
            f"Corridor ref (indoor); test: {n_pt} Pexels, {n_ct} Corridor query, "
            f"{int((h_levels >= keep_levels).sum())} rooms, "
            f"{int((h_levels < keep_levels).sum())} streets"
        )

        t0 = time.perf_counter()
        size = 224
        px_train, th_train = decode_images(train_paths, size, progress=False)
        px_test, th_test = decode_images(test_paths, size, progress=False)
        f_train, f_test = feature_matrix(th_train), feature_matrix(th_test)
        print(f"decode + colour features: {time.perf_counter() - t0:.0f} s")

        def report(name: str, ckpt: dict, p_net: np.ndarray, train_s: float) -> None:
            colour = LogisticModel.from_dict(ckpt["colour_model"])
            w = float(ckpt["blend"])
            for mode, p in (
                ("network", p_net),
                (f"blend {w:.1f}", w * p_net + (1 - w) * colour.proba(f_test)),
            ):
                keep = kept(p, classes)
                cells = []
                for label, (idx, want) in sets.items():
                    k = keep[idx]
                    cells.append(f"{label} {(k if want else ~k).mean():.3f}")
                print(f"{name} [{mode}]: " + ", ".join(cells) + f"; train {train_s:.0f} s")

        t0 = time.perf_counter()
        act_train = cache_activations("mobilenetv2", px_train, seed=args.seed, progress=False)
        cache_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        act_test = cache_activations("mobilenetv2", px_test, views=2, progress=False)
        print(
            f"mobilenetv2 activations: train ({len(px_train)} photos x 4 views) {cache_s:.0f} s, "
            f"test {time.perf_counter() - t0:.0f} s"
        )
        subsets = {"synth+real": np.arange(len(y)), "synth": np.arange(n_synth)}
        for name, idx in subsets.items():
            t0 = time.perf_counter()
            ckpt = fit_arrays(
                "indoor", px_train[idx], f_train[idx], y[idx], arch="mobilenetv2",
                epochs=args.epochs, seed=args.seed, progress=False, activations=act_train[idx],
            )  # fmt: skip
            fit_s = time.perf_counter() - t0
            net = create_model(ckpt["arch"], len(classes))
            net.load_state_dict(ckpt["state_dict"], strict=True)
            net.eval()
            p = cached_proba(net, act_test)
            ep = ckpt["summary"]["epochs"]
            report(
                f"mobilenetv2 {name} ({ep} epochs)", ckpt, p, cache_s * len(idx) / len(y) + fit_s
            )

        if not args.no_baseline:
            s = args.baseline_size
            small_train = torch.from_numpy(np.stack([squash(t, s) for t in th_train]))
            small_test = torch.from_numpy(np.stack([squash(t, s) for t in th_test]))
            t0 = time.perf_counter()
            ckpt = fit_arrays(
                "indoor", small_train, f_train, y, arch="efficientnet_b0",
                epochs=args.baseline_epochs, seed=args.seed, progress=False,
            )  # fmt: skip
            fit_s = time.perf_counter() - t0
            net = create_model("efficientnet_b0", len(classes))
            net.load_state_dict(ckpt["state_dict"], strict=True)
            p = network_proba(net, small_test, ckpt["mean"], ckpt["std"])
            report(
                f"efficientnet_b0 scratch synth+real ({args.baseline_epochs} epochs, {s} px)",
                ckpt, p, fit_s,
            )  # fmt: skip


if __name__ == "__main__":
    main()
