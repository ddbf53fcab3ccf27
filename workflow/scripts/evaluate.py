"""Snakemake adapter: Recall@N of the retrieval baseline or of one re-ranking method."""

import numpy as np

from vgrerank.datasets import load_dataset
from vgrerank.errors import DataError
from vgrerank.logs import logged
from vgrerank.report.recall import evaluate_rerank, evaluate_retrieval
from vgrerank.rerank import read_rerank
from vgrerank.retrieval import read_retrieval

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    wc = sm.wildcards
    ds = load_dataset(wc.dataset, sm.params.dataset)
    ret = read_retrieval(sm.input.retrieval)
    q = ds.split(wc.split)
    if list(ret.query_names) != q.names:
        raise DataError(
            f"{sm.input.retrieval}: query names differ from those of dataset "
            f"{wc.dataset!r} split {wc.split!r} ({len(ret.query_names)} vs {len(q.names)} "
            "queries): a stale retrieval file? delete it and rerun"
        )
    positives = ds.positives(wc.split)
    indices = np.asarray(ret.indices)
    common = dict(
        dataset=wc.dataset,
        split=wc.split,
        gdesc=wc.gtag,
        threshold_m=ds.threshold_m,
        ns=sm.params.ns,
        seed=sm.params.seed,
        num_boot=sm.params.num_boot,
    )
    if "rerank" in sm.input.keys():
        df = read_rerank(sm.input.rerank)
        evaluate_rerank(
            indices,
            df,
            positives,
            sm.output.recall,
            sm.output.sweep,
            sm.output.queries,
            q.names,
            method=wc.method,
            k_sweep=sm.params.k_sweep,
            **common,
        )
    else:
        evaluate_retrieval(
            indices,
            positives,
            len(ds.database),
            sm.output.recall,
            sm.output.queries,
            q.names,
            k=int(wc.k),
            **common,
        )
