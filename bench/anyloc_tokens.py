"""Write the global descriptors of several ``anyloc`` presets from one ViT pass per image.

Every ``anyloc`` preset of a workflow config that shares the backbone and ``resize_max`` reads
the same forward pass (tokens at each preset's facet / layer): this computes them once per image
(:meth:`vgrerank.globaldesc.anyloc.AnyLoc.batch_features`), then writes each preset's
``results/<dataset>/global/<tag>/database.h5`` and ``queries_<split>.h5`` with the workflow's own
functions (:func:`vgrerank.globaldesc.extract.extract_database` / ``extract_queries``, the
workflow's dataset views and seed), the tokens served from memory. The files are what the
``global_database`` / ``global_queries`` rules write; ``snakemake`` then runs retrieval and
evaluation from them (``bench/global_paired.py`` compares the descriptors).

Usage: nice -n 15 .venv/bin/python bench/anyloc_tokens.py --configfile config/config.yaml
    [--configfile extra.yaml ...] [--dataset synthcity] [--results results]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from vgrerank.config import merge_config, validate_config
from vgrerank.datasets import load_dataset
from vgrerank.globaldesc import anyloc
from vgrerank.globaldesc.extract import extract_database, extract_queries
from vgrerank.imageio import load_image
from vgrerank.plan import Plan


def _key(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", action="append", type=Path, required=True)
    ap.add_argument("--dataset", default="synthcity")
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, help="first N images of each set (a smoke test)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    config: dict = {}
    for f in args.configfile:
        config = merge_config(config, yaml.safe_load(f.read_text()) or {})
    validate_config(config, source="config")
    plan = Plan(config)
    ds_name = args.dataset
    confs = {t: c for t, c in plan.globals.items() if c["type"] == "anyloc"}
    if not confs:
        raise SystemExit("no anyloc preset in the config's global list")
    groups = {(c.get("backbone"), c.get("resize_max")) for c in confs.values()}
    if len(groups) != 1:
        raise SystemExit(f"one backbone and resize_max at a time, got {sorted(groups)}")
    db = load_dataset(ds_name, plan.db_entry(ds_name))
    splits = plan.datasets[ds_name]["splits"]
    sets = [(db.root, list(db.database.names)[: args.limit])]
    for split in splits:
        ds = load_dataset(ds_name, plan.split_entry(ds_name, split))
        sets.append((ds.root, list(ds.split(split).names)[: args.limit]))
    specs = sorted({(c["facet"], int(c["layer"])) for c in confs.values()})
    # one forward pass per image: tokens at every spec, keyed by the image's bytes
    extractor = anyloc.AnyLoc({**next(iter(confs.values())), "device": "cpu"})
    cache: dict[str, dict] = {}
    t0 = time.time()
    bs = 8
    for root, names in sets:
        for s in tqdm(range(0, len(names), bs), desc="dinov2 tokens", mininterval=10):
            ims = [load_image(Path(root) / n) for n in names[s : s + bs]]
            for im, feats in zip(ims, extractor.batch_features(ims, specs), strict=True):
                cache[_key(im)] = dict(zip(specs, feats, strict=True))
    n_img = len(cache)
    print(f"tokens of {n_img} images in {time.time() - t0:.0f} s ({specs})")

    def cached(self, images):
        spec = (self.conf["facet"], int(self.conf["layer"]))
        return [cache[_key(im)][spec] for im in images]

    anyloc.AnyLoc._batch_tokens = cached  # the descriptors' own code from the tokens on
    for tag, conf in confs.items():
        conf = {**conf, "device": "cpu"}
        out = args.results / ds_name / "global" / tag
        t0 = time.time()
        extract_database(conf, db.root, sets[0][1], out / "database.h5", seed=config["seed"])
        for (root, names), split in zip(sets[1:], splits, strict=True):
            extract_queries(conf, out / "database.h5", root, names, out / f"queries_{split}.h5")
        print(f"{tag}: written in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
