"""Snakemake adapter: render the SynthCity photo collection the fake Flickr server serves."""

import shutil
from pathlib import Path

from vgrerank.builder.trainset import collection_keys
from vgrerank.logs import logged
from vgrerank.synth.photos import write_collection

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    out = Path(sm.output[0]).parent
    shutil.rmtree(out, ignore_errors=True)
    n, keys = collection_keys(sm.params.collection, default_n=300)
    conf = {**sm.params.city, "seed": sm.params.seed, "photos": keys}
    write_collection(conf, out, n=n, seed=sm.params.seed)
