"""Snakemake adapter: train the indoor/outdoor or day/night classifier of the builder."""

from pathlib import Path

from vgrerank.builder.trainset import train_task
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    summary = train_task(
        sm.wildcards.task,
        Path(sm.input.trainset).parent,
        sm.output[0],
        train=sm.params.train,
        seed=sm.params.seed,
        device=sm.params.device,  # resolved by vgrerank.device.resolve_device
    )
    print(summary)
