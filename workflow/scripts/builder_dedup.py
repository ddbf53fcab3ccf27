"""Snakemake adapter: cluster near-duplicate photos and keep the sharpest of each cluster."""

import tempfile
from pathlib import Path

import numpy as np

from vgrerank.builder.dedup import DedupConfig, dedup_table, write_clusters
from vgrerank.builder.table import PHOTO_COLUMNS, kept, read_table, write_table
from vgrerank.globaldesc.extract import extract_queries
from vgrerank.io.global_h5 import read_global
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    photos = read_table(sm.input.photos, PHOTO_COLUMNS).set_index("photo_id")
    ids = list(kept(read_table(sm.input.previous))["photo_id"])
    rows = photos.loc[ids].reset_index()
    root = Path(sm.input.photos).parent
    descriptors = None
    if len(rows):
        # the benchmark's own global descriptor (state fitted on the database), kept in memory
        conf = {**sm.params.gconf, "device": sm.params.device}
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            out = Path(tmp) / "photos.h5"
            extract_queries(conf, sm.input.database, root, list(rows["path"]), out)
            descriptors = np.asarray(read_global(out).descriptors, np.float32)
    c = sm.params.conf
    config = DedupConfig(
        max_distance_m=c["max_distance_m"],
        max_hash_distance=c["hash_distance"],
        min_similarity=c["descriptor_similarity"],
    )
    table = dedup_table(rows, root, descriptors=descriptors, config=config)
    write_table(table, sm.output.table)
    write_clusters(table, sm.output.clusters)
    print(f"dedup: {int(table['keep'].sum())} of {len(table)} kept")
