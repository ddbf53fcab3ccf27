"""Snakemake adapter: render a SynthCity dataset."""

import shutil
from pathlib import Path

from vgrerank.logs import logged
from vgrerank.synth import write_dataset

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    root = Path(sm.output[0]).parent
    shutil.rmtree(root / "images", ignore_errors=True)  # a rerun starts from a clean folder
    conf = {"seed": sm.params.seed, **sm.params.conf}
    write_dataset(conf, root)
