"""The funnel of the query-set builder: how many photos each stage dropped.

Input: the stage tables by name, in pipeline order, e.g. ``[("photos", photos), ("indoor",
indoor), ("day", daynight), ("duplicates", dedup), ("no-positive", geotag)]`` (DataFrames or
table paths, read with :func:`.table.read_table`). A photo *reaches* a stage when every earlier
table lists it with ``keep`` true (all rows of the first table reach it); the stage *drops* the
photos that reach it and that it lists with ``keep`` false. A table may list only the photos that
reached its stage, or all of them; a photo that reached a stage but is missing from its table is
an error (the funnel would not be auditable).

:func:`stage_summary` gives one row per stage (``stage``, ``reached``, ``dropped``, ``passed``).
:func:`funnel_table` gives the report rows (``step``, ``count``, ``percent`` of found):
'found' (rows of the first table), '<passed label>' and '<dropped label>' of the first (source)
stage ('downloaded', 'failed' by default), '<stage> dropped' for every later stage, and 'kept'.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import DataError
from ..io.atomic import atomic_path
from .table import read_table

StageInput = pd.DataFrame | str | os.PathLike


def _load(name: str, table: StageInput) -> tuple[pd.DataFrame, str]:
    """(table, label for errors): the file path when read from disk, else 'stage <name>'."""
    if isinstance(table, pd.DataFrame):
        label = f"stage {name!r}"
        missing = [c for c in ("photo_id", "keep") if c not in table.columns]
        if missing:
            raise DataError(f"{label}: missing column(s) {missing}; has {list(table.columns)}")
        return table, label
    return read_table(table, ("photo_id", "keep")), f"{table} (stage {name!r})"


def _keep_map(table: pd.DataFrame, label: str) -> dict[str, bool]:
    ids = table["photo_id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise DataError(f"{label}: duplicate photo_id(s) {sorted(set(dup))[:5]}")
    return dict(zip(ids, _as_bool(table["keep"], label), strict=True))


def _as_bool(keep: pd.Series, label: str) -> list[bool]:
    """``keep`` as bools; CSV round trips give 'True'/'False' strings."""
    out = []
    for v in keep:
        if isinstance(v, str):
            if v.strip().lower() not in ("true", "false", "1", "0"):
                raise DataError(f"{label}: keep value {v!r} is not a boolean")
            out.append(v.strip().lower() in ("true", "1"))
        else:
            out.append(bool(v))
    return out


def _items(stages) -> list[tuple[str, StageInput]]:
    items = list(stages.items()) if isinstance(stages, Mapping) else list(stages)
    if not items:
        raise DataError("funnel: no stage tables given")
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise DataError(f"funnel: stage names repeat: {names}")
    return items


def stage_summary(
    stages: Sequence[tuple[str, StageInput]] | Mapping[str, StageInput],
) -> pd.DataFrame:
    """One row per stage: stage, reached, dropped, passed (see the module docstring)."""
    rows = []
    alive: set[str] | None = None
    for name, table in _items(stages):
        df, label = _load(name, table)
        keep = _keep_map(df, label)
        reached = set(keep) if alive is None else alive
        missing = reached - set(keep)
        if missing:
            raise DataError(
                f"{label}: {len(missing)} photo(s) that reached stage {name!r} are not in its "
                f"table, e.g. {sorted(missing)[:5]}"
            )
        alive = {p for p in reached if keep[p]}
        rows.append(
            {
                "stage": name,
                "reached": len(reached),
                "dropped": len(reached) - len(alive),
                "passed": len(alive),
            }
        )
    return pd.DataFrame(rows, columns=["stage", "reached", "dropped", "passed"])


def funnel_table(
    stages: Sequence[tuple[str, StageInput]] | Mapping[str, StageInput],
    source_labels: tuple[str, str] = ("downloaded", "failed"),
) -> pd.DataFrame:
    """The report funnel (module docstring): step, count, percent of found (1 decimal)."""
    summary = stage_summary(stages)
    first = summary.iloc[0]
    steps = [
        ("found", int(first["reached"])),
        (source_labels[0], int(first["passed"])),
        (source_labels[1], int(first["dropped"])),
    ]
    steps += [(f"{r.stage} dropped", int(r.dropped)) for r in summary.iloc[1:].itertuples()]
    steps.append(("kept", int(summary.iloc[-1]["passed"])))
    found = steps[0][1]
    return pd.DataFrame(
        {
            "step": [s for s, _ in steps],
            "count": [c for _, c in steps],
            "percent": [round(100.0 * c / found, 1) if found else 0.0 for _, c in steps],
        }
    )


def funnel_markdown(funnel: pd.DataFrame) -> str:
    """A Markdown table of :func:`funnel_table` (counts right-aligned)."""
    lines = ["| step | count | % of found |", "|:--|--:|--:|"]
    lines += [f"| {r.step} | {r.count} | {r.percent:.1f} |" for r in funnel.itertuples()]
    return "\n".join(lines) + "\n"


def write_funnel_csv(funnel: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the funnel as CSV (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        funnel.to_csv(tmp, index=False)
    return path


def write_funnel_markdown(funnel: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write :func:`funnel_markdown` (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(funnel_markdown(funnel))
    return path
