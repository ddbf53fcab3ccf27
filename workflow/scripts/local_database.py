"""Snakemake adapter: the index of one retrieval file's candidate database features (links into
the extractor's shards; extracts only candidates that no shard holds, normally none)."""

from vgrerank.datasets import load_dataset
from vgrerank.local.extract import database_candidates, extract_database
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    names = database_candidates(ds, sm.input.retrieval, sm.params.k)
    extract_database(
        sm.params.conf,
        ds.root,
        names,
        sm.output[0],
        sm.params.shards,
        sm.params.device,
        desc=f"database {sm.wildcards.split}",
    )
