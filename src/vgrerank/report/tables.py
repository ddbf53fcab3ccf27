"""Aggregate per-run CSVs into ``results/tables/{recall,latency,recall_vs_k}.{csv,md}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io.atomic import atomic_path
from ..io.h5util import open_h5
from ..io.provenance import provenance
from ..rerank import read_parquet_meta, read_rerank
from ..stats import holm, localized, paired_comparison, split_seed, unpaired_difference

ID_COLUMNS = ["dataset", "split", "method", "K", "depth", "threshold_m", "queries"]
LEARNED_EXTRACTORS = {"aliked", "disk", "xfeat", "alike", "r2d2"}


def recall_value_columns(df: pd.DataFrame) -> list[str]:
    """``R@N, R@N_lo, R@N_hi`` columns present in ``df``, by increasing N."""
    ns = sorted({int(c[2:]) for c in df.columns if c.startswith("R@") and c[2:].isdigit()})
    return [c for n in ns for c in (f"R@{n}", f"R@{n}_lo", f"R@{n}_hi") if c in df.columns]


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read {what} ({exc})") from None


def _read_all(paths: Sequence[Path], what: str = "recall table") -> pd.DataFrame:
    frames = [_read_csv(p, what) for p in paths]
    if not frames:
        raise DataError(f"no {what} files to aggregate")
    return pd.concat(frames, ignore_index=True)


def _order(df: pd.DataFrame) -> pd.DataFrame:
    first = {"retrieval": 0, "chance": 2}
    key = df["method"].map(lambda m: first.get(m, 1))
    return (
        df.assign(_o=key)
        .sort_values(["dataset", "split", "gdesc", "_o", "method", "K"])
        .drop(columns="_o")
        .reset_index(drop=True)
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


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _cell(row: pd.Series, n: int) -> str:
    v = row.get(f"R@{n}")
    if v is None or pd.isna(v):
        return ""
    lo, hi = row.get(f"R@{n}_lo"), row.get(f"R@{n}_hi")
    if lo is None or pd.isna(lo):
        return _pct(v)
    return f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]"


def query_ranks(query_files: Sequence[Path]) -> dict[tuple, pd.Series]:
    """(dataset, split, gdesc, K, method) -> per-query first-hit ranks indexed by query name,
    from the ``*.queries.csv`` files (their folder ``recall/<gdesc>-K<k>`` and path give the
    keys)."""
    out = {}
    for p in query_files:
        p = Path(p)
        df = _read_csv(p, "per-query ranks")
        # results/<dataset>/<split>/recall/<gdesc>-K<k>/<method>.queries.csv
        run = p.parent.name
        gdesc, _, k = run.rpartition("-K")
        split, dataset = p.parents[2].name, p.parents[3].name
        if "query_name" not in df.columns or not k.isdigit():
            raise DataError(f"{p}: not a per-query ranks file (column query_name, folder <g>-K<k>)")
        for m in df.columns.drop("query_name"):
            out[(dataset, split, gdesc, int(k), m)] = df.set_index("query_name")[m]
    return out


def _ceiling(ranks: dict, key: tuple, k: int) -> float | None:
    r = ranks.get((*key, "retrieval"))
    if r is None:
        return None
    return float(np.mean(localized(r.to_numpy(), k)))


def recall_markdown(df: pd.DataFrame, ranks: dict | None = None, ns=(1, 5, 10)) -> str:
    """The reference study's layout: methods as rows (retrieval first, chance last), one column
    group per dataset/split; every cell is R@N with its 95 % bootstrap interval. One table per
    (global descriptor, K); its heading states K and the retrieval depth."""
    ranks = ranks or {}
    out = []
    for (gdesc, k), part in df.groupby(["gdesc", "K"], sort=True):
        k = int(k)
        groups = list(part.groupby(["dataset", "split"], sort=True))
        depths = sorted({int(d) for d in part["depth"]})
        header = ["Method"]
        cols = []
        for (ds, split), g in groups:
            depth = int(g["depth"].max())
            nq = int(g["queries"].max())
            ceil = _ceiling(ranks, (ds, split, gdesc, k), k)
            note = f", re-rank ceiling R@{k} {_pct(ceil)}" if ceil is not None else ""
            group_ns = [n for n in ns if n <= depth]
            for i, n in enumerate(group_ns):
                header.append(f"{ds} {split} ({nq} q{note}) R@{n}" if i == 0 else f"R@{n}")
            cols.append((g, group_ns))
        methods = list(dict.fromkeys(_order(part)["method"]))
        depth_txt = "/".join(str(d) for d in depths)
        lines = [
            f"### {gdesc}: top-{k} re-ranked, retrieval depth {depth_txt}",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        tail = False
        for m in methods:
            cells = [m]
            for g, group_ns in cols:
                r = g[g["method"] == m]
                for n in group_ns:
                    c = _cell(r.iloc[0], n) if len(r) else ""
                    if c and n > k and m not in ("retrieval", "chance"):
                        c += " †"
                        tail = True
                    cells.append(c)
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Recall@N in %, [95 % bootstrap interval over queries]. "
            "`retrieval`: the global descriptor alone; `chance`: expected recall of a random "
            "ranking.",
        ]
        if tail:
            lines.append(
                f"† N > K = {k}: the candidates after the first {k} keep their retrieval order, "
                "so this column equals retrieval's."
            )
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _family(ranks: dict, dataset, split, gdesc, k) -> dict[str, pd.Series]:
    fam = {
        m: r for (d, s, g, kk, m), r in ranks.items() if (d, s, g, kk) == (dataset, split, gdesc, k)
    }
    names = None
    for m, r in fam.items():
        if names is None:
            names = list(r.index)
        elif list(r.index) != names:
            raise DataError(
                f"{dataset}/{split}/{gdesc}-K{k}: {m} was evaluated on other queries than the rest"
            )
    return fam


def paired_table(ranks: dict, seed: int = 0, num_boot: int = 10000, n: int = 1) -> pd.DataFrame:
    """Every pair of rankings of one (dataset, split, gdesc, K): R@N difference ``b - a`` with a
    paired bootstrap interval, McNemar's exact test, and Holm's adjustment over the family (all
    pairs of that split)."""
    rows = []
    for dataset, split, gdesc, k in sorted({key[:4] for key in ranks}):
        fam = _family(ranks, dataset, split, gdesc, k)
        order = ["retrieval"] + sorted(m for m in fam if m != "retrieval")
        order = [m for m in order if m in fam]
        seeds = split_seed(seed, dataset, split)
        fam_rows = []
        for i, a in enumerate(order):
            for b in order[i + 1 :]:
                c = paired_comparison(
                    fam[a].to_numpy(), fam[b].to_numpy(), n, seed=seeds, num_boot=num_boot
                )
                fam_rows.append(
                    {
                        "dataset": dataset,
                        "split": split,
                        "gdesc": gdesc,
                        "K": k,
                        "N": n,
                        "queries": len(fam[a]),
                        "a": a,
                        "b": b,
                        f"R@{n}_a": float(np.mean(localized(fam[a].to_numpy(), n))),
                        f"R@{n}_b": float(np.mean(localized(fam[b].to_numpy(), n))),
                        **c,
                    }
                )
        if fam_rows:
            adj = holm([r["p_mcnemar"] for r in fam_rows])
            for r, p in zip(fam_rows, adj, strict=True):
                r["p_holm"] = float(p)
                r["significant"] = bool(p < 0.05)
        rows += fam_rows
    df = pd.DataFrame(rows)
    return df.round(6) if len(df) else df


def paired_markdown(df: pd.DataFrame) -> str:
    if not len(df):
        return "No pairs of methods to compare.\n"
    n = int(df["N"].iloc[0])
    out = [
        f"Paired comparisons of R@{n} on the same queries: difference b - a in points with its "
        "95 % paired-bootstrap interval, queries right only for b / only for a, McNemar's exact "
        "p and Holm's adjustment over all pairs of the split. **Bold**: significant at 5 % "
        "after Holm."
    ]
    for (ds, split, gdesc, k), g in df.groupby(["dataset", "split", "gdesc", "K"], sort=True):
        lines = [
            f"### {ds} {split} ({int(g['queries'].iloc[0])} queries), {gdesc}, top-{int(k)}",
            "",
            "| a | b | R@1 a | R@1 b | b - a [95 % CI] | b only / a only | p | p (Holm) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for _, r in g.iterrows():
            d = f"{100 * r['diff']:+.1f} [{100 * r['diff_lo']:+.1f}, {100 * r['diff_hi']:+.1f}]"
            if r["significant"]:
                d = f"**{d}**"
            lines.append(
                f"| {r['a']} | {r['b']} | {_pct(r[f'R@{n}_a'])} | {_pct(r[f'R@{n}_b'])} | {d} "
                f"| {int(r['b_only'])} / {int(r['a_only'])} | {r['p_mcnemar']:.3g} "
                f"| {r['p_holm']:.3g} |"
            )
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _pair(paired: pd.DataFrame, run: tuple, a: str, b: str):
    """The paired-table row of methods ``a`` and ``b`` of one run (either order) and the sign
    that turns its ``b - a`` columns into ``b - a`` of the arguments; (None, 1) if absent."""
    dataset, split, gdesc, k = run
    sel = paired[
        (paired.dataset == dataset)
        & (paired.split == split)
        & (paired.gdesc == gdesc)
        & (paired.K == k)
        & (((paired.a == a) & (paired.b == b)) | ((paired.a == b) & (paired.b == a)))
    ]
    if not len(sel):
        return None, 1
    row = sel.iloc[0]
    return row, (1 if row["b"] == b else -1)


def _is_learned(method: str, methods: dict | None) -> bool | None:
    conf = (methods or {}).get(method)
    if not conf:
        return None
    return conf["extractor"].get("type") in LEARNED_EXTRACTORS


def claims_markdown(
    ranks: dict,
    paired: pd.DataFrame,
    methods: dict | None = None,
    seed: int = 0,
    num_boot: int = 10000,
    reference_split: str = "day",
) -> str:
    """The headline claims, each with its 95 % interval and whether the data support it:
    (1) retrieval R@1 on each split is below the ``day`` split's (unpaired bootstrap);
    (2) the best re-ranking method beats retrieval on each split (paired, Holm-adjusted over
    all pairs) and the share of the day-to-split gap it recovers; (3) the best learned method vs
    the best classical one (paired)."""
    lines = [
        "Headline claims, computed from the per-query results (R@1; 95 % bootstrap intervals; "
        "a claim holds when its interval excludes 0 and, for paired tests, McNemar's p after "
        "Holm's adjustment is below 0.05).",
        "",
    ]
    runs = sorted({key[:4] for key in ranks})
    for dataset, split, gdesc, k in runs:
        fam = _family(ranks, dataset, split, gdesc, k)
        if "retrieval" not in fam:
            continue
        r1 = {m: float(np.mean(localized(r.to_numpy(), 1))) for m, r in fam.items()}
        head = f"**{dataset} {split}**, {gdesc}, top-{k} ({len(fam['retrieval'])} queries):"
        lines.append(head)
        ref = (dataset, reference_split, gdesc, k, "retrieval")
        gap = None
        if split != reference_split and ref in ranks:
            u = unpaired_difference(
                ranks[ref].to_numpy(),
                fam["retrieval"].to_numpy(),
                1,
                seed=split_seed(seed, dataset, reference_split, split),
                num_boot=num_boot,
            )
            gap = -u["diff"]
            holds = u["diff_hi"] < 0
            lines.append(
                f"- retrieval R@1 {_pct(r1['retrieval'])} vs {_pct(gap + r1['retrieval'])} on "
                f"{reference_split}: {100 * u['diff']:+.1f} points "
                f"[{100 * u['diff_lo']:+.1f}, {100 * u['diff_hi']:+.1f}]: "
                + ("**below, significant**" if holds else "not significantly below")
            )
        others = [m for m in fam if m not in ("retrieval",)]
        if others:
            best = max(others, key=lambda m: (r1[m], m))
            c, _ = _pair(paired, (dataset, split, gdesc, k), "retrieval", best)
            if c is not None:
                rec = ""
                if gap is not None and gap > 0:
                    rec = (
                        f"; recovers {100 * c['diff'] / gap:.0f} % of the {100 * gap:.1f}-point "
                        f"gap to {reference_split} (interval {100 * c['diff_lo'] / gap:.0f} to "
                        f"{100 * c['diff_hi'] / gap:.0f} %)"
                    )
                verdict = (
                    "**significant**"
                    if c["significant"] and c["diff_lo"] > 0
                    else "not significant"
                )
                lines.append(
                    f"- best re-ranking {best}: R@1 {_pct(r1[best])} vs retrieval "
                    f"{_pct(r1['retrieval'])}, {100 * c['diff']:+.1f} points "
                    f"[{100 * c['diff_lo']:+.1f}, {100 * c['diff_hi']:+.1f}], McNemar p "
                    f"{c['p_mcnemar']:.3g} (Holm {c['p_holm']:.3g}): {verdict}{rec}"
                )
            learned = [m for m in others if _is_learned(m, methods)]
            classical = [m for m in others if _is_learned(m, methods) is False]
            if learned and classical:
                bl = max(learned, key=lambda m: (r1[m], m))
                bc = max(classical, key=lambda m: (r1[m], m))
                c, sign = _pair(paired, (dataset, split, gdesc, k), bc, bl)
                if c is not None:  # reported as learned - classical
                    lo, hi = sorted((sign * c["diff_lo"], sign * c["diff_hi"]))
                    sig = bool(c["significant"]) and (lo > 0 or hi < 0)
                    lines.append(
                        f"- best learned {bl} ({_pct(r1[bl])}) vs best classical {bc} "
                        f"({_pct(r1[bc])}): {100 * sign * c['diff']:+.1f} points "
                        f"[{100 * lo:+.1f}, {100 * hi:+.1f}], McNemar p {c['p_mcnemar']:.3g} "
                        f"(Holm {c['p_holm']:.3g}): "
                        + ("**significant**" if sig else "not significant")
                    )
        lines.append("")
    return "\n".join(lines)


def latency_table(runs: Sequence[dict]) -> pd.DataFrame:
    """``runs``: dicts with keys dataset, split, gdesc, method, parquet, db_features."""
    rows = []
    db_cache: dict[str, tuple[int, float]] = {}
    for run in runs:
        df = read_rerank(
            run["parquet"], columns=["query", "retrieval_rank", "t_extract", "t_match", "t_score"]
        )
        k = int(df["retrieval_rank"].max()) + 1
        per_q = df.groupby("query")[["t_extract", "t_match", "t_score"]].first()
        dbf = str(run["db_features"])
        if dbf not in db_cache:
            with open_h5(dbf, "database feature") as f:
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


def aggregate(
    recall_files,
    sweep_files,
    runs,
    outdir: Path,
    conf=None,
    query_files=(),
    methods: dict | None = None,
    seed: int = 0,
    num_boot: int = 10000,
) -> dict[str, Path]:
    outdir = Path(outdir)
    recall = _order(_read_all(recall_files))
    cols = [c for c in ID_COLUMNS if c in recall.columns]
    recall = recall[cols + recall_value_columns(recall) + ["gdesc"]]
    ranks = query_ranks(query_files)
    out = {
        "recall_csv": outdir / "recall.csv",
        "recall_md": outdir / "recall.md",
        "paired_csv": outdir / "paired.csv",
        "paired_md": outdir / "paired.md",
        "claims_md": outdir / "claims.md",
        "latency_csv": outdir / "latency.csv",
        "latency_md": outdir / "latency.md",
        "sweep_csv": outdir / "recall_vs_k.csv",
    }
    write_csv_with_provenance(recall, out["recall_csv"], conf)
    write_text(recall_markdown(recall, ranks), out["recall_md"])
    paired = paired_table(ranks, seed=seed, num_boot=num_boot)
    write_csv_with_provenance(paired, out["paired_csv"], conf)
    write_text(paired_markdown(paired), out["paired_md"])
    write_text(
        claims_markdown(ranks, paired, methods, seed=seed, num_boot=num_boot), out["claims_md"]
    )
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
    sweep = _read_all(sweep_files, "depth sweep") if sweep_files else pd.DataFrame(columns=cols)
    write_csv_with_provenance(sweep, out["sweep_csv"], conf)
    return out
