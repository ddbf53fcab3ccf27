"""Snakemake adapter: plan the database extraction of one retrieval file's candidates (the
candidates no shard holds yet, cut into chunks of extraction.shard_size images)."""

from vgrerank.datasets import load_dataset
from vgrerank.local.extract import database_candidates
from vgrerank.local.plan import plan_database
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    names = database_candidates(ds, sm.input.retrieval, sm.params.k)
    plan_database(
        sm.params.conf, names, sm.params.shards, sm.params.todo, sm.output[0], sm.params.shard_size
    )
