"""Snakemake adapter: day/dusk/night of each photo that passed the indoor filter."""

from pathlib import Path

from vgrerank.builder.filters import daynight_table
from vgrerank.builder.table import PHOTO_COLUMNS, kept, read_table, write_table
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    photos = read_table(sm.input.photos, PHOTO_COLUMNS).set_index("photo_id")
    ids = list(kept(read_table(sm.input.previous))["photo_id"])
    rows = photos.loc[ids].reset_index()
    c = sm.params.conf
    table = daynight_table(
        rows,
        Path(sm.input.photos).parent,
        sm.input.model or None,
        method=c["method"],
        threshold=c["threshold"],
        night_threshold=c["night_threshold"],
        keep=c["keep"],
        device=sm.params.device,  # resolved by vgrerank.device.resolve_device
    )
    write_table(table, sm.output[0])
    print(f"day/night: {int(table['keep'].sum())} of {len(table)} kept ({', '.join(c['keep'])})")
