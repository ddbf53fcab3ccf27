"""Snakemake adapter: re-rank one split's candidates with one method."""

import torch

from vgrerank.logs import logged
from vgrerank.rerank import rerank

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    torch.set_num_threads(max(1, sm.threads))
    rerank(
        sm.params.method,
        sm.input.retrieval,
        sm.input.queries,
        sm.input.database,
        sm.output[0],
        k=sm.params.k,
        device=sm.params.device,
        seed=sm.params.seed,
    )
