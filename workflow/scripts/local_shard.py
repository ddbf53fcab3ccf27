"""Snakemake adapter: extract one shard of database local features (the images of its to-do
list that no other shard holds)."""

from vgrerank.datasets import load_dataset
from vgrerank.local.extract import build_extractor
from vgrerank.local.plan import extract_shard
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    extract_shard(
        lambda: build_extractor(sm.params.conf, sm.params.device),
        sm.params.conf,
        ds.root,
        sm.input.todo,
        sm.output[0],
        desc=f"shard {sm.wildcards.digest}",
    )
