"""``vgrerank-classify``: train, apply and cross-validate the builder's image classifiers.

Examples::

    vgrerank-classify train --task daynight --out daynight.pt day=photos/day night=photos/night
    vgrerank-classify train --task indoor --out indoor.pt 0=streets 9=rooms panoramic=panos
    vgrerank-classify predict --model daynight.pt --out preds.csv photos/new
    vgrerank-classify predict --brightness --out preds.csv photos/new
    vgrerank-classify cv --task daynight --folds 5 day=photos/day night=photos/night

``predict`` writes ``path,label,probability`` rows (``--probabilities`` adds one ``p_<class>``
column per class). Errors (missing folders, corrupt images, a checkpoint of another task) print
one line naming the file and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ...errors import VGError
from ...io import atomic_path
from .data import list_images, parse_label_dirs
from .tasks import TASKS

DEVICE_HELP = "auto (cuda when available, else cpu), cpu, cuda or cuda:N"


def _common_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--arch", default=None, help="timm architecture, or 'none' (colour model only)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="square input side in px (128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--blend", type=float, default=None, help="weight of the network vs colour (task default)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("folders", nargs="+", metavar="LABEL=DIR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vgrerank-classify", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a classifier on labelled folders")
    _common_train(p)
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--no-colour", action="store_true", help="network only, no colour model")
    p.add_argument("--log", default=None, help="append training log lines to this file")
    p = sub.add_parser("predict", help="classify images (folders are searched recursively)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--model", help="checkpoint written by 'train' (or your own)")
    group.add_argument("--brightness", action="store_true", help="mean HSV value rule")
    p.add_argument("--threshold", type=float, default=100.0, help="brightness rule threshold")
    p.add_argument("--task", default=None, choices=sorted(TASKS), help="check the model's task")
    p.add_argument("--out", required=True, help="CSV to write")
    p.add_argument("--probabilities", action="store_true", help="add p_<class> columns")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_IMAGE")
    p = sub.add_parser("cv", help="k-fold cross-validated accuracy on labelled folders")
    _common_train(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--out", default=None, help="also write the per-fold table (CSV)")
    return parser


def _inputs(items: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        paths += list_images(path) if path.is_dir() else [path]
    return paths


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "train":
        from .train import train_classifier

        summary = train_classifier(
            args.task,
            parse_label_dirs(args.folders),
            args.out,
            arch=args.arch,
            epochs=args.epochs,
            size=args.size,
            seed=args.seed,
            device=args.device,
            colour=not args.no_colour,
            blend=args.blend,
            log=args.log,
        )
        print(
            f"{args.out}: {summary['n_train']} images {summary['counts']}, "
            f"{summary['train_time_s']:.1f} s"
        )
    elif args.command == "predict":
        from .predict import brightness_predict, predict_images

        paths = _inputs(args.inputs)
        if args.brightness:
            df = brightness_predict(paths, args.threshold)
        else:
            df = predict_images(args.model, paths, device=args.device, task=args.task)
        if not args.probabilities:
            df = df[["path", "label", "probability"]]
        with atomic_path(args.out) as tmp:
            df.to_csv(tmp, index=False)
        counts = df["label"].value_counts().to_dict()
        print(f"{args.out}: {len(df)} images {counts}")
    else:
        from .cv import METHODS, cross_validate

        df = cross_validate(
            args.task,
            parse_label_dirs(args.folders),
            folds=args.folds,
            seed=args.seed,
            arch=args.arch,
            epochs=args.epochs,
            size=args.size,
            blend=args.blend,
            device=args.device,
        )
        cols = ["fold", "n_test", "train_time_s", *[m for m in METHODS if df[m].notna().any()]]
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if args.out:
            with atomic_path(args.out) as tmp:
                df.to_csv(tmp, index=False)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except VGError as exc:
        print(f"vgrerank-classify: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
