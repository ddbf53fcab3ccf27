"""Snakemake adapter: render one query split of a SynthCity dataset (same city as the
database, which it neither needs nor touches)."""

import shutil
from pathlib import Path

from vgrerank.logs import logged
from vgrerank.synth import write_queries

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    root = Path(sm.output[0]).parent
    split = sm.wildcards.split
    shutil.rmtree(root / "images" / "test" / f"queries_{split}", ignore_errors=True)
    write_queries({**sm.params.conf, "seed": sm.params.seed}, root, [split])
