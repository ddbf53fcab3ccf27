"""Snakemake adapter: plan the database extraction of one retrieval file's candidates (the
candidates no shard holds yet, cut into chunks of extraction.shard_size images)."""

from vgrerank.datasets import load_dataset
from vgrerank.errors import DataError
from vgrerank.local.extract import candidate_names
from vgrerank.local.plan import plan_database
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    names = candidate_names([sm.input.retrieval], sm.params.k)
    unknown = sorted(set(names) - set(ds.database.names))
    if unknown:
        raise DataError(
            f"{sm.input.retrieval}: {len(unknown)} candidate(s) not in the database of "
            f"{sm.wildcards.dataset!r}, e.g. {unknown[0]!r}"
        )
    print(f"{len(names)} of {len(ds.database)} database images are candidates", flush=True)
    plan_database(
        sm.params.conf, names, sm.params.shards, sm.params.todo, sm.output[0], sm.params.shard_size
    )
