"""Snakemake adapter: FAISS top-K retrieval."""

from vgrerank.logs import logged
from vgrerank.retrieval import retrieve

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    opts = {k: v for k, v in sm.params.opts.items() if k not in ("k", "index")}
    # faiss follows the workflow's device unless retrieval.device says otherwise ('cuda:1' -> cuda)
    opts.setdefault("device", str(sm.params.device).split(":")[0])
    retrieve(
        sm.input.database,
        sm.input.queries,
        sm.output[0],
        k=sm.params.k,
        index=sm.params.opts.get("index", "flat"),
        **opts,
    )
