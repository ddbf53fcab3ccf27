"""Snakemake adapter of workflow/rules/cosplace.smk: render the CosPlace training city
(rule cosplace_trainset) or train CosPlace on it / on a folder of '@UTM' images (cosplace_train)."""

from pathlib import Path

from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    if sm.rule == "cosplace_trainset":
        from vgrerank.synth.trainset_cosplace import write_trainset

        p = sm.params
        write_trainset(
            dict(p.city),
            Path(sm.output[0]).parent,
            headings=p.headings,
            conditions=tuple(p.conditions),
            size=tuple(p.size),
            supersample=p.supersample,
        )
    else:
        import torch

        from vgrerank.device import resolve_device
        from vgrerank.globaldesc.cosplace_train import train_cosplace

        torch.set_num_threads(sm.threads)
        train_cosplace(
            sm.params.root,
            sm.output.model,
            dict(sm.params.conf),
            device=resolve_device(sm.params.device),
        )
