"""Aggregate per-run CSVs into ``results/tables/{recall,latency,recall_vs_k}.{csv,md}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..errors import DataError
from ..io.atomic import atomic_path
from ..io.provenance import provenance
from ..rerank import read_parquet_meta

RECALL_COLUMNS = [
    "dataset",
    "split",
    "method",
    "K",
    "threshold_m",
    "R@1",
    "R@5",
    "R@10",
    "R@20",
    "R@100",
    "gdesc",
]


def _read_all(paths: Sequence[Path]) -> pd.DataFrame:
    frames = []
    for p in paths:
        try:
            frames.append(pd.read_csv(p))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{p}: cannot read recall table ({exc})") from None
    if not frames:
        raise DataError("no recall files to aggregate")
    return pd.concat(frames, ignore_index=True)


def _order(df: pd.DataFrame) -> pd.DataFrame:
    first = {"retrieval": 0, "chance": 2}
    key = df["method"].map(lambda m: first.get(m, 1))
    return (
        df.assign(_o=key)
        .sort_values(["dataset", "split", "gdesc", "_o", "method", "K"])
        .drop(columns="_o")
    )


def write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_csv_with_provenance(df: pd.DataFrame, path: Path, conf) -> None:
    """The CSV itself plus ``<name>.provenance.json`` beside it (config hash, versions, commit)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    write_text(
        json.dumps(provenance(conf), indent=2, sort_keys=True) + "\n",
        path.with_name(path.name + ".provenance.json"),
    )


def recall_markdown(df: pd.DataFrame, ns=(1, 5, 10)) -> str:
    """The reference study's layout: methods as rows (retrieval first, chance last), one column
    group per dataset/split with the R@100 upper bound (retrieval R@100) in its header."""
    out = []
    for (gdesc, k), part in df.groupby(["gdesc", "K"], sort=True):
        groups = list(part.groupby(["dataset", "split"], sort=True))
        header = ["Method"]
        for (ds, split), g in groups:
            ub = g.loc[g["method"] == "retrieval", "R@100"]
            ubs = f"{100 * ub.iloc[0]:.1f}" if len(ub) else "n/a"
            header += [f"{ds} {split} (R@100 {ubs}) R@{ns[0]}"] + [f"R@{n}" for n in ns[1:]]
        methods = list(dict.fromkeys(_order(part)["method"]))
        lines = [
            f"### {gdesc}, top-{k} re-ranked",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        for m in methods:
            cells = [m]
            for _, g in groups:
                r = g[g["method"] == m]
                cells += [f"{100 * r[f'R@{n}'].iloc[0]:.1f}" if len(r) else "" for n in ns]
            lines.append("| " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def latency_table(runs: Sequence[dict]) -> pd.DataFrame:
    """``runs``: dicts with keys dataset, split, gdesc, method, parquet, db_features."""
    rows = []
    db_cache: dict[str, tuple[int, float]] = {}
    for run in runs:
        df = pd.read_parquet(
            run["parquet"], columns=["query", "retrieval_rank", "t_extract", "t_match", "t_score"]
        )
        k = int(df["retrieval_rank"].max()) + 1
        per_q = df.groupby("query")[["t_extract", "t_match", "t_score"]].first()
        dbf = str(run["db_features"])
        if dbf not in db_cache:
            with h5py.File(dbf, "r") as f:
                times = [f[key].attrs["time"] for key in f]
            db_cache[dbf] = (len(times), float(np.sum(times)))
        n_db, t_db = db_cache[dbf]
        meta = read_parquet_meta(Path(run["parquet"]))
        ms = per_q.mean() * 1000
        rows.append(
            {
                "dataset": run["dataset"],
                "split": run["split"],
                "gdesc": run["gdesc"],
                "method": run["method"],
                "K": k,
                "extract_ms": ms["t_extract"],
                "match_ms": ms["t_match"],
                "score_ms": ms["t_score"],
                "total_ms": ms.sum(),
                "pair_ms": (ms["t_match"] + ms["t_score"]) / k,
                "db_images": n_db,
                "db_extract_ms_per_image": 1000 * t_db / max(n_db, 1),
                "db_extract_s": t_db,
                "device": meta.get("device", ""),
            }
        )
    return pd.DataFrame(rows).round(3)


def latency_markdown(df: pd.DataFrame) -> str:
    cols = [
        "dataset",
        "split",
        "method",
        "K",
        "extract_ms",
        "match_ms",
        "score_ms",
        "total_ms",
        "pair_ms",
        "db_extract_ms_per_image",
    ]
    head = [
        "dataset",
        "split",
        "method",
        "K",
        "query extract (ms)",
        "match (ms)",
        "score (ms)",
        "total / query (ms)",
        "per pair (ms)",
        "DB extract / image (ms)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in df[cols].iterrows():
        lines.append(
            "| " + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in r) + " |"
        )
    return (
        "Per-query time to re-rank the top-K candidates (query-side extraction, matching and scoring); database features are extracted once per image and cached.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def aggregate(recall_files, sweep_files, runs, outdir: Path, conf=None) -> dict[str, Path]:
    outdir = Path(outdir)
    recall = _order(_read_all(recall_files))
    cols = [c for c in RECALL_COLUMNS if c in recall.columns]
    recall = recall[cols]
    out = {
        "recall_csv": outdir / "recall.csv",
        "recall_md": outdir / "recall.md",
        "latency_csv": outdir / "latency.csv",
        "latency_md": outdir / "latency.md",
        "sweep_csv": outdir / "recall_vs_k.csv",
    }
    write_csv_with_provenance(recall, out["recall_csv"], conf)
    write_text(recall_markdown(recall), out["recall_md"])
    lat = (
        latency_table(runs)
        if runs
        else pd.DataFrame(columns=["dataset", "split", "gdesc", "method", "K"])
    )
    write_csv_with_provenance(lat, out["latency_csv"], conf)
    write_text(
        latency_markdown(lat) if len(lat) else "No re-ranking methods configured.\n",
        out["latency_md"],
    )
    sweep = _read_all(sweep_files) if sweep_files else pd.DataFrame(columns=cols)
    write_csv_with_provenance(sweep, out["sweep_csv"], conf)
    return out
