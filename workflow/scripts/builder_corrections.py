"""Snakemake adapter: apply the reviewer's corrections (vgrerank-relabel CSV) to the photos that
passed the filters; without a CSV the positions pass unchanged. Rows of photos that an earlier
stage dropped are ignored (a filter may change after the review); ids that are no photo at all
are an error naming the CSV."""

from vgrerank.builder.relabel.corrections import apply_corrections
from vgrerank.builder.table import PHOTO_COLUMNS, kept, read_table, write_table
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    photos = read_table(sm.input.photos, PHOTO_COLUMNS)
    ids = set(kept(read_table(sm.input.previous))["photo_id"])
    rows = photos[["photo_id", "latitude", "longitude"]].assign(keep=True, reason="")
    csv = sm.input.corrections[0] if sm.input.corrections else None
    if csv:
        rows = apply_corrections(rows, csv)
    table = rows[rows["photo_id"].isin(ids)].reset_index(drop=True)
    write_table(table, sm.output[0])
    print(f"corrections: {'none' if csv is None else csv}; {int(table['keep'].sum())} kept")
