"""Snakemake adapter: a labelled training collection for the builder's classifiers, rendered in
a different city (another seed) than the one the queries are built in."""

import shutil
from pathlib import Path

from vgrerank.builder.trainset import write_trainset
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    out = Path(sm.output[0]).parent
    shutil.rmtree(out, ignore_errors=True)
    write_trainset(
        {**sm.params.city, "seed": sm.params.seed},
        out,
        daynight=sm.params.daynight,
        indoor=sm.params.indoor,
    )
