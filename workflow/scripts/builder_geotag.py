"""Snakemake adapter: keep the photos with a database image within threshold_m."""

from vgrerank.builder.geotag import geotag_table
from vgrerank.builder.table import kept, read_table, write_table
from vgrerank.datasets import load_dataset
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    rows = kept(read_table(sm.input.previous, ("photo_id", "latitude", "longitude", "keep")))
    table = geotag_table(rows, ds.database, threshold_m=float(sm.params.threshold_m))
    write_table(table, sm.output[0])
    print(f"geotag: {int(table['keep'].sum())} of {len(table)} within {sm.params.threshold_m} m")
