"""Snakemake adapter: the builder's source (Flickr, the embedded fake Flickr, or a folder)."""

from pathlib import Path

from vgrerank.builder.fetch import fetch_source
from vgrerank.datasets import load_dataset
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    collection = Path(sm.input.collection[0]).parent if sm.input.collection else None
    table = fetch_source(sm.params.source, ds.database, sm.output[0], collection)
    print(f"photos: {len(table)} found, {int(table['keep'].sum())} downloaded")
