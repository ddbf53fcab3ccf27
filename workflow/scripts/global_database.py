"""Snakemake adapter: global descriptors of the database (fits the descriptor if needed)."""

from vgrerank.datasets import load_dataset
from vgrerank.globaldesc.extract import extract_database
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    conf = {**sm.params.conf, "device": sm.params.device}
    extract_database(conf, ds.root, ds.database.names, sm.output[0], seed=sm.params.seed)
