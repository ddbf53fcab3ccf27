"""Summary plots: R@1 vs per-query time, R@1 vs re-ranking depth K, R@1 vs condition severity;
every R@1 with its 95 % bootstrap interval (error bars / bands)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io.atomic import atomic_path  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def _yerr(rows: pd.DataFrame, n: int = 1):
    """Asymmetric error bars (percent) from the ``R@N_lo``/``R@N_hi`` columns, or None."""
    lo, hi = f"R@{n}_lo", f"R@{n}_hi"
    if lo not in rows.columns or hi not in rows.columns:
        return None
    y = 100 * rows[f"R@{n}"].to_numpy(dtype=float)
    return [y - 100 * rows[lo].to_numpy(dtype=float), 100 * rows[hi].to_numpy(dtype=float) - y]


def _panels(n: int):
    fig, axes = plt.subplots(1, max(n, 1), figsize=(5.2 * max(n, 1), 4.2), squeeze=False)
    return fig, axes[0]


def recall_vs_time(recall: pd.DataFrame, latency: pd.DataFrame, out: Path) -> None:
    """One point per method: R@1 against per-query re-ranking time (log scale)."""
    keys = sorted(recall.groupby(["dataset", "split"]).groups)
    fig, axes = _panels(len(keys))
    for ax, (ds, split) in zip(axes, keys, strict=False):
        r = recall[(recall.dataset == ds) & (recall.split == split)]
        lat = (
            latency[(latency.dataset == ds) & (latency.split == split)] if len(latency) else latency
        )
        for _, row in lat.iterrows():
            rr = r[(r.method == row.method) & (r.gdesc == row.gdesc)]
            if len(rr):
                ax.errorbar(
                    [row.total_ms],
                    [100 * rr["R@1"].iloc[0]],
                    yerr=_yerr(rr.iloc[:1]),
                    fmt="o",
                    ms=6,
                    capsize=3,
                )
                ax.annotate(
                    row.method,
                    (row.total_ms, 100 * rr["R@1"].iloc[0]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        for name, style in (("retrieval", "--"), ("chance", ":")):
            base = r[r.method == name]
            if len(base):
                ax.axhline(100 * base["R@1"].iloc[0], ls=style, c="grey", lw=1, label=f"{name} R@1")
        ax.set_xscale("log")
        ax.set_xlabel("re-ranking time per query (ms, log)")
        ax.set_ylabel("R@1 (%)")
        ax.set_title(f"{ds} / {split}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    _save(fig, out)


def recall_vs_k(sweep: pd.DataFrame, recall: pd.DataFrame, out: Path) -> None:
    """R@1 when only the first K retrieval candidates are re-ranked (from cached scores)."""
    keys = sorted(sweep.groupby(["dataset", "split"]).groups) if len(sweep) else []
    fig, axes = _panels(len(keys))
    for ax, (ds, split) in zip(axes, keys, strict=False):
        s = sweep[(sweep.dataset == ds) & (sweep.split == split)]
        several = s["gdesc"].nunique() > 1
        for (gdesc, method), g in s.groupby(["gdesc", "method"]):
            g = g.sort_values("K")
            label = f"{gdesc}: {method}" if several else method
            (line,) = ax.plot(g.K, 100 * g["R@1"], marker="o", ms=3, label=label)
            err = _yerr(g)
            if err is not None:
                y = 100 * g["R@1"].to_numpy(dtype=float)
                ax.fill_between(
                    g.K, y - err[0], y + err[1], color=line.get_color(), alpha=0.12, lw=0
                )
        base = recall[
            (recall.dataset == ds) & (recall.split == split) & (recall.method == "retrieval")
        ]
        if len(base):
            ax.axhline(100 * base["R@1"].iloc[0], ls="--", c="grey", lw=1, label="retrieval")
        ax.set_xscale("log")
        ax.set_xlabel("candidates re-ranked (K)")
        ax.set_ylabel("R@1 (%)")
        ax.set_title(f"{ds} / {split}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, out)


def recall_vs_severity(
    recall: pd.DataFrame,
    severity: dict[tuple[str, str], float],
    out: Path,
    xlabel: str = "night ambient light (fraction of day)",
) -> None:
    """The domain-shift curve: R@1 per method against a per-split severity value."""
    rows = recall[[(d, s) in severity for d, s in zip(recall.dataset, recall.split, strict=True)]]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    if len(set(severity.values())) < 2:
        ax.text(
            0.5,
            0.5,
            "configure night query splits with two or more ambient levels\n"
            "(datasets.<name>.synth.queries.<split>.ambient) to draw the domain-shift curve",
            ha="center",
            va="center",
            fontsize=8,
            transform=ax.transAxes,
        )
        ax.axis("off")
        _save(fig, out)
        return
    for method, g in rows.groupby("method"):
        if method == "chance":
            continue
        x = [severity[(d, s)] for d, s in zip(g.dataset, g.split, strict=True)]
        d = (
            pd.DataFrame({"x": x, "y": 100 * g["R@1"].to_numpy()})
            .assign(
                lo=100 * g["R@1_lo"].to_numpy() if "R@1_lo" in g else np.nan,
                hi=100 * g["R@1_hi"].to_numpy() if "R@1_hi" in g else np.nan,
            )
            .groupby("x")
            .mean()
            .sort_index()
        )
        yerr = None if d.lo.isna().all() else [d.y - d.lo, d.hi - d.y]
        ax.errorbar(
            d.index,
            d.y,
            yerr=yerr,
            marker="o",
            ms=4,
            capsize=3,
            label=method,
            ls="--" if method == "retrieval" else "-",
        )
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(xlabel + " (harder to the right)")
    ax.set_ylabel("R@1 (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, out)
