"""Snakemake adapter: the builder's funnel table and the choropleth of the kept queries."""

from pathlib import Path

from vgrerank.builder.choropleth import choropleth
from vgrerank.builder.funnel import funnel_table, write_funnel_csv, write_funnel_markdown
from vgrerank.builder.stages import SOURCE, STAGES
from vgrerank.builder.table import PHOTO_COLUMNS, kept, read_table
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    photos = read_table(sm.input.photos, PHOTO_COLUMNS)
    tables = [read_table(p) for p in sm.input.stages]  # the tables of STAGES, in order
    steps = [(s.funnel, t) for s, t in zip(STAGES, tables, strict=True)]
    funnel = funnel_table([(SOURCE.funnel, photos), *steps])
    write_funnel_csv(funnel, sm.output.funnel_csv)
    write_funnel_markdown(funnel, sm.output.funnel_md)
    print(funnel.to_string(index=False))

    names = [s.name for s in STAGES]
    corrected = read_table(
        sm.input.stages[names.index("corrections")], ("photo_id", "latitude", "longitude")
    )
    final_ids = set(kept(tables[-1])["photo_id"])
    final = corrected[corrected["photo_id"].isin(final_ids)]
    conf = sm.params.conf
    geojson = conf["neighbourhoods"]
    if geojson is None and sm.params.synth is not None:
        from vgrerank.synth.neighbourhoods import write_neighbourhoods

        geojson = Path(sm.output.counts).with_name("neighbourhoods.geojson")
        write_neighbourhoods(sm.params.synth, geojson)
    res = choropleth(
        final,
        sm.output.map,
        csv=sm.output.counts,
        geojson=geojson,
        cell_m=conf["grid_m"],
        title=f"{sm.wildcards.dataset} {sm.wildcards.split}: {len(final)} queries",
    )
    print(res.counts.to_string(index=False))
