"""Snakemake adapter: write the built query split (<root>/images/test/queries_<split>)."""

from pathlib import Path

from vgrerank.builder.bbox import database_zone
from vgrerank.builder.queryset import write_queryset
from vgrerank.builder.table import PHOTO_COLUMNS, kept, read_table
from vgrerank.datasets import load_dataset
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    photos = read_table(sm.input.photos, PHOTO_COLUMNS).set_index("photo_id")
    corrected = read_table(sm.input.corrected, ("photo_id", "latitude", "longitude"))
    ids = set(kept(read_table(sm.input.previous))["photo_id"])
    rows = corrected[corrected["photo_id"].isin(ids)][["photo_id", "latitude", "longitude"]]
    rows = rows.assign(
        path=photos.loc[rows["photo_id"], "path"].to_numpy(),
        taken=photos.loc[rows["photo_id"], "taken"].to_numpy(),
    )
    summary = write_queryset(
        rows,
        Path(sm.input.photos).parent,
        ds.root,
        sm.wildcards.split,
        sm.output[0],
        zone=database_zone(ds.database),
    )
    print(f"built split {sm.wildcards.split}: {summary['queries']} queries in {summary['folder']}")
