"""Snakemake adapter: aggregate recall and latency tables."""

from pathlib import Path

from vgrerank.logs import logged
from vgrerank.report.tables import aggregate

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    aggregate(
        sm.input.recall,
        sm.input.sweep,
        sm.params.runs,
        Path(sm.output.recall_csv).parent,
        conf=dict(sm.params.config),
        query_files=sm.input.queries,
        methods=sm.params.methods,
        seed=sm.params.seed,
        num_boot=sm.params.num_boot,
    )
