"""Snakemake adapter: local features of one query split."""

from vgrerank.datasets import load_dataset
from vgrerank.local.extract import extract_images
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    names = ds.split(sm.wildcards.split).names
    extract_images(
        sm.params.conf, ds.root, names, sm.output[0], sm.params.device, desc=sm.wildcards.split
    )
