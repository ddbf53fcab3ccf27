"""Does a fresh run agree with the README's table? (``make demo`` ends with this check.)

The README's results table follows a marker line ``<!-- recall-table: <dataset> -->``; its
header cells name the split once (``day (40 q, ...) R@1``, then ``R@5``, ...) and its cells are
``value [lo, hi]`` in %. Each cell is compared with the same (split, method, R@N) of a fresh
``recall.csv``: ``same`` (equal to the printed precision), ``inside`` the README's 95 % interval,
or ``OUTSIDE`` it. Retrieval and chance rows are expected to be the same on every x86 CPU (exact
integer arithmetic); re-ranking rows may move by a query or two on another CPU (OpenCV's SIFT and
the torch kernels round differently per SIMD level).

Command line: ``python -m vgrerank.report.agreement README.md results/tables/recall.csv``;
exits 1 when a row is outside its interval or missing (2 on unreadable input).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError

MARKER = re.compile(r"<!--\s*recall-table:\s*(\S+)\s*-->")
CELL = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]\s*$"
)
HEADER = re.compile(r"^\s*(?:(\w[\w-]*)\b.*?)?R@(\d+)\s*$")


@dataclass
class Cell:
    method: str
    split: str
    n: int
    value: float
    lo: float
    hi: float


def readme_cells(readme: str | Path) -> tuple[str, list[Cell]]:
    """(dataset, cells) of the README table that follows the ``recall-table`` marker."""
    path = Path(readme)
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if MARKER.search(line)), None)
    if start is None:
        raise DataError(f"{path}: no '<!-- recall-table: <dataset> -->' marker")
    dataset = MARKER.search(lines[start]).group(1)
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            if rows:
                break
            continue
        if not line.lstrip().startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    if len(rows) < 3:
        raise DataError(f"{path}: no table after the recall-table marker (line {start + 1})")
    cols, split = [], None
    for h in rows[0][1:]:
        m = HEADER.match(h)
        if not m:
            raise DataError(f"{path}: table header {h!r} does not end in R@N")
        split = m.group(1) or split
        if split is None:
            raise DataError(f"{path}: table header {h!r} names no split")
        cols.append((split, int(m.group(2))))
    cells = []
    for row in rows[2:]:
        for (split, n), text in zip(cols, row[1:], strict=False):
            m = CELL.match(text)
            if not m:
                raise DataError(f"{path}: cell {text!r} of {row[0]!r} is not 'value [lo, hi]'")
            v, lo, hi = (float(g) for g in m.groups())
            cells.append(Cell(row[0], split, n, v, lo, hi))
    return dataset, cells


def compare(readme: str | Path, recall_csv: str | Path) -> list[tuple[Cell, float | None, str]]:
    """(README cell, fresh value in % or None, status) for every README cell."""
    dataset, cells = readme_cells(readme)
    df = pd.read_csv(recall_csv)
    df = df[df["dataset"] == dataset]
    out = []
    for c in cells:
        hit = df[(df["split"] == c.split) & (df["method"] == c.method)]
        col = f"R@{c.n}"
        if hit.empty or col not in hit:
            out.append((c, None, "MISSING"))
            continue
        v = round(100 * float(hit.iloc[0][col]), 1)
        status = "same" if v == c.value else ("inside" if c.lo <= v <= c.hi else "OUTSIDE")
        out.append((c, v, status))
    return out


def report(results: list[tuple[Cell, float | None, str]]) -> str:
    lines = []
    for c, v, status in results:
        fresh = "-" if v is None else f"{v:.1f}"
        lines.append(
            f"{status:8s} {c.split:8s} R@{c.n:<3d} {c.method}: {fresh} "
            f"(README {c.value:.1f} [{c.lo:.1f}, {c.hi:.1f}])"
        )
    same = sum(s == "same" for _, _, s in results)
    inside = sum(s == "inside" for _, _, s in results)
    bad = len(results) - same - inside
    verdict = "your run agrees with the README" if not bad else "your run DISAGREES"
    lines.append(
        f"README check: {same} of {len(results)} values the same, {inside} others inside the "
        f"README's 95 % intervals, {bad} outside or missing: {verdict}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m vgrerank.report.agreement README.md recall.csv", file=sys.stderr)
        return 2
    try:
        results = compare(args[0], args[1])
    except (DataError, OSError, KeyError) as exc:
        print(f"README check: {exc}", file=sys.stderr)
        return 2
    print(report(results))
    return int(any(s in ("OUTSIDE", "MISSING") for _, _, s in results))


if __name__ == "__main__":
    raise SystemExit(main())
