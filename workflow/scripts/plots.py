"""Snakemake adapter: summary plots."""

import pandas as pd

from vgrerank.logs import logged
from vgrerank.report.plots import recall_vs_k, recall_vs_severity, recall_vs_time

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    recall = pd.read_csv(sm.input.recall)
    latency = pd.read_csv(sm.input.latency)
    sweep = pd.read_csv(sm.input.sweep)
    recall_vs_time(recall, latency, sm.output.time)
    recall_vs_k(sweep, recall, sm.output.k)
    severity = {(ds, split): level for ds, split, level in sm.params.severity}
    recall_vs_severity(recall, severity, sm.output.severity)
