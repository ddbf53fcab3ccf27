"""Snakemake adapter: local features of the candidate database images."""

from vgrerank.datasets import load_dataset
from vgrerank.local.extract import candidate_names, extract_images
from vgrerank.logs import logged

sm = snakemake  # noqa: F821

with logged(sm.log[0]):
    ds = load_dataset(sm.wildcards.dataset, sm.params.dataset)
    names = candidate_names(sm.input.retrieval, sm.params.k)
    print(f"{len(names)} of {len(ds.database)} database images are candidates", flush=True)
    extract_images(sm.params.conf, ds.root, names, sm.output[0], sm.params.device, desc="database")
