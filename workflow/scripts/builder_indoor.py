"""Snakemake adapter: indoorness of each downloaded photo; keep the N most outdoor levels."""

from pathlib import Path

from vgrerank.builder.filters import indoor_table
from vgrerank.builder.table import PHOTO_COLUMNS, kept, read_table, write_table
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    rows = kept(read_table(sm.input.photos, PHOTO_COLUMNS))
    table = indoor_table(
        rows,
        Path(sm.input.photos).parent,
        sm.input.model,
        keep_levels=sm.params.conf["keep_levels"],
        drop_panoramic=sm.params.conf["drop_panoramic"],
        device=sm.params.device,  # resolved by vgrerank.device.resolve_device
    )
    write_table(table, sm.output[0])
    print(f"indoor: {int(table['keep'].sum())} of {len(table)} kept")
