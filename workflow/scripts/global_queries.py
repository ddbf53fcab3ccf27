"""Snakemake adapter: global descriptors of one query split."""

from vgrerank.datasets import load_dataset
from vgrerank.globaldesc.extract import extract_queries
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    conf = {**sm.params.conf, "device": sm.params.device}
    names = ds.split(sm.wildcards.split).names
    extract_queries(conf, sm.input.database, ds.root, names, sm.output[0])
