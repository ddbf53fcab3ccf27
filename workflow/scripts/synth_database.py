"""Snakemake adapter: render the database of a SynthCity dataset (no query split)."""

import shutil
from pathlib import Path

from vgrerank.logs import logged
from vgrerank.synth import write_database

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    root = Path(sm.output[0]).parent
    # a rerun starts from a clean database folder; query folders are other jobs' outputs
    shutil.rmtree(root / "images" / "test" / "database", ignore_errors=True)
    write_database({**sm.params.conf, "seed": sm.params.seed}, root)
