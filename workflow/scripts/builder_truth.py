"""Snakemake adapter: score each builder stage and the built set against the SynthCity photo
collection's ground truth (embedded default only)."""

from pathlib import Path

from vgrerank.builder.bbox import database_zone
from vgrerank.builder.stages import STAGES
from vgrerank.builder.table import kept, read_table
from vgrerank.builder.truth import read_truth, score_final, score_stages, truth_markdown
from vgrerank.datasets import load_dataset
from vgrerank.io import atomic_path
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    conf = sm.params.conf
    truth = read_truth(Path(sm.input.collection[0]).parent / "truth.csv")
    tables = (read_table(p) for p in sm.input.stages)  # the tables of STAGES, in order
    stages = dict(zip((s.name for s in STAGES), tables, strict=True))
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    opts = dict(
        keep_levels=conf["indoor"]["keep_levels"],
        drop_panoramic=conf["indoor"]["drop_panoramic"],
        keep_conditions=tuple(conf["daynight"]["keep"]),
    )
    thr = float(conf["geotag"]["threshold_m"] or sm.params.threshold_m)
    scores = score_stages(
        truth,
        stages,
        threshold_m=thr,
        db_utm=ds.database.utm,
        zone=database_zone(ds.database),
        **opts,
    )
    # the built set: the last stage's kept photos at their corrected positions
    corrected = stages["corrections"]
    final = corrected[corrected["photo_id"].isin(set(kept(stages[STAGES[-1].name])["photo_id"]))]
    built = score_final(truth, final, threshold_m=thr, **opts)
    with atomic_path(sm.output.csv) as tmp:
        scores.to_csv(tmp, index=False, float_format="%.4f")
    md = truth_markdown(
        scores, built, f"Builder vs ground truth: {sm.wildcards.dataset} {sm.wildcards.split}"
    )
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(md)
    print(md)
