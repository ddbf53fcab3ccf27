"""Snakemake adapter: aggregate recall and latency tables."""

from pathlib import Path

from vgrerank.logs import logged
from vgrerank.report.tables import aggregate

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    k = sm.params.k
    runs = [
        dict(
            r,
            parquet=f"results/{r['dataset']}/{r['split']}/rerank/{r['gdesc']}-K{k}/{r['method']}.parquet",
            db_features=f"results/{r['dataset']}/local/{r['extractor']}/database.h5",
        )
        for r in sm.params.runs
    ]
    aggregate(
        sm.input.recall,
        sm.input.sweep,
        runs,
        Path(sm.output.recall_csv).parent,
        conf=dict(sm.params.config),
    )
