"""Paired comparison of global descriptors on the same queries (``paired.md`` compares the
methods of one descriptor; this compares descriptors): for each (dataset, split), R@N of every
descriptor with its 95 % bootstrap interval, then ``b - a`` against a reference descriptor with
the paired-bootstrap interval and McNemar's exact p (Holm over the split's comparisons), exactly
as :func:`vgrerank.report.tables.paired_table` does for methods (same resamples per split).

Reads the retrieval-only per-query ranks ``results/<dataset>/<split>/recall/<gtag>-K<k>/
retrieval.queries.csv`` of a finished run (``results/tables/recall.csv`` target).

Usage: .venv/bin/python bench/global_paired.py [--results results] [--ref vlad-dsift-k64-r480-exact]
    [--n 1] [--seed 0] [--boot 10000] [--out paired_global.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vgrerank.report.tables import query_ranks
from vgrerank.stats import bootstrap_recall, holm, paired_comparison, split_seed


def compare(results: Path, ref: str, n: int = 1, seed: int = 0, num_boot: int = 10000) -> str:
    files = sorted(results.glob("*/*/recall/*-K*/retrieval.queries.csv"))
    ranks = query_ranks(files)
    lines = [
        f"Global descriptors, retrieval only: R@{n} in % [95 % bootstrap interval]; b - a vs "
        f"`{ref}` in points [95 % paired-bootstrap interval], queries right only for b / only "
        "for a, McNemar's exact p, Holm over the split. **Bold**: significant at 5 % after Holm."
    ]
    for dataset, split in sorted({key[:2] for key in ranks}):
        fam = {k[2]: v for k, v in ranks.items() if k[:2] == (dataset, split)}
        if ref not in fam:
            continue
        seeds = split_seed(seed, dataset, split)
        a = fam[ref].sort_index().to_numpy()
        rows = []
        for g in sorted(fam):
            r = fam[g].sort_index()
            if list(r.index) != list(fam[ref].sort_index().index):
                raise SystemExit(f"{dataset}/{split}: {g} was evaluated on other queries")
            b = r.to_numpy()
            rec = bootstrap_recall(b, [n], seed=seeds, num_boot=num_boot)[n]
            c = None if g == ref else paired_comparison(a, b, n, seed=seeds, num_boot=num_boot)
            rows.append((g, rec, c))
        adj = iter(holm([c["p_mcnemar"] for _, _, c in rows if c is not None]))
        lines += [
            "",
            f"### {dataset} {split} ({len(a)} queries)",
            "",
            f"| descriptor | R@{n} | b - a [95 % CI] | b only / a only | p | p (Holm) |",
            "|---|---|---|---|---|---|",
        ]
        for g, rec, c in rows:
            r = f"{100 * rec[0]:.1f} [{100 * rec[1]:.1f}, {100 * rec[2]:.1f}]"
            if c is None:
                lines.append(f"| `{g}` (a) | {r} | | | | |")
                continue
            p_holm = float(next(adj))
            d = f"{100 * c['diff']:+.1f} [{100 * c['diff_lo']:+.1f}, {100 * c['diff_hi']:+.1f}]"
            d = f"**{d}**" if p_holm < 0.05 else d
            lines.append(
                f"| `{g}` | {r} | {d} | {c['b_only']} / {c['a_only']} | {c['p_mcnemar']:.3g} "
                f"| {p_holm:.3g} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--ref", default="vlad-dsift-k64-r480-exact")
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=10000)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    text = compare(args.results, args.ref, args.n, args.seed, args.boot)
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
