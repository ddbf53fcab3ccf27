"""Snakemake adapter: qualitative figures for one dataset split."""

from pathlib import Path

from vgrerank.datasets import load_dataset
from vgrerank.logs import logged
from vgrerank.report.qualitative import make_figures

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    wc = sm.wildcards
    ds = load_dataset(wc.dataset, sm.params.dataset)
    runs = [
        {
            "method": sm.params.methods[r["method"]],
            "parquet": r["parquet"],
            "queries_h5": r["queries_features"],
            "database_h5": r["db_features"],
        }
        for r in sm.params.runs
    ]
    out = Path(sm.output[0])
    out.mkdir(parents=True, exist_ok=True)
    make_figures(
        ds, wc.split, sm.input.retrieval, runs, out, sm.params.num_queries, sm.params.failures_only
    )
